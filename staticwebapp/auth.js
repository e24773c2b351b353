// auth.js: where the task pane's token comes from. Each provider implements
// the TokenProvider of api.js (getToken, consent, signIn):
//
//   NaaProvider       MSAL.js Nested App Authentication, where the host supports
//                     NestedAppAuth 1.1 (the current way; the host brokers tokens)
//   OfficeSsoProvider Office's legacy SSO (Office.auth.getAccessToken), falling
//                     back to the sign-in dialog where Office says SSO cannot work
//   DialogProvider    MSAL.js in an Office dialog (fallbackauthdialog.html): the
//                     fallback sign-in, and the consent dialog for Graph scopes
//   SandboxProvider   only under the local sandbox (dev/sandbox): tokens minted by
//                     the Entra emulator for named dev users
//
// Nothing here logs a token or puts one in an error message.

export const OFFICE_JS = "https://appsforoffice.microsoft.com/lib/1/hosted/office.js";
export const MSAL_JS = "lib/msal-browser.min.js"; // copied from node_modules by `make pane`
const GRAPH = "https://graph.microsoft.com/";

/** An authentication failure, with a code and a message for the user. */
export class AuthError extends Error {
  constructor(code, message, { fallback = false, officeCode } = {}) {
    super(message);
    this.name = "AuthError";
    this.code = code;
    this.fallback = fallback; // Office says: use another way to sign in
    if (officeCode !== undefined) this.officeCode = officeCode;
  }
}

// ---------------------------------------------------------------------------
// Finding out where we run.

/**
 * detectSandbox asks the page's own origin for the sandbox's config. Static
 * Web Apps answers 404 (staticwebapp.config.json makes sure of it), so a
 * deployed pane never takes the sandbox path.
 */
export async function detectSandbox(fetchFn = globalThis.fetch.bind(globalThis)) {
  try {
    const res = await fetchFn("/.sandbox/config", { cache: "no-store" });
    if (!res.ok || !(res.headers.get("Content-Type") || "").includes("application/json")) return null;
    const cfg = await res.json();
    return cfg && cfg.sandbox === true ? cfg : null;
  } catch {
    return null;
  }
}

/** loadScript adds a script tag and settles when it loads, fails, or times out. */
export function loadScript(src, timeoutMs) {
  return new Promise((resolve, reject) => {
    const s = document.createElement("script");
    const timer = setTimeout(() => reject(new Error(`${src} did not load within ${timeoutMs / 1000} s`)), timeoutMs);
    s.src = src;
    s.onload = () => { clearTimeout(timer); resolve(); };
    s.onerror = () => { clearTimeout(timer); reject(new Error(`${src} could not be loaded`)); };
    document.head.appendChild(s);
  });
}

/**
 * loadOffice loads office.js from Microsoft's CDN and waits for Office.onReady.
 * It resolves to onReady's info ({host, platform}); info.host is null when the
 * page is open in a plain browser. Bounded, so a pane opened offline or outside
 * Office says so instead of hanging.
 */
export async function loadOffice(timeoutMs = 15_000) {
  if (!globalThis.Office) await loadScript(OFFICE_JS, timeoutMs);
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error("Office.onReady did not settle")), timeoutMs);
  });
  try {
    return await Promise.race([Office.onReady(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** chooseOfficeProvider picks NAA where the host supports it, else legacy Office SSO. */
export function chooseOfficeProvider(cfg, { onEvent = () => {} } = {}) {
  if (Office.context.requirements.isSetSupported("NestedAppAuth", "1.1")) return new NaaProvider(cfg);
  return new OfficeSsoProvider(cfg, { onEvent });
}

/** The scope of the add-in's own API, as NAA and the dialog ask for it. */
export function apiScope(cfg) {
  return cfg.appIdUri.replace(/\/$/, "") + "/access_as_user";
}

export function graphScopes(scopes) {
  return scopes.map((s) => (s.includes("://") ? s : GRAPH + s));
}

let msalLoading;
/** loadMsal loads MSAL.js (the UMD build exposes window.msal) once, only when a provider needs it. */
export function loadMsal() {
  msalLoading ??= loadScript(MSAL_JS, 20_000).then(() => globalThis.msal);
  return msalLoading;
}

// ---------------------------------------------------------------------------
// Nested App Authentication.

export class NaaProvider {
  name = "Nested App Authentication (MSAL.js)";

  constructor(cfg, { msalLoader = loadMsal } = {}) {
    this.cfg = cfg;
    this.msalLoader = msalLoader;
  }

  async pca() {
    // createNestablePublicClientApplication hands token requests to the Office
    // host's broker. The app registration needs the SPA redirect
    // brk-multihub://<add-in domain> for the host to broker for it.
    this.pcaPromise ??= this.msalLoader().then((msal) =>
      msal.createNestablePublicClientApplication({
        auth: { clientId: this.cfg.clientId, authority: this.cfg.authority },
      }),
    );
    return this.pcaPromise;
  }

  async getToken({ forceRefresh = false, claims } = {}) {
    const pca = await this.pca();
    const request = { scopes: [apiScope(this.cfg)], forceRefresh, claims };
    const account = pca.getActiveAccount() || pca.getAllAccounts()[0];
    try {
      const result = account
        ? await pca.acquireTokenSilent({ ...request, account })
        : await pca.ssoSilent({ ...request, loginHint: await officeLoginHint() });
      this.lastSource = result.fromCache ? "cached" : "fresh";
      return result.accessToken;
    } catch (err) {
      // The NAA guidance: when acquireTokenSilent fails, call
      // acquireTokenPopup (the host shows its own prompt: MFA, consent, an
      // expired session). Only a cancelled prompt is final.
      if (isCancelled(err)) throw msalError(err);
    }
    return this.popup(request);
  }

  async popup(request) {
    const pca = await this.pca();
    try {
      const token = (await pca.acquireTokenPopup(request)).accessToken;
      this.lastSource = "popup";
      return token;
    } catch (err) {
      throw msalError(err);
    }
  }

  async consent(scopes) {
    await this.popup({ scopes: graphScopes(scopes), prompt: "consent" });
  }

  signIn() {
    return this.popup({ scopes: [apiScope(this.cfg)] });
  }
}

async function officeLoginHint() {
  try {
    const ctx = await Office.auth.getAuthContext();
    return ctx.userPrincipalName;
  } catch {
    return undefined; // older hosts: MSAL silent without a hint, then popup
  }
}

function isCancelled(err) {
  return ((err && (err.errorCode || err.code)) || "") === "user_cancelled";
}

function msalError(err) {
  if (err instanceof AuthError) return err;
  const code = (err && (err.errorCode || err.code)) || "msal_error";
  if (code === "user_cancelled") return new AuthError(code, "Sign-in was cancelled.");
  // errorMessage is MSAL's text for the user; it never includes tokens.
  return new AuthError(code, `MSAL.js: ${(err && (err.errorMessage || err.message)) || code}`);
}

// ---------------------------------------------------------------------------
// Legacy Office SSO.

/**
 * OFFICE_SSO_ERRORS explains Office.auth.getAccessToken's 13xxx errors, after
 * Microsoft's "Troubleshoot error messages for legacy Office single sign-on".
 * fallback: the page says to fall back to another way of signing in.
 */
export const OFFICE_SSO_ERRORS = {
  13000: { fallback: true, message: "This Office version or the add-in's manifest does not support SSO (getAccessToken); check that the manifest has a WebApplicationInfo section." },
  13001: { fallback: false, message: "You are not signed in to Office. Sign in to Office and try again." },
  13002: { fallback: false, message: "Sign-in or consent was cancelled. Use a button to try again when you are ready." },
  13003: { fallback: true, message: "This account type is not supported for SSO (e.g. an on-premises domain account, or modern authentication is off for the tenant in Exchange Online)." },
  13004: { fallback: false, message: "Invalid resource: the manifest's WebApplicationInfo Resource must be on the add-in's own domain (api://<domain>/<client id>). A developer must fix the manifest." },
  13005: { fallback: true, message: "Invalid grant: Office is not pre-authorized for the add-in's API (authorize client ea5a67f6-b6f3-4338-b240-c655ddc3cc8e under \"Expose an API\"), or consent to profile is missing or revoked." },
  13006: { fallback: false, message: "Office on the web hit a client error. Sign out, then restart the Office browser session." },
  13007: { fallback: true, message: "Office could not get a token for the add-in's API: check that the app registration and manifest list the profile (and openid) scope and that the app is enabled for sign-in; or the account type does not match." },
  13008: { fallback: false, message: "A previous sign-in is still in progress. Wait for it to finish, then try again." },
  13010: { fallback: false, message: "Office on the web in Microsoft Edge: your Microsoft 365 domain and login.microsoftonline.com are in different security zones." },
  13012: { fallback: true, message: "SSO is not available here (unsupported platform, Edit in Teams, or Graph consent not granted by an admin for a Marketplace add-in; when sideloading in Outlook with forMSGraphAccess this is expected)." },
  13013: { fallback: true, message: "Office throttled getAccessToken: it was called too often in a short time." },
  50001: { fallback: true, message: "Office's script is cached from an old version, or this Office version is too old for SSO. Clear the browser cache, or update Office." },
};

/** officeSsoError turns an Office error ({code, message}) into an AuthError with a clear message. */
export function officeSsoError(err) {
  const code = Number(err && err.code);
  const known = OFFICE_SSO_ERRORS[code];
  if (!known) return new AuthError("office_" + (code || "error"), `Office SSO failed: ${(err && err.message) || "unknown error"}`, { officeCode: code || undefined });
  return new AuthError("office_" + code, `Office SSO error ${code}: ${known.message}`, { fallback: known.fallback, officeCode: code });
}

export class OfficeSsoProvider {
  name = "Office SSO (legacy getAccessToken)";

  constructor(cfg, { onEvent = () => {}, office = () => globalThis.Office, dialog } = {}) {
    this.cfg = cfg;
    this.onEvent = onEvent;
    this.office = office;
    // forMSGraphAccess asks Office to check up front that Graph consent exists;
    // 13012 then means it does not, or that we are sideloaded in Outlook where
    // the check is bogus: we ask once more without it and let the API's OBO
    // decide (consent_required opens the dialog).
    this.forMSGraphAccess = true;
    this.dialog = dialog || new DialogProvider(cfg, { office });
    this.fallback = null; // the DialogProvider, once Office said SSO cannot work here
  }

  get lastSource() {
    return this.fallback ? this.fallback.lastSource : "office"; // Office answers from its own cache or not: it does not say
  }

  async getToken({ forceRefresh = false, claims } = {}) {
    if (this.fallback) return this.fallback.getToken({ forceRefresh, claims });
    try {
      return await this.officeToken(claims);
    } catch (err) {
      if (err.code === 13012 && this.forMSGraphAccess) {
        this.forMSGraphAccess = false;
        this.onEvent({ type: "office-sso", message: "Office answered 13012 with forMSGraphAccess; asking again without it." });
        try {
          return await this.officeToken(claims);
        } catch (again) {
          err = again;
        }
      }
      const authErr = officeSsoError(err);
      if (!authErr.fallback) throw authErr;
      this.onEvent({ type: "office-sso", message: authErr.message + " Falling back to the sign-in dialog." });
      this.fallback = this.dialog;
      return this.fallback.getToken({ forceRefresh: true, claims });
    }
  }

  officeToken(claims) {
    const options = { allowSignInPrompt: true, allowConsentPrompt: true, forMSGraphAccess: this.forMSGraphAccess };
    if (claims) options.authChallenge = claims;
    return this.office().auth.getAccessToken(options);
  }

  // Office can only consent to profile, never to Graph scopes: consent happens in the dialog.
  consent(scopes) {
    return this.dialog.consent(scopes);
  }

  // Office's SSO cannot show Entra's pages on request; the sign-in dialog can,
  // and stays the way to sign in from then on.
  signIn() {
    this.fallback = this.dialog;
    return this.dialog.signIn();
  }
}

// ---------------------------------------------------------------------------
// The Office dialog running MSAL.js (fallbackauthdialog.html).

export class DialogProvider {
  name = "Sign-in dialog (MSAL.js)";

  constructor(cfg, { office = () => globalThis.Office, now = () => Date.now() } = {}) {
    this.cfg = cfg;
    this.office = office;
    this.now = now;
    this.cached = null; // {token, expiresOn}; in memory only
  }

  async getToken({ forceRefresh = false, claims } = {}) {
    if (!forceRefresh && !claims && this.cached && this.cached.expiresOn - 5 * 60_000 > this.now()) {
      this.lastSource = "cached";
      return this.cached.token;
    }
    const result = await openAuthDialog(this.office(), { mode: "token", claims });
    this.cached = { token: result.accessToken, expiresOn: result.expiresOn || this.now() + 30 * 60_000 };
    this.lastSource = "dialog";
    return result.accessToken;
  }

  async consent(scopes) {
    await openAuthDialog(this.office(), { mode: "consent", scopes: scopes.join(" ") });
  }

  signIn() {
    return this.getToken({ forceRefresh: true });
  }
}

/** Office dialog errors worth explaining (displayDialogAsync and DialogEventReceived). */
const DIALOG_ERRORS = {
  12002: "The dialog page was not found or could not be loaded.",
  12003: "The dialog page must be https.",
  12004: "The dialog page is not on the add-in's domain or in its AppDomains.",
  12005: "The dialog page must be https.",
  12006: "The dialog was closed before sign-in finished.",
  12007: "A dialog is already open.",
  12009: "The dialog was blocked: allow Office to open the window, then try again.",
  12011: "The browser's security zone settings block the dialog.",
};

/**
 * openAuthDialog opens fallbackauthdialog.html and resolves with the message it
 * sends back ({status: "ok", ...}). Only messages from our own origin count.
 */
export function openAuthDialog(office, params) {
  return new Promise((resolve, reject) => {
    const url = new URL("fallbackauthdialog.html", globalThis.location.href);
    for (const [k, v] of Object.entries(params)) if (v) url.searchParams.set(k, v);
    office.context.ui.displayDialogAsync(url.href, { height: 60, width: 30 }, (opened) => {
      if (opened.status === office.AsyncResultStatus.Failed) {
        const code = opened.error.code;
        reject(new AuthError("dialog_" + code, DIALOG_ERRORS[code] || `The dialog could not open: ${opened.error.message}`));
        return;
      }
      const dialog = opened.value;
      dialog.addEventHandler(office.EventType.DialogMessageReceived, (arg) => {
        // Not our page. Hosts with DialogOrigin 1.1 always say where a message came from.
        if (arg.origin ? arg.origin !== globalThis.location.origin : office.context.requirements?.isSetSupported?.("DialogOrigin", "1.1")) return;
        dialog.close();
        let msg;
        try {
          msg = JSON.parse(arg.message);
        } catch {
          reject(new AuthError("dialog_bad_message", "The sign-in dialog answered something unreadable."));
          return;
        }
        if (msg.status === "ok" && msg.mode !== (params.mode || "token")) {
          reject(new AuthError("dialog_bad_message", "The sign-in dialog answered for another request."));
        } else if (msg.status === "ok") resolve(msg);
        else reject(new AuthError(msg.code || "dialog_error", msg.message || "Sign-in in the dialog failed."));
      });
      dialog.addEventHandler(office.EventType.DialogEventReceived, (arg) => {
        reject(new AuthError("dialog_" + arg.error, DIALOG_ERRORS[arg.error] || `The dialog closed (${arg.error}).`));
      });
    });
  });
}

// ---------------------------------------------------------------------------
// The local sandbox.

/**
 * SandboxProvider plays Office's part under dev/sandbox: it asks the sandbox to
 * mint a token for the picked dev user, in the chosen token profile (v2.0 NAA,
 * or v1.0 as Outlook on the web / desktop's legacy SSO issue them).
 */
export class SandboxProvider {
  name = "Sandbox (Entra emulator)";

  constructor(cfg, { fetch: fetchFn = globalThis.fetch.bind(globalThis), now = () => Date.now() } = {}) {
    this.cfg = cfg;
    this.fetch = fetchFn;
    this.now = now;
    this.user = "";
    this.profile = (cfg.profiles && cfg.profiles[0] && cfg.profiles[0].id) || "";
    this.cached = null;
  }

  /**
   * pick signs in as a dev user: tokens of the previous user are dropped and
   * the sandbox starts the user's scenario over, so it can be replayed.
   */
  async pick(user, profile = this.profile) {
    this.user = user;
    this.profile = profile;
    this.cached = null;
    if (!user) return;
    const res = await this.fetch("/.sandbox/signin", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ user }),
    });
    if (!res.ok) throw new AuthError("sandbox_signin", `The sandbox could not sign in ${user}: ${await res.text()}`);
  }

  async getToken({ forceRefresh = false, claims } = {}) {
    if (!this.user) throw new AuthError("sandbox_no_user", "Pick a dev user first (the sandbox's sign-in).");
    if (!forceRefresh && !claims && this.cached && this.cached.expiresAt - 60_000 > this.now()) {
      this.lastSource = "cached";
      return this.cached.token;
    }
    const q = new URLSearchParams({ user: this.user, profile: this.profile });
    if (forceRefresh) q.set("fresh", "1");
    if (claims) q.set("claims", claims);
    const res = await this.fetch("/.sandbox/token?" + q, { cache: "no-store" });
    if (!res.ok) throw new AuthError("sandbox_token", `The sandbox could not mint a token: ${await res.text()}`);
    const body = await res.json();
    this.cached = { token: body.accessToken, expiresAt: Date.parse(body.expiresAt) };
    this.lastSource = "fresh";
    return body.accessToken;
  }

  async consent(scopes) {
    if (!this.user) throw new AuthError("sandbox_no_user", "Pick a dev user first.");
    const res = await this.fetch("/.sandbox/consent", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ user: this.user, scopes }),
    });
    if (!res.ok) throw new AuthError("sandbox_consent", `The sandbox could not grant consent: ${await res.text()}`);
  }

  // The sandbox's sign-in page is its picker: a fresh token for the picked user.
  signIn() {
    return this.getToken({ forceRefresh: true });
  }

  /** holdsToken says whether a token was handed out since the last pick (a session to sign out). */
  get holdsToken() {
    return this.cached !== null;
  }

  /**
   * inspectToken asks the sandbox for the token another host would issue the
   * picked user now (outside the scenario) and returns its claims only.
   */
  async inspectToken(profile, decode) {
    const q = new URLSearchParams({ user: this.user, profile, inspect: "1" });
    const res = await this.fetch("/.sandbox/token?" + q, { cache: "no-store" });
    if (!res.ok) throw new AuthError("sandbox_token", `The sandbox could not mint a token: ${await res.text()}`);
    return decode((await res.json()).accessToken);
  }
}
