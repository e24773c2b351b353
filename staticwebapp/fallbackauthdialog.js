// fallbackauthdialog.js: MSAL.js in an Office dialog, for what SSO cannot do:
//
//   ?mode=consent&scopes=User.Read Mail.Read  consent to Graph scopes (Office can
//       only consent to profile; OBO's AADSTS65001 lands here). Answers
//       {status: "ok", mode: "consent"}: no token, the pane simply retries.
//   ?mode=token[&claims=...]  the fallback sign-in when Office SSO cannot work
//       (13000, 13003, 13005, 13007, 13012...): a token for the add-in's own
//       API, sent to the task pane only (same origin).
//
// Popups are blocked in Office dialogs, so MSAL redirects the dialog itself to
// Entra and back here; the app registration needs this page's URL as an SPA
// redirect URI. Without the redirect bridge of MSAL v5, redirect flows work
// only when the redirect URI is the page that calls handleRedirectPromise:
// this one.

import { apiScope, graphScopes } from "./auth.js";

const status = document.getElementById("status");

/** Where this page is opened by hand (a bookmark, a link, a test), it says what it is instead of failing. */
const OUTSIDE_OFFICE =
  "This is the add-in's sign-in dialog: Office opens it when the task pane needs you to sign in or consent, and it closes by itself. " +
  "Opened on its own it has nothing to do: open the add-in from Office (or run the local sandbox: make dev).";

main().catch((err) =>
  reply({ status: "error", code: (err && (err.errorCode || err.code)) || "dialog_error", message: (err && (err.errorMessage || err.message)) || String(err) }),
);

async function main() {
  // office.js comes from Microsoft's CDN: offline, or blocked, Office is not defined at all.
  if (!globalThis.Office) return explain(OUTSIDE_OFFICE + " (Office's script did not load.)");
  const info = await Office.onReady();
  if (!info || !info.host) {
    // Entra redirects back here inside the dialog, where Office is the host; a plain browser tab is not.
    if (typeof Office.context?.ui?.messageParent !== "function") return explain(OUTSIDE_OFFICE);
  }
  const cfg = await (await fetch("config.json", { cache: "no-store" })).json();
  const redirectUri = location.origin + location.pathname;
  const pca = await msal.createStandardPublicClientApplication({
    auth: { clientId: cfg.clientId, authority: cfg.authority, redirectUri },
    cache: { cacheLocation: "sessionStorage" },
  });

  // Coming back from Entra: the request's mode rides in MSAL's state.
  const result = await pca.handleRedirectPromise({ navigateToLoginRequestUrl: false });
  if (result) {
    if (result.state === "consent") return reply({ status: "ok", mode: "consent" });
    return reply({ status: "ok", mode: "token", accessToken: result.accessToken, expiresOn: result.expiresOn ? result.expiresOn.getTime() : undefined });
  }

  const params = new URLSearchParams(location.search);
  const mode = params.get("mode") === "consent" ? "consent" : "token";
  const request =
    mode === "consent"
      ? { scopes: graphScopes(consentScopes(params.get("scopes"), cfg.graphScopes)), prompt: "consent" }
      : { scopes: [apiScope(cfg)], claims: params.get("claims") || undefined };
  status.textContent = mode === "consent" ? "Opening the consent page…" : "Opening the sign-in page…";
  await pca.acquireTokenRedirect({ ...request, state: mode, redirectUri });
}

/**
 * consentScopes keeps only the configured Graph scopes the URL asks for: a link
 * to this page must not prompt users to consent to anything else.
 */
function consentScopes(asked, configured) {
  const allowed = new Map(configured.map((s) => [s.toLowerCase(), s]));
  const kept = (asked || "").split(" ").map((s) => allowed.get(s.toLowerCase())).filter(Boolean);
  return kept.length ? kept : configured;
}

function explain(text) {
  document.title = "Add-in sign-in dialog";
  status.textContent = text;
}

/** reply sends the result to the task pane, and only to our own origin where the host supports saying so. */
function reply(message) {
  status.textContent = message.status === "ok" ? "Done." : "Sign-in failed: " + message.message;
  if (!globalThis.Office || !Office.context || !Office.context.ui) return; // opened outside Office: nothing to answer
  const text = JSON.stringify(message);
  if (Office.context.requirements.isSetSupported("DialogApi", "1.2")) {
    Office.context.ui.messageParent(text, { targetOrigin: location.origin });
  } else {
    Office.context.ui.messageParent(text);
  }
}
