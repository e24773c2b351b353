// taskpane.js: the task pane's UI. It finds a token provider (the local
// sandbox, else Office: NAA or legacy SSO), then runs the API calls through
// api.js and shows what came back (the identity, the Graph token's metadata,
// Graph's data, or the problem), what happened step by step (trace.js), and
// the claims of the token it holds (inspector.js). The token itself is never
// shown.

import { createApi, ApiError } from "./api.js";
import { AuthError, SandboxProvider, chooseOfficeProvider, detectSandbox, loadOffice } from "./auth.js";
import { apiFetch, showAllowedButtons } from "./deployment.js";
import { decodeClaims, inspect } from "./jwt.js";
import { clientName, renderCompare, renderToken } from "./inspector.js";
import { applyTheme } from "./theme.js";
import { CODE_WORDS, actionWords, step } from "./trace.js";

const $ = (sel, root = document) => root.querySelector(sel);
const ACTION_BUTTONS = ["#btn-validate", "#btn-exchange", "#btn-me", "#btn-messages", "#btn-photo"];

let api;
let config;
let provider;
let busy = false;
let signedIn = false; // a provider that can hand out tokens: a picked dev user, or Office
let lastRun = null; // the last action, for Try again
const picked = { user: "", profile: "" }; // the sandbox's sign-in: dev user and token profile
const held = { token: null, before: null, identityUti: null }; // inspected claims only

main().catch((err) => showError(err));

async function main() {
  const sandbox = await detectSandbox();
  if (sandbox) {
    config = sandbox;
    await theme(null);
    provider = new SandboxProvider(sandbox);
    setupSandbox(sandbox);
  } else {
    config = await loadConfig();
    setStatus("Loading Office…");
    let info;
    try {
      info = await loadOffice();
    } catch (err) {
      await theme(null);
      throw startupError("office_unavailable", `Office's script did not load (${err.message}). Open this add-in from Office, online.`);
    }
    await theme(globalThis.Office && Office.context && Office.context.officeTheme);
    if (!info || !info.host) {
      throw startupError("not_in_office", "This page is an Office add-in's task pane: open it from Office (or run the local sandbox: make dev).");
    }
    provider = chooseOfficeProvider(config, { onEvent: (e) => traceEvent({ type: "note", message: e.message }) });
    signedIn = true;
  }
  $("#provider").textContent = "Token from: " + provider.name;
  api = createApi({ provider, consentScopes: config.graphScopes, fetch: apiFetch(config.apiBaseUrl), onEvent: traceEvent });
  showAllowedButtons(config.graphRoutes);
  wireButtons();
  setStatus(signedIn ? "" : "Pick a dev user to sign in.");
  updateButtons();
}

/** theme applies Fluent's light or dark theme; without Fluent the pane still works, plainly. */
async function theme(officeTheme) {
  try {
    await applyTheme(officeTheme);
  } catch (err) {
    console.warn("Fluent UI did not load; the pane works without it:", err.message);
  }
}

/** loadConfig reads config.json, which the deploy script fills in (placeholders {{…}} until then). */
async function loadConfig() {
  const res = await fetch("config.json", { cache: "no-store" });
  if (!res.ok) throw startupError("config_missing", `config.json answered ${res.status}: the deployment is incomplete.`);
  const cfg = await res.json();
  const unfilled = Object.entries(cfg).filter(([, v]) => typeof v === "string" && v.includes("{{"));
  if (unfilled.length) {
    throw startupError("config_placeholders", `config.json still has placeholders (${unfilled.map(([k]) => k).join(", ")}): the deploy script fills them in.`);
  }
  return cfg;
}

/** startupError is a problem that keeps the pane from starting at all (not a sign-in failure). */
function startupError(code, message) {
  return Object.assign(new AuthError(code, message), { title: "The task pane cannot start here" });
}

// ---------------------------------------------------------------------------
// The sandbox's controls: dev user, token profile, the API's MFA policy, sign in again.

function setupSandbox(cfg) {
  const user = $("#sandbox-user");
  const profile = $("#sandbox-profile");
  const policy = $("#sandbox-policy");
  fillDropdown(user, cfg.users.map((u) => [u.name, `${u.name} · ${u.displayName}`]));
  fillDropdown(profile, cfg.profiles.map((p) => [p.id, p.label]), cfg.profiles[0].id);
  fillDropdown(policy, cfg.mfaPolicies.map((p) => [p.id, p.label]), cfg.mfaPolicy);
  explainPolicy(cfg.mfaPolicy);
  for (const d of [user, profile, policy]) labelDropdown(d);

  picked.profile = cfg.profiles[0].id;
  // The picks are kept here: a disabled Fluent dropdown answers value with null.
  user.addEventListener("change", () => {
    picked.user = user.value;
    signIn();
  });
  profile.addEventListener("change", () => {
    picked.profile = profile.value;
    if (picked.user) signIn();
  });
  policy.addEventListener("change", () => switchPolicy(policy.value));
  $("#btn-reset").addEventListener("click", () => signIn());
  $("#btn-compare").addEventListener("click", () => compareHosts());
  $("#sandbox").hidden = false;
  $("#compare").hidden = false;
  $("#sandbox-scenario").textContent = "Picking a user is the sandbox's sign-in.";
}

function fillDropdown(dropdown, entries, selected) {
  const listbox = $("fluent-listbox", dropdown);
  listbox.id ||= dropdown.id + "-listbox"; // the combobox's aria-controls
  listbox.replaceChildren(
    ...entries.map(([value, label]) => {
      const option = Object.assign(document.createElement("fluent-option"), { textContent: label });
      option.setAttribute("value", value);
      if (value === selected) option.setAttribute("selected", "");
      return option;
    }),
  );
}

/**
 * labelDropdown names a Fluent dropdown's combobox by its label and states
 * that it is collapsed: the element's own button carries neither until opened.
 */
async function labelDropdown(dropdown) {
  await customElements.whenDefined("fluent-dropdown");
  if (!dropdown.control) return; // Fluent did not load: nothing to fix
  dropdown.control.setAttribute("aria-labelledby", dropdown.getAttribute("aria-labelledby"));
  if (!dropdown.open) dropdown.open = false;
}

function explainPolicy(id) {
  const p = config.mfaPolicies.find((x) => x.id === id);
  $("#sandbox-policy-explain").textContent = p ? p.explain : "";
}

/**
 * signIn is the sandbox's sign-in (a pick, or Sign in again): the previous
 * session is signed out first (the API forgets its cached Graph tokens), then
 * the sandbox replays the user's scenario and the next token is a new session.
 */
async function signIn() {
  const { user: name, profile: profileId } = picked;
  const u = config.users.find((x) => x.name === name);
  const profileLabel = config.profiles.find((p) => p.id === profileId)?.label || profileId;
  $("#sandbox-scenario").textContent = u ? u.scenario : "Picking a user is the sandbox's sign-in.";
  hideResults();
  held.token = held.before = held.identityUti = null;
  $("#token").hidden = true;
  $("#compare-body").replaceChildren();
  await withBusy(u ? `Signing in as ${u.name}…` : "Signing out…", async () => {
    startTrace(u ? `Sign-in as ${u.name}` : "Sign-out");
    if (provider.holdsToken) {
      try {
        await api.signOut();
        traceEvent({ type: "note", message: "Signed out the previous session: the API forgot its cached Graph tokens." });
      } catch (err) {
        traceEvent({ type: "note", kind: "failure", message: `Sign-out answered ${err.code || err.message}; nothing was cached for that session.` });
      }
    }
    await provider.pick(name, profileId);
    signedIn = Boolean(u);
    if (u) traceEvent({ type: "note", kind: "success", message: `Signed in as ${u.name} (${profileLabel}); the sandbox replays the scenario.` });
  });
}

/** switchPolicy restarts the API with another ADDIN_MFA_POLICY, then signs in again. */
async function switchPolicy(id) {
  explainPolicy(id);
  const label = config.mfaPolicies.find((p) => p.id === id)?.label || id;
  let ok = false;
  await withBusy(`Restarting the API with ADDIN_MFA_POLICY=${id}…`, async () => {
    startTrace(`MFA policy ${label}`);
    const res = await fetch("/.sandbox/policy", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ policy: id }) });
    if (!res.ok) throw new AuthError("sandbox_policy", `The sandbox could not switch the MFA policy: ${await res.text()}`);
    traceEvent({ type: "note", kind: "success", message: `The API restarted with ADDIN_MFA_POLICY=${id}.` });
    ok = true;
  });
  if (ok && picked.user) await signIn();
}

/** compareHosts shows the tokens Outlook desktop and Outlook on the web would get for the user, in the picked version. */
async function compareHosts() {
  const v1 = picked.profile.endsWith("-v1");
  await withBusy("Getting both hosts' tokens…", async () => {
    const [desktop, web] = await Promise.all(
      [v1 ? "desktop-v1" : "desktop", v1 ? "owa-v1" : "owa"].map((p) => provider.inspectToken(p, (t) => inspect(decodeClaims(t)))),
    );
    renderCompare($("#compare-body"), { desktop, web, addinClientId: config.clientId });
  });
}

// ---------------------------------------------------------------------------
// The calls.

function wireButtons() {
  const buttons = {
    "#btn-validate": async () => renderIdentity(await api.validate()),
    "#btn-exchange": async () => renderExchange(await api.exchange(["User.Read"])),
    "#btn-me": async () => renderJSON("/me", await (await api.graph("/v1.0/me")).json()),
    "#btn-messages": async () => renderMessages(await (await api.graph("/v1.0/me/messages?$top=5")).json()),
    "#btn-photo": async () => renderPhoto(await (await api.graph("/v1.0/me/photo/$value")).blob()),
  };
  for (const [sel, run] of Object.entries(buttons)) {
    const button = $(sel);
    button.addEventListener("click", () => {
      if (!button.disabled) runAction(button.textContent.trim(), run);
    });
  }
  $("#error-retry").addEventListener("click", () => lastRun && runAction(...lastRun));
}

/** runAction runs one button's call, awaited, with the buttons disabled and a progress indicator meanwhile. */
async function runAction(label, run) {
  lastRun = [label, run];
  held.before = null;
  await withBusy(label + "…", async () => {
    startTrace(label);
    await run();
  });
}

/** withBusy shows progress while work runs, with every button disabled, and shows its error. */
async function withBusy(text, work) {
  const focused = document.activeElement; // disabling it drops focus: given back when done
  busy = true;
  updateButtons();
  $("#error").hidden = true;
  $("#busy-text").textContent = text;
  $("#busy").hidden = false;
  setStatus(text);
  try {
    await work();
    setStatus("Done.");
  } catch (err) {
    setStatus("Failed: " + (err.code || err.message));
    showError(err);
  } finally {
    busy = false;
    $("#busy").hidden = true;
    updateButtons();
    // Fluent applies disabled to its inner controls on its next render: focus after it.
    if (focused && focused !== document.body) requestAnimationFrame(() => requestAnimationFrame(() => restoreFocus(focused)));
  }
}

function restoreFocus(el) {
  const lost = !document.activeElement || document.activeElement === document.body;
  if (lost && el.isConnected) el.focus();
}

/** updateButtons enables what can act now: calls need a signed-in user and no call running. */
function updateButtons() {
  const ready = signedIn && !busy;
  for (const sel of [...ACTION_BUTTONS, "#error-retry", "#btn-reset", "#btn-compare"]) setDisabled($(sel), !ready);
  for (const sel of ["#sandbox-user", "#sandbox-profile", "#sandbox-policy"]) setDisabled($(sel), busy);
}

/**
 * setDisabled disables a control. Fluent's elements say so to assistive
 * technology through ElementInternals; the attribute says it to checkers that
 * read the DOM only (axe-core), which otherwise judge a disabled button's grey.
 */
function setDisabled(el, disabled) {
  el.disabled = disabled;
  if (disabled) el.setAttribute("aria-disabled", "true");
  else el.removeAttribute("aria-disabled");
}

// ---------------------------------------------------------------------------
// The trace and the token inspector.

function startTrace(title) {
  $("#trace-title").textContent = "What happened: " + title;
  $("#trace").replaceChildren();
  $("#trace-card").hidden = false;
}

/** traceEvent shows one api.js event as a step, and follows the token the pane holds. */
function traceEvent(e) {
  if (e.type === "token" && e.claims) holdToken(e);
  if (e.type === "recover" && e.action === "retry_later") $("#busy-text").textContent = `Waiting ${e.seconds} s as asked (Retry-After)…`;
  if (e.type === "recover" && e.action === "auth_challenge") $("#busy-text").textContent = "Getting a token with the claims…";
  const s = step(e);
  if (!s) return;
  const li = document.createElement("li");
  li.className = "step " + s.kind;
  li.dataset.kind = s.kind;
  if (s.code) li.dataset.code = s.code;
  const title = document.createElement("p");
  title.className = "step-title";
  title.textContent = s.title;
  li.append(title);
  if (s.lines.length) {
    const dl = document.createElement("dl");
    for (const [k, v] of s.lines) {
      const dd = Object.assign(document.createElement("dd"), { textContent: v });
      if (k === "Correlation ID") dd.className = "mono id";
      dl.append(Object.assign(document.createElement("dt"), { textContent: k }), dd);
    }
    li.append(dl);
  }
  if (s.claims) {
    const pre = document.createElement("pre");
    pre.className = "claims-json";
    pre.setAttribute("aria-label", "The claims challenge, decoded");
    pre.textContent = "claims: " + JSON.stringify(s.claims, null, 1);
    li.append(pre);
  }
  if (s.link) {
    const a = Object.assign(document.createElement("a"), { href: s.link.href, textContent: s.link.text, target: "_blank", rel: "noopener" });
    li.append(a);
  }
  $("#trace").append(li);
  // A problem the call recovered from is shown as recovered, not as a failure.
  if (e.type === "done" && e.ok && e.recovered) for (const p of document.querySelectorAll("#trace li.problem")) p.classList.add("recovered");
}

function holdToken(e) {
  const t = inspect(e.claims);
  const stepUp = e.why === "auth_challenge" || e.why === "sign_in";
  if (stepUp && held.token && held.token.uti !== t.uti) held.before = held.token;
  held.token = t;
  renderToken($("#token-body"), { current: t, before: held.before, addinClientId: config.clientId });
  $("#token").hidden = false;
  $("#identity-stale").hidden = !held.identityUti || held.identityUti === t.uti;
}

// ---------------------------------------------------------------------------
// Results.

function renderIdentity(id) {
  const section = $("#identity");
  const app = clientName(id.clientAppId, config.clientId);
  fill(section, {
    name: id.name,
    username: id.username,
    tenantId: id.tenantId,
    objectId: id.objectId,
    tokenVersion: id.tokenVersion,
    clientApp: app && app !== id.clientAppId ? `${app} (${id.clientAppId})` : id.clientAppId,
    scopes: (id.scopes || []).join(" "),
    mfa: id.mfa,
    mfaEvidence: id.mfaEvidence,
    amr: id.amr ? id.amr.join(", ") : "(none: v2.0 tokens carry no amr)",
    acrs: id.acrs ? id.acrs.join(", ") : "(none)",
    expiresAt: formatTime(id.expiresAt),
  });
  held.identityUti = held.token && held.token.uti;
  $("#identity-stale").hidden = true;
  section.hidden = false;
}

function renderExchange(x) {
  const section = $("#exchange");
  fill(section, { scopes: (x.scopes || []).join(" "), expiresAt: formatTime(x.expiresAt), source: x.source });
  section.hidden = false;
}

function renderJSON(title, data) {
  const pre = document.createElement("pre");
  pre.textContent = JSON.stringify(data, null, 2);
  showGraph(title, pre);
}

function renderMessages(data) {
  const list = document.createElement("ol");
  list.className = "messages";
  for (const m of data.value || []) {
    const li = document.createElement("li");
    const from = m.from && m.from.emailAddress ? m.from.emailAddress.name || m.from.emailAddress.address : "";
    li.textContent = `${m.subject || "(no subject)"}${from ? " — " + from : ""}`;
    list.append(li);
  }
  if (!list.children.length) list.append(Object.assign(document.createElement("li"), { textContent: "(no messages)" }));
  showGraph("Latest messages", list);
}

function renderPhoto(blob) {
  const img = document.createElement("img");
  img.className = "photo";
  img.alt = "Your profile photo";
  img.src = URL.createObjectURL(blob); // blob: is allowed by the CSP's img-src
  img.onload = () => URL.revokeObjectURL(img.src);
  img.onerror = () => {
    URL.revokeObjectURL(img.src);
    const note = document.createElement("p");
    note.className = "muted";
    note.textContent = `Received ${blob.size} bytes of ${blob.type || "unknown type"}, which the browser cannot show as an image.`;
    img.replaceWith(note);
  };
  showGraph("Photo", img);
}

function showGraph(title, node) {
  $("#graph-title").textContent = "Microsoft Graph: " + title;
  $("#graph-body").replaceChildren(node);
  $("#graph").hidden = false;
}

/** showError shows a problem in plain words, with what the pane did and a Try again when trying again can help. */
function showError(err) {
  const section = $("#error");
  const isApi = err instanceof ApiError;
  const code = err.code || err.name || "error";
  fill(section, {
    code,
    action: isApi ? actionWords(err.action) : "",
    status: err.status ? String(err.status) : "",
    detail: isApi ? err.detail || err.title || "" : err.message,
    correlationId: err.correlationId || "",
  });
  $("#error-title").textContent = err.title && !isApi ? err.title : isApi ? "The API answered with a problem" : "Could not get a token";
  $("#error-meaning").textContent = CODE_WORDS[code] || "";
  const doc = $("#error-doc");
  doc.hidden = !(isApi && err.type);
  if (!doc.hidden) doc.href = err.type;
  // A fatal problem needs someone else; anything else may pass on a second try (the user's own click, never a loop).
  $("#error-retry").hidden = !lastRun || (isApi && err.action === "fatal");
  section.querySelector(".id-line").hidden = !err.correlationId;
  Object.assign(section.dataset, { code, action: err.action || "" });
  section.hidden = false;
}

function hideResults() {
  for (const id of ["#identity", "#exchange", "#graph", "#error", "#trace-card"]) $(id).hidden = true;
  lastRun = null;
}

function fill(root, values) {
  for (const [k, v] of Object.entries(values)) {
    const el = root.querySelector(`[data-field="${k}"]`);
    if (el) el.textContent = v == null || v === "" ? "—" : String(v);
  }
}

function formatTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
}

function setStatus(text) {
  $("#status").textContent = text;
}
