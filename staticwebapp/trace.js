// trace.js: the words of the "what happened" trace. It turns api.js's events
// (facts: status, code, action, claims) into steps in plain language, with a
// link to the README section of each code. No DOM here, so node tests read it.

import { inspect } from "./jwt.js";

/** What each action makes the pane do, in words (README, "Errors"). */
export const ACTION_WORDS = {
  retry_sso: "get a fresh token and retry once",
  auth_challenge: "get a token with the claims and retry once",
  consent: "ask for consent to Microsoft Graph and retry once",
  sign_in: "sign in interactively and retry once",
  retry_later: "wait as asked and retry once",
  fatal: "nothing the pane can do: an administrator or a developer must act",
};

/** What a code means, in a sentence; the README section says more. */
export const CODE_WORDS = {
  missing_token: "No token reached the API.",
  invalid_token: "The API does not accept this token (see the detail for which check failed).",
  token_expired: "The token has expired (or Entra found it expired at the exchange).",
  mfa_required: "The API requires an authentication context (MFA) this token lacks, and says how to get it.",
  mfa_missing: "The token does not show MFA, and no claims request can add it: an administrator's fix.",
  claims_challenge: "More is asked of the user: a claims challenge to pass when getting the next token.",
  interaction_required: "Entra ID needs the user at its own sign-in page.",
  blocked_by_policy: "A Conditional Access policy blocks this access; no sign-in can satisfy it.",
  consent_required: "Consent to the Microsoft Graph permissions is missing.",
  admin_consent_required: "Only an administrator can consent to these permissions.",
  insufficient_scope: "The token lacks the API's scope.",
  tenant_not_allowed: "This API does not accept users of this organization.",
  client_not_allowed: "The token was issued to an app this API does not accept.",
  graph_path_forbidden: "The API does not allow this Microsoft Graph call.",
  upstream_unavailable: "Entra ID or Microsoft Graph is busy or down.",
  server_misconfigured: "The server's settings cannot serve this request.",
  network_error: "The API could not be reached.",
};

const SOURCE_WORDS = {
  cached: "the token it already held",
  fresh: "a new token",
  popup: "a new token, from a sign-in popup",
  dialog: "a new token, from the sign-in dialog",
  office: "from Office (which may answer from its own cache)",
};

const WHY_WORDS = {
  start: "Token",
  retry_sso: "Fresh token (forceRefresh)",
  auth_challenge: "Token with the claims",
  sign_in: "Token after an interactive sign-in",
};

/** actionWords names an action with what it does, e.g. "retry_sso: get a fresh token and retry once". */
export function actionWords(action) {
  return ACTION_WORDS[action] ? `${action}: ${ACTION_WORDS[action]}` : action || "";
}

/**
 * whoAsks says where a challenge comes from: Graph's continuous access
 * evaluation, Entra's Conditional Access at the exchange, or this API's MFA policy.
 */
export function whoAsks(p) {
  if (p.code === "mfa_required") return "this API (ADDIN_MFA_POLICY=acrs)";
  if (p.code !== "claims_challenge") return undefined;
  if (/Microsoft Graph/.test(p.detail || "")) return "Microsoft Graph: continuous access evaluation (a revoked session, a changed password or location)";
  return "Entra ID: Conditional Access at the On-Behalf-Of exchange";
}

/** tokenLine sums up a token's claims in one line: version, client, amr, acrs, expiry. */
export function tokenLine(claims, now = Date.now()) {
  const t = inspect(claims, now);
  if (!t) return "not a JWT the pane can read";
  const parts = [`v${t.ver || "?"}`];
  if (t.amr !== undefined) parts.push(`amr ${t.amr}`);
  else if (t.ver === "2.0") parts.push("no amr (v2.0)");
  parts.push(t.acrs ? `acrs ${t.acrs}` : "no acrs");
  parts.push(t.expired ? `EXPIRED ${t.exp}` : `expires ${t.exp}`);
  return parts.join(" · ");
}

/**
 * step turns one api.js event into a trace step:
 * {kind, title, lines: [[label, value]], claims?, link?}; null for events the trace does not show.
 * kind is one of call, token, ok, problem, action, retry, success, failure.
 */
export function step(e, now = Date.now()) {
  switch (e.type) {
    case "call":
      return { kind: "call", title: `Call ${e.method} ${e.path}`, lines: [["Correlation ID", e.correlationId]] };
    case "token": {
      const lines = [["Claims", tokenLine(e.claims, now)]];
      if (e.claimsAsked) lines.push(["Asked with", JSON.stringify(e.claimsAsked)]);
      return { kind: "token", title: `${WHY_WORDS[e.why] || "Token"} from ${e.provider}: ${SOURCE_WORDS[e.source] || e.source || "received"}`, lines };
    }
    case "response":
      return e.ok ? { kind: "ok", title: `${e.status} OK from ${e.path}`, lines: [] } : null; // a problem event follows
    case "problem": {
      const lines = [];
      if (e.aadsts) lines.push(["Entra error", "AADSTS" + e.aadsts]);
      const who = whoAsks(e);
      if (who) lines.push(["Asked by", who]);
      const nbf = Number(e.claims && e.claims.access_token && e.claims.access_token.nbf && e.claims.access_token.nbf.value);
      if (nbf) lines.push(["Not before", `${new Date(nbf * 1000).toISOString()}: tokens issued earlier are refused`]);
      lines.push(["Action", actionWords(e.action)]);
      if (e.retryAfter !== undefined) lines.push(["Retry-After", `${e.retryAfter} s`]);
      if (e.detail) lines.push(["Detail", e.detail]);
      lines.push(["Correlation ID", e.correlationId || "—"]);
      return {
        kind: "problem",
        title: `${e.status || "—"} ${e.code}: ${CODE_WORDS[e.code] || e.title || "a problem"}`,
        code: e.code,
        lines,
        claims: e.claims,
        link: e.doc ? { href: e.doc, text: `README: ${e.code}` } : undefined,
      };
    }
    case "recover":
      return { kind: "action", title: `The pane acts on ${e.action}: ${recoverWords(e)}`, lines: [] };
    case "retry":
      return { kind: "retry", title: `Retry ${e.method} ${e.path} (attempt ${e.attempt}, the last)`, lines: [] };
    case "gave-up":
      return { kind: "failure", title: `Still ${e.code} after one recovery: shown, not retried again (no loops)`, lines: [] };
    case "done":
      if (e.ok) return { kind: "success", title: e.recovered ? `Recovered from ${e.recovered}: the call succeeded` : "The call succeeded", lines: [], recovered: e.recovered };
      return { kind: "failure", title: `Failed: ${e.code}${e.action ? ` (${e.action})` : ""}`, lines: [], code: e.code };
    case "note":
      return { kind: e.kind || "note", title: e.message, lines: e.lines || [] };
    default:
      return e.message ? { kind: "note", title: e.message, lines: [] } : null;
  }
}

function recoverWords(e) {
  switch (e.action) {
    case "retry_sso":
      return "getting a fresh token, then retrying once";
    case "auth_challenge":
      return "getting a token with the claims (the user completes MFA or signs in again), then retrying once";
    case "consent":
      return `opening the consent step for ${(e.scopes || []).join(" ")}, then retrying once`;
    case "sign_in":
      return "signing in interactively, then retrying once";
    case "retry_later":
      return `waiting ${e.seconds} s as asked (Retry-After), then retrying once`;
    default:
      return ACTION_WORDS[e.action] || e.action;
  }
}
