// Unit tests of the token providers that run without a browser: Office's
// 13xxx mapping and fallbacks, and the sandbox provider.
import { test } from "node:test";
import assert from "node:assert/strict";

import { AuthError, DialogProvider, NaaProvider, OfficeSsoProvider, SandboxProvider, apiScope, graphScopes, officeSsoError } from "../auth.js";

const cfg = { clientId: "c", appIdUri: "api://addin.example/c", authority: "https://login.microsoftonline.com/organizations", graphScopes: ["User.Read"] };

/** fakeOffice answers getAccessToken from a script of results (a string, or an {code} error). */
function fakeOffice(script) {
  const calls = [];
  return {
    calls,
    office: () => ({
      auth: {
        getAccessToken: async (options) => {
          calls.push(options);
          const next = script.shift();
          if (typeof next === "string") return next;
          throw next;
        },
      },
    }),
  };
}

function fakeDialog() {
  const calls = [];
  return {
    calls,
    getToken: async (req) => { calls.push(["getToken", req]); return "dialog-token"; },
    consent: async (scopes) => { calls.push(["consent", scopes]); },
    signIn: async () => { calls.push(["signIn"]); return "dialog-token"; },
  };
}

/** fakeMsal is the nestable PCA: silent answers from a script (a token, or an error), popups record their request. */
function fakeMsal(silent, { popupError } = {}) {
  const calls = [];
  const pca = {
    getActiveAccount: () => ({ username: "u" }),
    getAllAccounts: () => [],
    acquireTokenSilent: async (req) => {
      calls.push(["silent", req]);
      const next = silent.shift();
      if (typeof next === "string") return { accessToken: next };
      throw next;
    },
    acquireTokenPopup: async (req) => {
      calls.push(["popup", req]);
      if (popupError) throw popupError;
      return { accessToken: "popup-token" };
    },
  };
  return { calls, loader: async () => ({ createNestablePublicClientApplication: async () => pca }) };
}

test("scopes: the API's access_as_user and full Graph scope names", () => {
  assert.equal(apiScope(cfg), "api://addin.example/c/access_as_user");
  assert.equal(apiScope({ appIdUri: "api://addin.example/c/" }), "api://addin.example/c/access_as_user");
  assert.deepEqual(graphScopes(["User.Read", "https://graph.microsoft.com/Mail.Read"]), ["https://graph.microsoft.com/User.Read", "https://graph.microsoft.com/Mail.Read"]);
});

test("Office SSO asks with sign-in and consent prompts and forMSGraphAccess", async () => {
  const o = fakeOffice(["tok"]);
  const p = new OfficeSsoProvider(cfg, { office: o.office, dialog: fakeDialog() });
  assert.equal(await p.getToken(), "tok");
  assert.deepEqual(o.calls[0], { allowSignInPrompt: true, allowConsentPrompt: true, forMSGraphAccess: true });
});

test("Office SSO passes a claims challenge as authChallenge", async () => {
  const o = fakeOffice(["tok"]);
  const p = new OfficeSsoProvider(cfg, { office: o.office, dialog: fakeDialog() });
  await p.getToken({ forceRefresh: true, claims: '{"access_token":{}}' });
  assert.equal(o.calls[0].authChallenge, '{"access_token":{}}');
});

test("13012 with forMSGraphAccess: asked again without it, and never again with it", async () => {
  const o = fakeOffice([{ code: 13012, message: "x" }, "tok", "tok2"]);
  const events = [];
  const p = new OfficeSsoProvider(cfg, { office: o.office, dialog: fakeDialog(), onEvent: (e) => events.push(e) });
  assert.equal(await p.getToken(), "tok");
  assert.equal(o.calls[1].forMSGraphAccess, false);
  await p.getToken();
  assert.equal(o.calls[2].forMSGraphAccess, false);
  assert.match(events[0].message, /13012/);
});

test("errors Office says to fall back on open the sign-in dialog, and stay there", async () => {
  const dialog = fakeDialog();
  const o = fakeOffice([{ code: 13003, message: "x" }]);
  const events = [];
  const p = new OfficeSsoProvider(cfg, { office: o.office, dialog, onEvent: (e) => events.push(e) });
  assert.equal(await p.getToken(), "dialog-token");
  assert.equal(await p.getToken(), "dialog-token");
  assert.equal(o.calls.length, 1, "Office is not asked again once it said SSO cannot work");
  assert.match(events[0].message, /account type/);
});

test("errors the user can fix are shown with a clear message", async () => {
  for (const [code, pattern] of [[13001, /not signed in/], [13002, /cancelled/], [13006, /restart/], [13008, /in progress/]]) {
    const o = fakeOffice([{ code, message: "raw" }]);
    const p = new OfficeSsoProvider(cfg, { office: o.office, dialog: fakeDialog() });
    await assert.rejects(p.getToken(), (err) => err instanceof AuthError && err.code === "office_" + code && pattern.test(err.message) && !err.fallback);
  }
});

test("officeSsoError explains manifest and registration problems", () => {
  assert.match(officeSsoError({ code: 13004 }).message, /Resource/);
  assert.match(officeSsoError({ code: 13005 }).message, /pre-authorized/);
  assert.match(officeSsoError({ code: 13007 }).message, /profile/);
  assert.equal(officeSsoError({ code: 13007 }).fallback, true);
  assert.equal(officeSsoError({ code: 99999, message: "new" }).code, "office_99999");
});

test("consent with Office SSO goes to the dialog (Office can only consent to profile)", async () => {
  const dialog = fakeDialog();
  const p = new OfficeSsoProvider(cfg, { office: fakeOffice([]).office, dialog });
  await p.consent(["User.Read"]);
  assert.deepEqual(dialog.calls, [["consent", ["User.Read"]]]);
});

test("the dialog provider caches its token in memory until near expiry", async () => {
  let opened = 0;
  let now = 1_000_000;
  const office = {
    AsyncResultStatus: { Failed: "failed" },
    EventType: { DialogMessageReceived: "m", DialogEventReceived: "e" },
    context: {
      ui: {
        displayDialogAsync: (url, opts, cb) => {
          opened++;
          const handlers = {};
          cb({ status: "succeeded", value: { addEventHandler: (t, h) => (handlers[t] = h), close: () => {} } });
          handlers.m({ origin: "https://addin.example", message: JSON.stringify({ status: "ok", mode: "token", accessToken: "t" + opened, expiresOn: now + 3600_000 }) });
        },
      },
    },
  };
  globalThis.location = new URL("https://addin.example/taskpane.html");
  try {
    const p = new DialogProvider(cfg, { office: () => office, now: () => now });
    assert.equal(await p.getToken(), "t1");
    assert.equal(await p.getToken(), "t1");
    now += 3600_000 - 60_000; // within 5 minutes of expiry
    assert.equal(await p.getToken(), "t2");
    assert.equal(await p.getToken({ forceRefresh: true }), "t3");
  } finally {
    delete globalThis.location;
  }
});

test("the dialog ignores messages from other origins and reports closing", async () => {
  const office = {
    AsyncResultStatus: { Failed: "failed" },
    EventType: { DialogMessageReceived: "m", DialogEventReceived: "e" },
    context: {
      ui: {
        displayDialogAsync: (url, opts, cb) => {
          const handlers = {};
          cb({ status: "succeeded", value: { addEventHandler: (t, h) => (handlers[t] = h), close: () => {} } });
          handlers.m({ origin: "https://evil.example", message: JSON.stringify({ status: "ok", accessToken: "evil" }) });
          handlers.e({ error: 12006 });
        },
      },
    },
  };
  globalThis.location = new URL("https://addin.example/taskpane.html");
  try {
    const p = new DialogProvider(cfg, { office: () => office });
    await assert.rejects(p.getToken(), (err) => err.code === "dialog_12006" && /closed/.test(err.message));
  } finally {
    delete globalThis.location;
  }
});

test("the dialog ignores origin-less messages where the host names origins, and answers for the request made", async () => {
  const dialogOffice = (messages) => ({
    AsyncResultStatus: { Failed: "failed" },
    EventType: { DialogMessageReceived: "m", DialogEventReceived: "e" },
    context: {
      requirements: { isSetSupported: (set) => set === "DialogOrigin" },
      ui: {
        displayDialogAsync: (url, opts, cb) => {
          const handlers = {};
          cb({ status: "succeeded", value: { addEventHandler: (t, h) => (handlers[t] = h), close: () => {} } });
          for (const m of messages) handlers.m(m);
          handlers.e({ error: 12006 });
        },
      },
    },
  });
  globalThis.location = new URL("https://addin.example/taskpane.html");
  try {
    const spoofed = dialogOffice([{ message: JSON.stringify({ status: "ok", mode: "token", accessToken: "spoofed" }) }]);
    await assert.rejects(new DialogProvider(cfg, { office: () => spoofed }).getToken(), (err) => err.code === "dialog_12006");
    const consentReply = dialogOffice([{ origin: "https://addin.example", message: JSON.stringify({ status: "ok", mode: "consent" }) }]);
    await assert.rejects(new DialogProvider(cfg, { office: () => consentReply }).getToken(), (err) => err.code === "dialog_bad_message");
  } finally {
    delete globalThis.location;
  }
});

test("the sandbox provider asks the sandbox for the picked user's token, and caches it", async () => {
  const urls = [];
  const signins = [];
  const fetch = async (url, init) => {
    if (url === "/.sandbox/signin") {
      signins.push(JSON.parse(init.body).user);
      return new Response(null, { status: 204 });
    }
    urls.push(url);
    return new Response(JSON.stringify({ accessToken: "tok" + urls.length, expiresAt: new Date(Date.now() + 3600_000).toISOString() }), { status: 200, headers: { "Content-Type": "application/json" } });
  };
  const p = new SandboxProvider({ profiles: [{ id: "naa" }] }, { fetch });
  await assert.rejects(p.getToken(), (err) => err.code === "sandbox_no_user");
  await p.pick("alice");
  assert.deepEqual(signins, ["alice"], "picking a user starts their scenario over");
  assert.equal(await p.getToken(), "tok1");
  assert.equal(await p.getToken(), "tok1");
  assert.equal(await p.getToken({ forceRefresh: true }), "tok2");
  assert.equal(await p.getToken({ forceRefresh: true, claims: '{"a":1}' }), "tok3");
  const q = new URL(urls[2], "http://x").searchParams;
  assert.equal(q.get("user"), "alice");
  assert.equal(q.get("profile"), "naa");
  assert.equal(q.get("fresh"), "1");
  assert.equal(q.get("claims"), '{"a":1}');
  await p.pick("bob", "desktop");
  assert.equal(await p.getToken(), "tok4", "a new user drops the cached token");
});

test("NAA: any silent failure falls back to the popup, with the claims (the NAA guidance)", async () => {
  for (const err of [{ errorCode: "interaction_required" }, { errorCode: "token_refresh_required" }, new Error("network")]) {
    const m = fakeMsal([err]);
    const p = new NaaProvider(cfg, { msalLoader: m.loader });
    assert.equal(await p.getToken({ forceRefresh: true, claims: '{"access_token":{}}' }), "popup-token");
    assert.deepEqual(m.calls.map(([k]) => k), ["silent", "popup"]);
    assert.equal(m.calls[0][1].claims, '{"access_token":{}}');
    assert.equal(m.calls[1][1].claims, '{"access_token":{}}');
  }
});

test("NAA: a cancelled prompt is final, and a popup failure is an AuthError", async () => {
  const cancelled = fakeMsal([{ errorCode: "user_cancelled" }]);
  await assert.rejects(new NaaProvider(cfg, { msalLoader: cancelled.loader }).getToken(), (e) => e instanceof AuthError && e.code === "user_cancelled");
  assert.deepEqual(cancelled.calls.map(([k]) => k), ["silent"]);
  const failing = fakeMsal([{ errorCode: "x" }], { popupError: { errorCode: "popup_window_error", errorMessage: "blocked" } });
  await assert.rejects(new NaaProvider(cfg, { msalLoader: failing.loader }).getToken(), (e) => e instanceof AuthError && e.code === "popup_window_error");
});

test("sign-in is interactive: NAA's popup, and Office SSO's sign-in dialog from then on", async () => {
  const m = fakeMsal([]);
  assert.equal(await new NaaProvider(cfg, { msalLoader: m.loader }).signIn(), "popup-token");
  assert.deepEqual(m.calls.map(([k]) => k), ["popup"]);

  const o = fakeOffice(["office-token"]);
  const dialog = fakeDialog();
  const p = new OfficeSsoProvider(cfg, { office: o.office, dialog });
  assert.equal(await p.signIn(), "dialog-token");
  assert.equal(await p.getToken(), "dialog-token");
  assert.equal(o.calls.length, 0, "Office's SSO is not asked once the user signed in through the dialog");
  assert.deepEqual(dialog.calls.map(([k]) => k), ["signIn", "getToken"]);
});
