// jwt.js: reads a token's claims in the browser, for the token inspector and
// the trace. Nothing here sends, stores or shows the token itself: callers get
// the decoded payload (claims only, no signature), which names the user and
// the session but cannot be replayed.

/** decodeClaims returns a JWT's payload as an object, or null when it is not a readable JWT. */
export function decodeClaims(token) {
  if (typeof token !== "string") return null;
  const parts = token.split(".");
  if (parts.length !== 3) return null;
  try {
    const claims = JSON.parse(base64UrlDecode(parts[1]));
    return claims && typeof claims === "object" && !Array.isArray(claims) ? claims : null;
  } catch {
    return null; // never the token in an error
  }
}

function base64UrlDecode(s) {
  const b64 = s.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(s.length / 4) * 4, "=");
  const bin = atob(b64);
  return new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)));
}

/**
 * INSPECTED are the claims the inspector shows, in order, with what each says.
 * client is azp (v2.0) or appid (v1.0): the app the token was issued to.
 */
export const INSPECTED = [
  ["ver", "token version"],
  ["aud", "audience: the API it is for"],
  ["client", "azp (v2.0) or appid (v1.0): the app it was issued to"],
  ["amr", "how the user signed in (v1.0 tokens only)"],
  ["acrs", "authentication contexts satisfied"],
  ["scp", "scopes"],
  ["exp", "expires"],
];

/** inspect picks the claims the inspector shows from a payload; absent claims are undefined. */
export function inspect(claims, now = Date.now()) {
  if (!claims) return null;
  const exp = typeof claims.exp === "number" ? claims.exp * 1000 : undefined;
  return {
    ver: claims.ver,
    aud: claims.aud,
    client: claims.azp || claims.appid,
    amr: Array.isArray(claims.amr) ? claims.amr.join(", ") : undefined,
    acrs: Array.isArray(claims.acrs) ? claims.acrs.join(", ") : undefined,
    scp: claims.scp,
    exp: exp === undefined ? undefined : new Date(exp).toISOString(),
    expired: exp !== undefined && exp <= now,
    user: claims.preferred_username || claims.upn || claims.unique_name || claims.name,
    uti: claims.uti, // which token: two tokens with the same claims differ here
  };
}

/** changed lists the inspected claims whose values differ between two inspect() results. */
export function changed(before, after) {
  if (!before || !after) return [];
  return INSPECTED.map(([k]) => k).filter((k) => k !== "exp" && String(before[k] ?? "") !== String(after[k] ?? ""));
}

/**
 * readClaimsChallenge turns a problem's claims (plain JSON, or base64 as in
 * WWW-Authenticate) into an object, or null.
 */
export function readClaimsChallenge(claims) {
  if (!claims || typeof claims !== "string") return null;
  for (const text of [claims, safe(() => atob(claims))]) {
    const v = safe(() => JSON.parse(text));
    if (v && typeof v === "object") return v;
  }
  return null;
}

function safe(f) {
  try {
    return f();
  } catch {
    return null;
  }
}
