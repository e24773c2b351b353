// inspector.js: the token inspector. It shows the claims of the token the
// pane holds (decoded by jwt.js in the browser), before and after a step-up
// when one changed them, and two hosts' tokens side by side. Claims only:
// the token itself never reaches the DOM.

import { INSPECTED, changed } from "./jwt.js";

// Client apps Office's legacy SSO tokens name in azp/appid (the IDs an add-in
// registration pre-authorizes); with NAA the client is the add-in itself.
export const CLIENT_APPS = {
  "ea5a67f6-b6f3-4338-b240-c655ddc3cc8e": "Microsoft Office (all endpoints)",
  "d3590ed6-52b3-4102-aeff-aad2292ab01c": "Microsoft Office (desktop)",
  "93d53678-613d-4013-afc1-62e9e444a0a5": "Office on the web",
  "57fb890c-0dab-4253-a5e0-7188c88b2bb4": "Office on the web",
  "08e18876-6177-487e-b8b5-cf950c1e598c": "Office on the web",
  "bc59ab01-8403-45c6-8796-ac3ef710b3e3": "Outlook on the web",
};

/** clientName names a token's client app, or returns its ID. */
export function clientName(id, addinClientId) {
  if (!id) return "";
  if (id === addinClientId) return "this add-in (Nested App Authentication)";
  return CLIENT_APPS[id] || id;
}

const el = (tag, props = {}, ...children) => {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...children.filter((c) => c != null));
  return e;
};

/** value shows one inspected claim; absent claims say why when it matters. */
function value(t, key, addinClientId) {
  const v = t[key];
  if (key === "client") return clientName(v, addinClientId);
  if (key === "amr" && v === undefined) return t.ver === "2.0" ? "(none: v2.0 tokens carry no amr)" : "(none)";
  if (v === undefined || v === "") return "(none)";
  if (key === "exp") return new Date(v).toLocaleString() + (t.expired ? " (expired)" : "");
  return String(v);
}

/**
 * claimsTable renders inspected tokens as columns (e.g. before/after, desktop/web).
 * Rows that differ are marked; rows equal in every column span them all.
 */
export function claimsTable(columns, { caption, addinClientId } = {}) {
  const differs = new Set(columns.length > 1 ? changed(columns[0].token, columns[1].token) : []);
  const table = el("table", { className: "claims" });
  if (caption) table.append(el("caption", { className: "visually-hidden", textContent: caption }));
  table.append(el("colgroup", {}, el("col", { className: "name" }), ...columns.map(() => el("col"))));
  if (columns.length > 1) {
    const head = el("tr", {}, el("th", { scope: "col", textContent: "claim" }));
    for (const c of columns) head.append(el("th", { scope: "col", textContent: c.label }));
    table.append(el("thead", {}, head));
  }
  const body = el("tbody");
  for (const [key, what] of INSPECTED) {
    const name = key === "client" ? "azp/appid" : key;
    const row = el("tr", { title: what }, el("th", { scope: "row", textContent: name }));
    const values = columns.map((c) => value(c.token, key, addinClientId));
    if (columns.length > 1 && values.every((v) => v === values[0]) && !columns.some((c) => key === "exp" && c.token.expired)) {
      row.append(el("td", { colSpan: columns.length, textContent: values[0] }));
    } else {
      values.forEach((v, i) => row.append(el("td", { textContent: v, className: key === "exp" && columns[i].token.expired ? "expired" : "" })));
    }
    if (differs.has(key)) row.className = "changed";
    if (key === "amr" || key === "acrs" || key === "exp") row.classList.add("key");
    body.append(row);
  }
  table.append(body);
  return table;
}

/**
 * renderToken shows the token the pane holds; with before (the token it held
 * before a step-up in the same call), both, and what changed in words.
 */
export function renderToken(container, { current, before, addinClientId }) {
  const parts = [];
  if (before) {
    const diff = changed(before, current);
    parts.push(
      el("p", {
        className: "note",
        textContent: diff.length
          ? `The step-up changed ${diff.join(", ")}.`
          : "The step-up changed nothing the API can read in this token (a v2.0 token carries no amr): Entra remembers the MFA in the session.",
      }),
      claimsTable([{ label: "before", token: before }, { label: "after", token: current }], { caption: "The token before and after the step-up", addinClientId }),
    );
  } else {
    parts.push(claimsTable([{ label: "now", token: current }], { caption: "The token the pane holds", addinClientId }));
  }
  container.replaceChildren(...parts);
}

/** renderCompare shows Outlook desktop's and Outlook on the web's tokens of one user, and what they teach. */
export function renderCompare(container, { desktop, web, addinClientId }) {
  const diff = changed(desktop, web);
  let lesson;
  if (desktop.ver === "1.0") {
    lesson = diff.includes("amr")
      ? `In v1.0 tokens amr tells them apart: desktop ${desktop.amr || "(none)"}, on the web ${web.amr || "(none)"}. Desktop's token can come from Windows sign-in without MFA, so an API that needs MFA must ask Entra for it (Conditional Access or acrs:c1), not read amr.`
      : `Both show amr ${desktop.amr || "(none)"}: the session has MFA whichever host asks.`;
  } else {
    lesson = `In v2.0 tokens only the client app differs: neither carries amr, so the API cannot tell whether the user did MFA. Require it with Conditional Access or an authentication context (acrs:c1), which Entra enforces.`;
  }
  container.replaceChildren(
    claimsTable([{ label: "desktop", token: desktop }, { label: "web", token: web }], { caption: "Outlook desktop's and Outlook on the web's tokens", addinClientId }),
    el("p", { className: "note", textContent: lesson }),
  );
}
