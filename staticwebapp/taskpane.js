// taskpane.js: the task pane's UI. It finds a token provider (the local
// sandbox, else Office: NAA or legacy SSO), then runs the API calls through
// api.js and shows what came back: the identity, the Graph token's metadata
// (never the token), Graph's data, or the problem with its code, detail and
// correlation ID.

import { createApi, ApiError } from "./api.js";
import { AuthError, SandboxProvider, chooseOfficeProvider, detectSandbox, loadOffice } from "./auth.js";
import { apiFetch, showAllowedButtons } from "./deployment.js";

const $ = (sel, root = document) => root.querySelector(sel);

// Client apps Office's legacy SSO tokens name in azp/appid (the IDs an add-in
// registration pre-authorizes); with NAA the client is the add-in itself.
const CLIENT_APPS = {
  "ea5a67f6-b6f3-4338-b240-c655ddc3cc8e": "Microsoft Office (all endpoints)",
  "d3590ed6-52b3-4102-aeff-aad2292ab01c": "Microsoft Office (desktop)",
  "93d53678-613d-4013-afc1-62e9e444a0a5": "Office on the web",
  "57fb890c-0dab-4253-a5e0-7188c88b2bb4": "Office on the web",
  "08e18876-6177-487e-b8b5-cf950c1e598c": "Office on the web",
  "bc59ab01-8403-45c6-8796-ac3ef710b3e3": "Outlook on the web",
};

let api;
let config;

main().catch((err) => showError(err));

async function main() {
  const sandbox = await detectSandbox();
  let provider;
  if (sandbox) {
    config = sandbox;
    provider = new SandboxProvider(sandbox);
    setupSandboxPicker(provider, sandbox);
  } else {
    config = await loadConfig();
    setStatus("Loading Office…");
    let info;
    try {
      info = await loadOffice();
    } catch (err) {
      throw startupError("office_unavailable", `Office's script did not load (${err.message}). Open this add-in from Office, online.`);
    }
    if (!info || !info.host) {
      throw startupError("not_in_office", "This page is an Office add-in's task pane: open it from Office (or run the local sandbox: make dev).");
    }
    provider = chooseOfficeProvider(config, { onEvent: logEvent });
  }
  $("#provider").textContent = "Token from: " + provider.name;
  api = createApi({ provider, consentScopes: config.graphScopes, fetch: apiFetch(config.apiBaseUrl), onEvent: logEvent });
  showAllowedButtons(config.graphRoutes);
  wireButtons();
  setStatus("");
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

function setupSandboxPicker(provider, cfg) {
  const userSelect = $("#sandbox-user");
  const profileSelect = $("#sandbox-profile");
  userSelect.append(new Option("— pick a dev user —", ""));
  for (const u of cfg.users) userSelect.append(new Option(`${u.name} (${u.username})`, u.name));
  for (const p of cfg.profiles) profileSelect.append(new Option(p.label, p.id));
  // Picking a user (or a token profile) is the sandbox's sign-in: the user's scenario starts over.
  const update = async () => {
    const u = cfg.users.find((x) => x.name === userSelect.value);
    $("#sandbox-scenario").textContent = u ? u.scenario : "Picking a user is the sandbox's sign-in.";
    hideResults();
    const buttons = document.querySelectorAll("#actions button");
    buttons.forEach((b) => (b.disabled = true));
    try {
      await provider.pick(userSelect.value, profileSelect.value);
      if (u) logEvent({ message: `Signed in as ${u.name} (${profileSelect.selectedOptions[0].text}).` });
    } catch (err) {
      showError(err);
    } finally {
      buttons.forEach((b) => (b.disabled = false));
    }
  };
  userSelect.addEventListener("change", update);
  profileSelect.addEventListener("change", update);
  $("#sandbox").hidden = false;
  $("#sandbox-scenario").textContent = "Picking a user is the sandbox's sign-in.";
}

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
    button.disabled = false;
    button.addEventListener("click", () => runAction(button, run));
  }
}

/** runAction runs one button's call, awaited, with every button disabled meanwhile. */
async function runAction(button, run) {
  const all = document.querySelectorAll("#actions button");
  all.forEach((b) => (b.disabled = true));
  $("#error").hidden = true;
  setStatus(button.textContent + "…");
  try {
    await run();
    setStatus("");
  } catch (err) {
    setStatus("");
    showError(err);
  } finally {
    all.forEach((b) => (b.disabled = false));
  }
}

function renderIdentity(id) {
  const section = $("#identity");
  const app = CLIENT_APPS[id.clientAppId] || (id.clientAppId === config.clientId ? "this add-in (Nested App Authentication)" : "");
  fill(section, {
    name: id.name,
    username: id.username,
    tenantId: id.tenantId,
    objectId: id.objectId,
    tokenVersion: id.tokenVersion,
    clientApp: app ? `${app} — ${id.clientAppId}` : id.clientAppId,
    scopes: (id.scopes || []).join(" "),
    mfa: id.mfa,
    mfaEvidence: id.mfaEvidence,
    amr: id.amr ? id.amr.join(", ") : "(none: v2.0 tokens carry no amr)",
    acrs: id.acrs ? id.acrs.join(", ") : "(none)",
    expiresAt: formatTime(id.expiresAt),
  });
  section.hidden = false;
  logEvent({ message: `Validated: ${id.username || id.objectId}, v${id.tokenVersion} token, mfa ${id.mfa}.` });
}

function renderExchange(x) {
  const section = $("#exchange");
  fill(section, { scopes: (x.scopes || []).join(" "), expiresAt: formatTime(x.expiresAt), source: x.source });
  section.hidden = false;
  logEvent({ message: `Exchange: Graph token for ${(x.scopes || []).join(" ")} from ${x.source}.` });
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

function showError(err) {
  const section = $("#error");
  const fields = {
    code: err.code || err.name || "error",
    action: err.action || "",
    status: err.status ? String(err.status) : "",
    detail: err instanceof ApiError ? err.detail || err.title || "" : err.message,
    correlationId: err.correlationId || "",
  };
  if (err instanceof ApiError && err.action === "retry_later" && err.retryAfter) {
    fields.detail += ` Try again in ${err.retryAfter} s.`;
  }
  $("#error-title").textContent = err.title || (err instanceof ApiError ? "The API answered with a problem" : "Could not get a token");
  fill(section, fields);
  const doc = $("#error-doc");
  doc.hidden = !(err instanceof ApiError && err.type);
  if (!doc.hidden) doc.href = err.type;
  section.hidden = false;
  logEvent({ message: `Error ${fields.code}${fields.action ? " (" + fields.action + ")" : ""}.` });
}

function hideResults() {
  for (const id of ["#identity", "#exchange", "#graph", "#error"]) $(id).hidden = true;
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
  return Number.isNaN(d.getTime()) ? String(iso) : `${d.toLocaleString()} (${iso})`;
}

function setStatus(text) {
  $("#status").textContent = text;
}

/** logEvent shows what the client did (recoveries, fallbacks); events never carry a token. */
function logEvent(e) {
  const li = document.createElement("li");
  li.textContent = `${new Date().toLocaleTimeString()} ${e.action ? "[" + e.action + "] " : ""}${e.message || e.type}`;
  const log = $("#log");
  log.prepend(li);
  while (log.children.length > 50) log.lastChild.remove();
}
