// office-host.mjs plays the Office host for the browser test, so the pane's
// real Office code paths run in Chromium: legacy SSO (Office.auth.getAccessToken
// with authChallenge) and Nested App Authentication (MSAL.js's nestable client,
// with claims). Tokens come from the sandbox's /.sandbox/token, which asks the
// Entra emulator: a claims challenge is honoured only as Entra would (the
// challenge it sent, a defined authentication context, nbf), never because it
// was passed. Every call is recorded in window.__host.calls.

/** installOffice runs in the page before its scripts (page.addInitScript). */
export function installOffice({ user, profile, naa, officeTheme }) {
  const calls = [];
  window.__host = { calls };
  // Like Office's and MSAL's caches, the host hands out the token it holds
  // until a request asks for claims or a refresh.
  let held = null;
  const mint = async (claims, refresh) => {
    if (held && !claims && !refresh) return held;
    const q = new URLSearchParams({ user, profile });
    if (claims) q.set("claims", claims);
    const res = await fetch("/.sandbox/token?" + q, { cache: "no-store" });
    if (!res.ok) throw { code: 13001, message: "the host could not get a token: " + res.status };
    held = (await res.json()).accessToken;
    return held;
  };
  window.Office = {
    onReady: async () => ({ host: "Outlook", platform: "PC" }),
    context: { requirements: { isSetSupported: (set) => set === "NestedAppAuth" && naa }, officeTheme },
    auth: {
      // Legacy SSO: with authChallenge, Office prompts the user (here: Entra
      // decides what the claims achieve) and returns the new token.
      getAccessToken: async (options = {}) => {
        calls.push({ api: "getAccessToken", authChallenge: options.authChallenge || null });
        return mint(options.authChallenge);
      },
      getAuthContext: async () => ({ userPrincipalName: user + "@contoso.example" }),
    },
  };
  // The nestable client the host brokers for: silent cannot prompt, so a
  // request with claims fails silently as MSAL's does, and the popup prompts.
  window.__nestable = {
    createNestablePublicClientApplication: async () => ({
      getActiveAccount: () => ({ username: user }),
      getAllAccounts: () => [],
      acquireTokenSilent: async (req) => {
        calls.push({ api: "acquireTokenSilent", claims: req.claims || null });
        if (req.claims) {
          const err = new Error("AADSTS50076: interaction required");
          err.name = "InteractionRequiredAuthError";
          err.errorCode = "interaction_required";
          throw err;
        }
        return { accessToken: await mint(null, req.forceRefresh) };
      },
      acquireTokenPopup: async (req) => {
        calls.push({ api: "acquireTokenPopup", claims: req.claims || null });
        return { accessToken: await mint(req.claims) };
      },
    }),
  };
}

/** MSAL_SHIM replaces lib/msal-browser.min.js: the UMD global the pane loads is the host's nestable client. */
export const MSAL_SHIM = "window.msal = window.__nestable;";
