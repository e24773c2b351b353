// Unit tests of the pane's words and claims: jwt.js (decoding in the browser)
// and trace.js (api.js's events as steps). node --test staticwebapp/test/*.test.mjs
import { test } from "node:test";
import assert from "node:assert/strict";

import { changed, decodeClaims, inspect, readClaimsChallenge } from "../jwt.js";
import { step, tokenLine, whoAsks } from "../trace.js";

const b64url = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
const jwt = (claims) => `${b64url({ alg: "RS256", typ: "JWT" })}.${b64url(claims)}.c2lnbmF0dXJl`;
const NOW = Date.parse("2030-01-01T00:00:00Z");

test("decodeClaims reads a JWT's payload, UTF-8 included, and nothing else", () => {
  assert.deepEqual(decodeClaims(jwt({ name: "Zoë", ver: "1.0" })), { name: "Zoë", ver: "1.0" });
  for (const bad of [null, "", "a.b", "a.!!!.c", `x.${b64url([1])}.y`, `x.${Buffer.from("not json").toString("base64url")}.y`]) {
    assert.equal(decodeClaims(bad), null, String(bad));
  }
});

test("inspect picks what the inspector shows: client from azp or appid, amr and acrs, expiry", () => {
  const v1 = inspect({ ver: "1.0", appid: "desk", amr: ["pwd", "mfa"], exp: NOW / 1000 - 1 }, NOW);
  assert.equal(v1.client, "desk");
  assert.equal(v1.amr, "pwd, mfa");
  assert.equal(v1.expired, true);
  const v2 = inspect({ ver: "2.0", azp: "naa", acrs: ["c1"], exp: NOW / 1000 + 60 }, NOW);
  assert.equal(v2.client, "naa");
  assert.equal(v2.amr, undefined);
  assert.equal(v2.acrs, "c1");
  assert.equal(v2.expired, false);
});

test("changed names the claims a step-up changed, never the expiry", () => {
  const before = inspect({ ver: "1.0", amr: ["pwd"], exp: 1 }, NOW);
  const after = inspect({ ver: "1.0", amr: ["pwd", "mfa"], acrs: ["c1"], exp: 2 }, NOW);
  assert.deepEqual(changed(before, after), ["amr", "acrs"]);
  assert.deepEqual(changed(before, before), []);
});

test("readClaimsChallenge reads plain JSON and base64 JSON", () => {
  const c = { access_token: { nbf: { essential: true, value: "1796170858" } } };
  assert.deepEqual(readClaimsChallenge(JSON.stringify(c)), c);
  assert.deepEqual(readClaimsChallenge(Buffer.from(JSON.stringify(c)).toString("base64")), c);
  assert.equal(readClaimsChallenge("not claims"), null);
});

test("whoAsks tells Graph's CAE challenge from Entra's Conditional Access and the API's own", () => {
  assert.match(whoAsks({ code: "claims_challenge", detail: "Microsoft Graph asks for more claims (continuous access evaluation or Conditional Access)" }), /^Microsoft Graph: continuous access evaluation/);
  assert.match(whoAsks({ code: "claims_challenge", detail: "Conditional Access requires more from the user (AADSTS50076)" }), /^Entra ID: Conditional Access/);
  assert.match(whoAsks({ code: "mfa_required" }), /ADDIN_MFA_POLICY=acrs/);
  assert.equal(whoAsks({ code: "token_expired" }), undefined);
});

test("a problem step has the status, code, AADSTS number, decoded claims, correlation ID and the README link", () => {
  const s = step({
    type: "problem",
    status: 401,
    code: "claims_challenge",
    action: "auth_challenge",
    detail: "Conditional Access requires more from the user (AADSTS50076).",
    aadsts: "50076",
    claims: { access_token: { nbf: { essential: true, value: "1796170858" } } },
    correlationId: "corr-1",
    doc: "https://example/README.md#claims_challenge",
  });
  assert.equal(s.kind, "problem");
  assert.match(s.title, /^401 claims_challenge: /);
  const lines = Object.fromEntries(s.lines);
  assert.equal(lines["Entra error"], "AADSTS50076");
  assert.match(lines["Action"], /^auth_challenge: get a token with the claims/);
  assert.match(lines["Not before"], /^2026-/);
  assert.equal(lines["Correlation ID"], "corr-1");
  assert.deepEqual(s.claims.access_token.nbf.value, "1796170858");
  assert.deepEqual(s.link, { href: "https://example/README.md#claims_challenge", text: "README: claims_challenge" });
});

test("token, recover and done steps say where the token came from, what the pane did and whether it recovered", () => {
  const t = step({ type: "token", why: "auth_challenge", provider: "Sandbox", source: "fresh", claims: { ver: "2.0", exp: NOW / 1000 + 60 }, claimsAsked: { access_token: {} } }, NOW);
  assert.match(t.title, /^Token with the claims from Sandbox: a new token$/);
  assert.match(Object.fromEntries(t.lines).Claims, /^v2\.0 · no amr \(v2\.0\) · no acrs · expires /);
  assert.match(step({ type: "token", why: "start", provider: "Office SSO", source: "office", claims: {} }).title, /from Office/);
  assert.match(step({ type: "recover", action: "retry_later", seconds: 3 }).title, /waiting 3 s as asked/);
  assert.equal(step({ type: "done", ok: true, recovered: "token_expired" }).title, "Recovered from token_expired: the call succeeded");
  assert.equal(step({ type: "done", ok: false, code: "blocked_by_policy", action: "fatal" }).title, "Failed: blocked_by_policy (fatal)");
  assert.equal(step({ type: "response", ok: false, status: 401 }), null, "a problem step follows instead");
  assert.match(tokenLine({ ver: "1.0", amr: ["pwd"], exp: NOW / 1000 - 5 }, NOW), /amr pwd · no acrs · EXPIRED/);
});
