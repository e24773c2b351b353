// api.js: the one client every /api call of the task pane goes through.
//
// It sends the add-in's token in X-Addin-Authorization (Static Web Apps
// replaces Authorization on /api calls with its own) and, when the API answers
// with a problem (RFC 9457), acts on the problem's `action` alone (README,
// "Errors"). Each call recovers at most once: a second problem is shown, never
// looped, because a loop of getAccessToken calls is what gets an add-in
// throttled by Office (13013) and what users see as a hang.
//
// The token is never logged, never put in an event, never put in an error.
// Events (onEvent) tell every step of a call, for the pane's "what happened"
// trace: {type: "call"}, {type: "token"} with the token's decoded claims and
// where it came from, {type: "response"}, {type: "problem"}, {type: "recover"}
// (the action taken), {type: "retry"}, and {type: "done"} with whether the
// call succeeded and what it recovered from.

import { decodeClaims, readClaimsChallenge } from "./jwt.js";

/** How long a retry_later wait may be before we show the problem instead. */
export const MAX_RETRY_AFTER_SECONDS = 30;
/** Wait when the API asks to retry later without saying when. */
const DEFAULT_RETRY_AFTER_SECONDS = 2;
/** A little over Static Web Apps' 45 s limit for an /api call. */
const REQUEST_TIMEOUT_MS = 50_000;

/**
 * @typedef {Object} TokenRequest
 * @property {boolean} [forceRefresh] bypass any cached token (after retry_sso)
 * @property {string} [claims] a claims challenge to satisfy (after auth_challenge)
 *
 * @typedef {Object} TokenProvider How the pane gets an access token for its own API.
 * @property {string} name shown to the user
 * @property {(req?: TokenRequest) => Promise<string>} getToken
 * @property {string} [lastSource] where the last token came from: "cached", "fresh", "popup", "dialog" or "office"
 * @property {(graphScopes: string[]) => Promise<void>} consent interactive consent to Graph scopes
 * @property {() => Promise<string>} signIn interactive sign-in (Entra's own pages); resolves to the new token
 */

/** A problem answered by the API (or a failure shaped like one), safe to show. */
export class ApiError extends Error {
  constructor({ status = 0, code, action = "fatal", title, detail, claims, retryAfter, correlationId, type }) {
    super(detail || title || code);
    this.name = "ApiError";
    Object.assign(this, { status, code, action, title, detail, claims, retryAfter, correlationId, type });
  }
}

/**
 * createApi returns the client. Everything it touches is passed in so the
 * node tests can drive it with a fake fetch, a fake provider and a fake clock.
 */
export function createApi({
  provider,
  consentScopes = ["User.Read"],
  fetch = globalThis.fetch.bind(globalThis),
  sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  onEvent = () => {},
  maxRetryAfterSeconds = MAX_RETRY_AFTER_SECONDS,
} = {}) {
  /**
   * request calls the API and returns the successful Response. It throws
   * ApiError for an API problem and whatever the provider throws when no
   * token can be had.
   */
  async function request(method, path, { json } = {}) {
    // One correlation ID for the call and its retry, so both are found together in the logs.
    const correlationId = newCorrelationId();
    onEvent({ type: "call", method, path, correlationId });
    let recovered = null; // the problem this call recovered from, once
    try {
      let token = await getToken({}, "start");
      for (let attempt = 1; ; attempt++) {
        const res = await send(method, path, json, token, correlationId);
        onEvent({ type: "response", method, path, status: res.status, ok: res.ok, attempt });
        if (res.ok) {
          onEvent({ type: "done", ok: true, recovered: recovered ? recovered.code : undefined });
          return res;
        }
        const problem = await readProblem(res);
        onEvent(problemEvent(problem));
        if (recovered) {
          onEvent({ type: "gave-up", action: problem.action, code: problem.code });
          throw problem;
        }
        token = await recover(problem, token);
        recovered = problem;
        onEvent({ type: "retry", method, path, attempt: attempt + 1 });
      }
    } catch (err) {
      onEvent({ type: "done", ok: false, code: err.code || err.name, action: err.action, recovered: recovered ? recovered.code : undefined });
      throw err;
    }
  }

  /** getToken asks the provider and tells the trace what came back: the claims, never the token. */
  async function getToken(req, why) {
    const token = await provider.getToken(req);
    onEvent({
      type: "token",
      why,
      provider: provider.name,
      source: provider.lastSource,
      forceRefresh: Boolean(req.forceRefresh),
      claimsAsked: req.claims ? readClaimsChallenge(req.claims) : undefined,
      claims: decodeClaims(token),
    });
    return token;
  }

  /** recover does what the problem's action says and returns the token to retry with, or throws the problem. */
  async function recover(problem, token) {
    const event = (extra) => onEvent({ type: "recover", action: problem.action, code: problem.code, ...extra });
    switch (problem.action) {
      case "retry_sso":
        event();
        return getToken({ forceRefresh: true }, "retry_sso");
      case "auth_challenge":
        if (!problem.claims) throw problem; // nothing to answer the challenge with
        event();
        return getToken({ forceRefresh: true, claims: problem.claims }, "auth_challenge");
      case "consent":
        event({ scopes: consentScopes });
        await provider.consent(consentScopes);
        return token;
      case "sign_in": {
        event();
        const signedIn = await provider.signIn();
        onEvent({ type: "token", why: "sign_in", provider: provider.name, source: provider.lastSource, claims: decodeClaims(signedIn) });
        return signedIn;
      }
      case "retry_later": {
        const seconds = problem.retryAfter ?? DEFAULT_RETRY_AFTER_SECONDS;
        if (seconds > maxRetryAfterSeconds) throw problem; // too long to hold the pane: show it
        event({ seconds });
        await sleep(seconds * 1000);
        return token;
      }
      default: // fatal, or an action this pane does not know: a developer must look
        throw problem;
    }
  }

  async function send(method, path, json, token, correlationId) {
    const headers = {
      Accept: "application/json, application/problem+json, */*",
      "X-Correlation-Id": correlationId,
    };
    if (token) headers["X-Addin-Authorization"] = "Bearer " + token;
    const init = { method, headers, cache: "no-store", credentials: "same-origin" };
    if (json !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(json);
    }
    if (typeof AbortSignal !== "undefined" && AbortSignal.timeout) init.signal = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
    try {
      return await fetch(path, init);
    } catch (err) {
      // fetch's own error (offline, DNS, timeout) carries nothing of the request; safe to show.
      throw new ApiError({
        code: "network_error",
        title: "The API could not be reached",
        detail: `${method} ${path}: ${err && err.message ? err.message : err}`,
        correlationId,
      });
    }
  }

  return {
    request,
    /** who the caller is, as the API verified it */
    validate: async () => (await request("GET", "/api/validate")).json(),
    /** On-Behalf-Of for Graph scopes; the answer says which, until when, and from where, never the token */
    exchange: async (scopes) => (await request("POST", "/api/exchange", { json: { scopes } })).json(),
    /** a Graph call through graph-proxy; path starts with /v1.0/ */
    graph: (path) => request("GET", "/api/graph" + path),
    /** on sign-out: the server forgets every Graph token it cached for the user */
    signOut: async () => {
      await request("POST", "/api/signout");
    },
  };
}

/** problemEvent is what the trace shows of a problem: safe fields, claims decoded, Entra's AADSTS number. */
function problemEvent(p) {
  const aadsts = /AADSTS(\d+)/.exec(p.detail || "");
  return {
    type: "problem",
    status: p.status,
    code: p.code,
    action: p.action,
    title: p.title,
    detail: p.detail,
    aadsts: aadsts ? aadsts[1] : undefined,
    claims: p.claims ? readClaimsChallenge(p.claims) : undefined,
    retryAfter: p.retryAfter,
    correlationId: p.correlationId,
    doc: p.type,
  };
}

/** readProblem turns any unsuccessful answer into an ApiError. */
export async function readProblem(res) {
  const correlationId = res.headers.get("X-Correlation-Id") || undefined;
  const type = (res.headers.get("Content-Type") || "").toLowerCase();
  let body = null;
  try {
    if (type.includes("json")) body = await res.json();
  } catch {
    body = null; // a broken body is reported by status below
  }
  const retryAfter = parseRetryAfter(res.headers.get("Retry-After")) ?? numberOrUndefined(body && body.retryAfter);
  // Our problem: application/problem+json, or application/json from graph-proxy
  // (Graph's SDKs read errors only as JSON); either way it carries action.
  if (body && typeof body.action === "string" && typeof body.code === "string") {
    return new ApiError({
      status: res.status,
      code: body.code,
      action: body.action,
      title: body.title,
      detail: body.detail,
      claims: body.claims,
      retryAfter,
      correlationId: body.correlationId || correlationId,
      type: body.type,
    });
  }
  if (body && body.error && typeof body.error === "object") {
    // Graph's own error, streamed back by graph-proxy (e.g. 404 for a user without a photo).
    return new ApiError({
      status: res.status,
      code: String(body.error.code || "graph_error"),
      title: "Microsoft Graph answered " + res.status,
      detail: body.error.message,
      retryAfter,
      correlationId,
    });
  }
  return new ApiError({
    status: res.status,
    code: "http_" + res.status,
    title: `The API answered ${res.status} ${res.statusText || ""}`.trim(),
    detail: "The answer is not a problem document: is the Function App linked as this site's /api backend and running?",
    retryAfter,
    correlationId,
  });
}

/** parseRetryAfter reads delta-seconds or an HTTP-date (RFC 9110); undefined when absent or unreadable. */
export function parseRetryAfter(value, now = Date.now()) {
  if (value == null || value === "") return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - now) / 1000));
}

function numberOrUndefined(v) {
  return typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : undefined;
}

function newCorrelationId() {
  if (globalThis.crypto && globalThis.crypto.randomUUID) return globalThis.crypto.randomUUID();
  return Date.now().toString(16) + Math.random().toString(16).slice(2, 10);
}
