// Unit tests of api.js's action handling, with a fake fetch and a fake
// TokenProvider: node --test staticwebapp/test/*.test.mjs
import { test } from "node:test";
import assert from "node:assert/strict";

import { createApi, ApiError, parseRetryAfter, MAX_RETRY_AFTER_SECONDS } from "../api.js";

const TOKEN = "eyJ0eXAiOiJKV1QifQ.first-token.sig";
const FRESH = "eyJ0eXAiOiJKV1QifQ.fresh-token.sig";

function problem(status, code, action, extra = {}, headers = {}) {
  return new Response(JSON.stringify({ type: "https://example/#" + code, title: code, status, code, action, detail: "detail of " + code, correlationId: "corr-123", ...extra }), {
    status,
    headers: { "Content-Type": "application/problem+json", ...headers },
  });
}

const ok = (body) => new Response(JSON.stringify(body), { status: 200, headers: { "Content-Type": "application/json" } });

/** harness scripts the API's answers and records what the client did. */
function harness(answers, { tokens = [TOKEN, FRESH, "third", "fourth"] } = {}) {
  const calls = [];
  const tokenRequests = [];
  const consents = [];
  const sleeps = [];
  const events = [];
  let signIns = 0;
  const provider = {
    name: "fake",
    async getToken(req) {
      tokenRequests.push(req);
      return tokens[Math.min(tokenRequests.length - 1, tokens.length - 1)];
    },
    async consent(scopes) {
      consents.push(scopes);
    },
    async signIn() {
      signIns++;
      return "signed-in";
    },
  };
  const fetch = async (url, init) => {
    calls.push({ url, init });
    const next = answers.shift();
    if (!next) throw new Error("unexpected call " + url);
    return typeof next === "function" ? next() : next;
  };
  const api = createApi({
    provider,
    fetch,
    consentScopes: ["User.Read", "Mail.Read"],
    sleep: async (ms) => sleeps.push(ms),
    onEvent: (e) => events.push(e),
  });
  return { api, calls, tokenRequests, consents, sleeps, events, signIns: () => signIns };
}

const auth = (call) => call.init.headers["X-Addin-Authorization"];

test("sends the token in X-Addin-Authorization, never in Authorization", async () => {
  const h = harness([ok({ name: "Alice" })]);
  assert.deepEqual(await h.api.validate(), { name: "Alice" });
  assert.equal(h.calls.length, 1);
  assert.equal(h.calls[0].url, "/api/validate");
  assert.equal(auth(h.calls[0]), "Bearer " + TOKEN);
  assert.equal(h.calls[0].init.headers.Authorization, undefined);
});

test("exchange posts the scopes as JSON", async () => {
  const h = harness([ok({ scopes: ["User.Read"], expiresAt: "2030-01-01T00:00:00Z", source: "entra" })]);
  const x = await h.api.exchange(["User.Read"]);
  assert.equal(x.source, "entra");
  assert.equal(h.calls[0].init.method, "POST");
  assert.equal(h.calls[0].init.headers["Content-Type"], "application/json");
  assert.deepEqual(JSON.parse(h.calls[0].init.body), { scopes: ["User.Read"] });
});

test("retry_sso: a fresh token, one retry", async () => {
  const h = harness([problem(401, "token_expired", "retry_sso"), ok({ name: "Alice" })]);
  assert.deepEqual(await h.api.validate(), { name: "Alice" });
  assert.equal(h.calls.length, 2);
  assert.deepEqual(h.tokenRequests, [{}, { forceRefresh: true }]);
  assert.equal(auth(h.calls[1]), "Bearer " + FRESH);
  // The retry is the same call: one correlation ID for both, found together in the logs.
  assert.equal(h.calls[0].init.headers["X-Correlation-Id"], h.calls[1].init.headers["X-Correlation-Id"]);
});

test("retry_sso twice: the second problem is shown, not looped", async () => {
  const h = harness([problem(401, "token_expired", "retry_sso"), problem(401, "token_expired", "retry_sso"), ok({})]);
  await assert.rejects(h.api.validate(), (err) => err instanceof ApiError && err.code === "token_expired" && err.action === "retry_sso");
  assert.equal(h.calls.length, 2);
  assert.equal(h.tokenRequests.length, 2);
});

test("one recovery per call, whatever the second action is", async () => {
  const h = harness([problem(401, "token_expired", "retry_sso"), problem(403, "consent_required", "consent"), ok({})]);
  await assert.rejects(h.api.validate(), (err) => err.code === "consent_required");
  assert.equal(h.calls.length, 2);
  assert.equal(h.consents.length, 0);
});

test("auth_challenge passes the claims to the provider and retries once", async () => {
  const claims = '{"access_token":{"amr":{"essential":true,"values":["mfa"]}}}';
  const h = harness([problem(401, "mfa_required", "auth_challenge", { claims }), ok({ mfa: "true" })]);
  assert.deepEqual(await h.api.validate(), { mfa: "true" });
  assert.deepEqual(h.tokenRequests[1], { forceRefresh: true, claims });
  assert.equal(auth(h.calls[1]), "Bearer " + FRESH);
});

test("auth_challenge without claims is shown", async () => {
  const h = harness([problem(401, "claims_challenge", "auth_challenge"), ok({})]);
  await assert.rejects(h.api.validate(), (err) => err.code === "claims_challenge");
  assert.equal(h.calls.length, 1);
  assert.equal(h.tokenRequests.length, 1);
});

test("consent opens the consent dialog with the Graph scopes, then retries", async () => {
  const h = harness([problem(403, "consent_required", "consent"), ok({ scopes: ["User.Read"] })]);
  assert.deepEqual(await h.api.exchange(["User.Read"]), { scopes: ["User.Read"] });
  assert.deepEqual(h.consents, [["User.Read", "Mail.Read"]]);
  assert.equal(h.calls.length, 2);
  assert.deepEqual(JSON.parse(h.calls[1].init.body), { scopes: ["User.Read"] }, "the retry sends the same body");
});

test("consent cancelled in the dialog: the provider's error is shown, no retry", async () => {
  const cancelled = Object.assign(new Error("The dialog was closed before sign-in finished."), { code: "dialog_12006" });
  const api = createApi({
    provider: { name: "x", getToken: async () => TOKEN, consent: async () => { throw cancelled; }, signIn: async () => {} },
    fetch: async () => problem(403, "consent_required", "consent"),
  });
  await assert.rejects(api.validate(), (err) => err === cancelled);
});

test("sign_in signs in interactively, then retries once with the token it got", async () => {
  for (const code of ["missing_token", "interaction_required"]) {
    const h = harness([problem(401, code, "sign_in"), ok({ name: "Alice" })]);
    await h.api.validate();
    assert.equal(h.signIns(), 1);
    assert.equal(h.calls.length, 2);
    assert.equal(auth(h.calls[1]), "Bearer signed-in");
  }
});

test("sign_in twice: the second problem is shown, not looped", async () => {
  const h = harness([problem(401, "interaction_required", "sign_in"), problem(401, "interaction_required", "sign_in")]);
  await assert.rejects(h.api.validate(), (err) => err.code === "interaction_required");
  assert.equal(h.signIns(), 1);
  assert.equal(h.calls.length, 2);
});

test("retry_later waits Retry-After, then retries once", async () => {
  const h = harness([problem(503, "upstream_unavailable", "retry_later", { retryAfter: 3 }, { "Retry-After": "3" }), ok({ id: "me" })]);
  const res = await h.api.graph("/v1.0/me");
  assert.deepEqual(await res.json(), { id: "me" });
  assert.deepEqual(h.sleeps, [3000]);
  assert.equal(h.calls.length, 2);
  assert.equal(h.calls[1].url, "/api/graph/v1.0/me");
  assert.equal(auth(h.calls[1]), "Bearer " + TOKEN, "waiting does not need a new token");
});

test("retry_later reads Retry-After from the body when the header is missing", async () => {
  const h = harness([problem(429, "upstream_unavailable", "retry_later", { retryAfter: 7 }), ok({})]);
  await h.api.graph("/v1.0/me");
  assert.deepEqual(h.sleeps, [7000]);
});

test("retry_later longer than the bound is shown, not waited", async () => {
  const h = harness([problem(503, "upstream_unavailable", "retry_later", {}, { "Retry-After": String(MAX_RETRY_AFTER_SECONDS + 1) }), ok({})]);
  await assert.rejects(h.api.graph("/v1.0/me"), (err) => err.action === "retry_later" && err.retryAfter === MAX_RETRY_AFTER_SECONDS + 1);
  assert.deepEqual(h.sleeps, []);
  assert.equal(h.calls.length, 1);
});

test("retry_later twice: shown after one wait", async () => {
  const h = harness([problem(503, "upstream_unavailable", "retry_later", {}, { "Retry-After": "1" }), problem(503, "upstream_unavailable", "retry_later", {}, { "Retry-After": "1" })]);
  await assert.rejects(h.api.graph("/v1.0/me"), (err) => err.code === "upstream_unavailable");
  assert.deepEqual(h.sleeps, [1000]);
});

test("fatal is shown with code, detail and correlation ID, no retry", async () => {
  const h = harness([problem(403, "tenant_not_allowed", "fatal"), ok({})]);
  await assert.rejects(h.api.validate(), (err) => {
    assert.ok(err instanceof ApiError);
    assert.equal(err.status, 403);
    assert.equal(err.code, "tenant_not_allowed");
    assert.equal(err.action, "fatal");
    assert.equal(err.detail, "detail of tenant_not_allowed");
    assert.equal(err.correlationId, "corr-123");
    return true;
  });
  assert.equal(h.calls.length, 1);
  assert.equal(h.tokenRequests.length, 1);
});

test("an unknown action is treated as fatal", async () => {
  const h = harness([problem(400, "something_new", "dance"), ok({})]);
  await assert.rejects(h.api.validate(), (err) => err.code === "something_new");
  assert.equal(h.calls.length, 1);
});

test("Graph's own error JSON is reported with Graph's code", async () => {
  const h = harness([new Response(JSON.stringify({ error: { code: "ImageNotFound", message: "The photo wasn't found." } }), { status: 404, headers: { "Content-Type": "application/json", "X-Correlation-Id": "corr-graph" } })]);
  await assert.rejects(h.api.graph("/v1.0/me/photo/$value"), (err) => err.code === "ImageNotFound" && err.status === 404 && err.correlationId === "corr-graph" && err.action === "fatal");
});

test("an answer that is not a problem (SWA's own 404, a proxy's 502) is shown, not retried", async () => {
  const h = harness([new Response("<html>Not found</html>", { status: 404, headers: { "Content-Type": "text/html" } })]);
  await assert.rejects(h.api.validate(), (err) => err.code === "http_404" && /linked/.test(err.detail));
  assert.equal(h.calls.length, 1);
});

test("a network failure is an ApiError", async () => {
  const api = createApi({
    provider: { name: "x", getToken: async () => TOKEN, consent: async () => {}, signIn: async () => {} },
    fetch: async () => { throw new TypeError("Failed to fetch"); },
  });
  await assert.rejects(api.validate(), (err) => err instanceof ApiError && err.code === "network_error" && !err.detail.includes(TOKEN));
});

test("the provider's failure to get a token is passed through", async () => {
  const boom = Object.assign(new Error("Office SSO error 13001"), { code: "office_13001" });
  const api = createApi({
    provider: { name: "x", getToken: async () => { throw boom; }, consent: async () => {}, signIn: async () => {} },
    fetch: async () => { throw new Error("must not be called"); },
  });
  await assert.rejects(api.validate(), (err) => err === boom);
});

test("each call awaits its recovery before returning (no fire-and-forget retry)", async () => {
  let resolveSleep;
  const order = [];
  const answers = [problem(503, "upstream_unavailable", "retry_later", {}, { "Retry-After": "1" }), ok({})];
  const api = createApi({
    provider: { name: "x", getToken: async () => TOKEN, consent: async () => {}, signIn: async () => {} },
    fetch: async () => { order.push("fetch"); return answers.shift(); },
    sleep: () => new Promise((r) => { order.push("sleep"); resolveSleep = r; }),
  });
  let settled = false;
  const p = api.graph("/v1.0/me").then(() => { settled = true; });
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(settled, false, "the call is still waiting on Retry-After");
  assert.deepEqual(order, ["fetch", "sleep"]);
  resolveSleep();
  await p;
  assert.deepEqual(order, ["fetch", "sleep", "fetch"]);
});

test("no token ever reaches the console, an event or an error", async () => {
  const logged = [];
  const saved = {};
  for (const m of ["log", "info", "warn", "error", "debug"]) {
    saved[m] = console[m];
    console[m] = (...args) => logged.push(args.map(String).join(" "));
  }
  try {
    const scenarios = [
      [problem(401, "token_expired", "retry_sso"), problem(401, "token_expired", "retry_sso")],
      [problem(401, "mfa_required", "auth_challenge", { claims: "{}" }), problem(403, "tenant_not_allowed", "fatal")],
      [problem(403, "consent_required", "consent"), problem(500, "server_misconfigured", "fatal")],
      [problem(503, "upstream_unavailable", "retry_later", {}, { "Retry-After": "1" }), new Response("oops", { status: 502 })],
    ];
    for (const answers of scenarios) {
      const h = harness(answers);
      const err = await h.api.validate().then(() => null, (e) => e);
      assert.ok(err, "each scenario ends in an error");
      const seen = JSON.stringify({ err, message: err.message, stack: err.stack, events: h.events });
      for (const t of [TOKEN, FRESH, "first-token", "fresh-token"]) assert.ok(!seen.includes(t), "token leaked: " + seen);
    }
  } finally {
    Object.assign(console, saved);
  }
  for (const line of logged) assert.ok(!line.includes("first-token") && !line.includes("fresh-token"), "token logged: " + line);
});

test("parseRetryAfter reads seconds and HTTP dates", () => {
  assert.equal(parseRetryAfter("5"), 5);
  assert.equal(parseRetryAfter(null), undefined);
  assert.equal(parseRetryAfter("soon"), undefined);
  const now = Date.parse("2030-01-01T00:00:00Z");
  assert.equal(parseRetryAfter("Tue, 01 Jan 2030 00:00:10 GMT", now), 10);
  assert.equal(parseRetryAfter("Tue, 01 Jan 2029 00:00:10 GMT", now), 0);
});

test("signOut posts to /api/signout with the token and expects no body", async () => {
  const h = harness([new Response(null, { status: 204 })]);
  await h.api.signOut();
  assert.equal(h.calls.length, 1);
  assert.match(h.calls[0].url, /\/api\/signout$/);
  assert.equal(h.calls[0].init.method, "POST");
  assert.equal(auth(h.calls[0]), "Bearer " + TOKEN);
});

test("events tell every step of a recovered call, with claims decoded and no token", async () => {
  const claims = JSON.stringify({ access_token: { polids: { essential: true, values: ["p1"] } } });
  const h = harness([problem(401, "claims_challenge", "auth_challenge", { claims, detail: "Conditional Access requires more (AADSTS50076)." }), ok({ ok: true })]);
  await h.api.validate();
  assert.deepEqual(
    h.events.map((e) => e.type),
    ["call", "token", "response", "problem", "recover", "token", "retry", "response", "done"],
  );
  const p = h.events.find((e) => e.type === "problem");
  assert.equal(p.aadsts, "50076");
  assert.deepEqual(p.claims, JSON.parse(claims));
  assert.equal(p.correlationId, "corr-123");
  assert.equal(p.doc, "https://example/#claims_challenge");
  const retried = h.events.filter((e) => e.type === "token")[1];
  assert.equal(retried.why, "auth_challenge");
  assert.deepEqual(retried.claimsAsked, JSON.parse(claims));
  assert.deepEqual(h.events.at(-1), { type: "done", ok: true, recovered: "claims_challenge" });
  const seen = JSON.stringify(h.events);
  for (const t of [TOKEN, FRESH]) assert.ok(!seen.includes(t), "a token in an event");
});

test("a call that fails says so in its last event", async () => {
  const h = harness([problem(403, "tenant_not_allowed", "fatal")]);
  await assert.rejects(h.api.validate());
  assert.deepEqual(h.events.at(-1), { type: "done", ok: false, code: "tenant_not_allowed", action: "fatal", recovered: undefined });
});
