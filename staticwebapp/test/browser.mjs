// Browser test of the task pane under the local sandbox, in Debian's Chromium
// driven by playwright-core (never a downloaded browser), at task-pane width
// (350 px). dev/sandbox's Go test starts the sandbox and runs:
//
//   node staticwebapp/test/browser.mjs <pane URL> <screenshot dir>
//
// It plays every dev user's scenario in a v2.0 and a v1.0 token through the
// sandbox's controls, and the MFA policies, and asserts what the "what
// happened" trace shows: the codes, the actions, recovered or not. It runs
// axe-core on the pane's states (no serious or critical violation), plays the
// pane inside an Office host (legacy SSO and NAA, a dark Office theme), and
// opens the dialog page alone. It fails on any console error (CSP violations
// included), page error, request leaving the sandbox's origin, or token text
// on the page. The last line of output is a JSON summary.
import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MSAL_SHIM, installOffice } from "./office-host.mjs";

const [url, shotDir = tmpdir()] = process.argv.slice(2);
if (!url) {
  console.error("usage: node browser.mjs <pane URL> [screenshot dir]");
  process.exit(2);
}
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const AXE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
const origin = new URL(url).origin;
const JWT = /eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/;

const summary = { passed: [], screenshots: [], axe: [] };
const problems = []; // console errors, page errors, foreign requests

const profileDir = mkdtempSync(join(tmpdir(), "pane-chromium-"));
const context = await chromium.launchPersistentContext(profileDir, {
  executablePath: CHROMIUM,
  headless: true,
  viewport: { width: 350, height: 900 }, // a task pane
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
context.setDefaultTimeout(20_000);

/** watch fails the test on console errors, page errors and requests leaving the sandbox. */
function watch(p, label) {
  p.on("console", (msg) => {
    if (msg.type() !== "error") return;
    // Chromium reports every unsuccessful fetch; the API's problems are expected here.
    const where = msg.location().url || "";
    const expected = msg.text().startsWith("Failed to load resource") && (where.startsWith(origin + "/api/") || where === origin + "/.sandbox/config");
    if (!expected) problems.push(`console error (${label}): ${msg.text()} (${where})`);
  });
  p.on("pageerror", (err) => problems.push(`page error (${label}): ${err.message}`));
  p.on("request", (req) => {
    const u = new URL(req.url());
    if (u.protocol !== "blob:" && u.protocol !== "data:" && u.origin !== origin) problems.push(`request left the sandbox (${label}): ${req.url()}`);
  });
}

const pass = (name) => {
  summary.passed.push(name);
  console.log("ok   " + name);
};

async function shot(p, name) {
  const file = join(shotDir, name);
  await p.screenshot({ path: file, fullPage: true });
  summary.screenshots.push(file);
}

/** axe runs axe-core in the page (evaluate is not subject to the page's CSP) and fails on serious or critical violations. */
async function axe(p, name) {
  await p.evaluate(AXE);
  const violations = await p.evaluate(async () => (await globalThis.axe.run(document, { resultTypes: ["violations"] })).violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 3) })));
  summary.axe.push({ name, violations: violations.map((v) => `${v.impact}: ${v.id}`) });
  const bad = violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(bad, [], `axe (${name}): serious or critical violations`);
  pass(`axe: ${name}: no serious or critical violation (${violations.length} minor)`);
}

/** noToken fails when something shaped like a JWT is on the page. */
async function noToken(p) {
  const text = await p.locator("body").innerText();
  const html = await p.content();
  assert.doesNotMatch(text, JWT, "a token is shown on the page");
  assert.doesNotMatch(html, JWT, "a token is in the page's DOM");
}

/** readTrace returns the trace's steps: kind, code and title. */
const readTrace = (p) =>
  p.$$eval("#trace li", (lis) => lis.map((li) => ({ kind: li.dataset.kind, code: li.dataset.code || "", title: li.querySelector(".step-title").textContent, text: li.textContent })));

/** readError returns the error card's code and action, or null when it is hidden. */
const readError = (p) =>
  p.$eval("#error", (e) =>
    e.hidden ? null : { code: e.dataset.code, action: e.dataset.action, detail: e.querySelector('[data-field="detail"]').textContent, correlationId: e.querySelector('[data-field="correlationId"]').textContent, retry: !e.querySelector("#error-retry").hidden },
  );

// aria-disabled is set at once; Fluent reflects disabled to its attribute later (batched).
const enabled = (p, sel) => p.locator(`${sel}:not([aria-disabled])`).waitFor();

try {
  const page = context.pages()[0] || (await context.newPage());
  watch(page, "pane");
  await page.goto(url);
  await page.locator("#sandbox").waitFor({ state: "visible" });
  assert.match(await page.locator("#provider").textContent(), /Sandbox/);
  assert.equal(await page.$eval("#btn-validate", (b) => b.disabled), true, "calls wait for a sign-in");
  assert.equal(await page.$eval("#btn-reset", (b) => b.disabled), true, "nothing to sign in again before a sign-in");
  await shot(page, "00-start.png");
  await axe(page, "start");
  pass("before a sign-in the buttons are disabled");

  const field = (section, name) => page.locator(`${section} [data-field="${name}"]`).textContent();

  /** choose picks an option of a Fluent dropdown as a user does: open it, click the option. */
  async function choose(dropdown, value) {
    await page.click(dropdown);
    await page.click(`${dropdown} fluent-option[value="${value}"]`);
  }

  /** signedIn waits until the pane says it signed in as user and is ready. */
  async function signedIn(user) {
    await page.locator("#trace li", { hasText: `Signed in as ${user} (` }).waitFor();
    await enabled(page, "#btn-validate");
  }

  /** pick signs in as a dev user with a token profile through the sandbox's controls; the same pair again is Sign in again. */
  async function pick(user, profile = "naa") {
    const now = await page.evaluate(() => [document.querySelector("#sandbox-user").value, document.querySelector("#sandbox-profile").value]);
    if (now[1] !== profile) {
      await choose("#sandbox-profile", profile);
      if (now[0]) await signedIn(now[0]);
    }
    if (now[0] !== user) await choose("#sandbox-user", user);
    else if (now[1] === profile) await page.click("#btn-reset");
    await signedIn(user);
  }

  /** run clicks a button and waits until the pane is done; it returns the trace and the error shown. */
  async function run(button) {
    await page.click(button);
    await enabled(page, "#btn-validate");
    return { trace: await readTrace(page), error: await readError(page) };
  }

  const titles = (r) => r.trace.map((s) => `[${s.kind}] ${s.title}`).join(" | ");

  /** expectClean: the call succeeded with no problem. */
  function expectClean(r, what) {
    assert.equal(r.error, null, `${what}: ${JSON.stringify(r.error)}`);
    assert.ok(!r.trace.some((s) => s.kind === "problem"), `${what}: no problem expected: ${titles(r)}`);
    assert.match(r.trace.at(-1).title, /^The call succeeded/, `${what}: ${titles(r)}`);
  }

  /** expectRecovered: one problem with code, the action taken, one retry, then success. */
  function expectRecovered(r, what, code, action, aadsts) {
    assert.equal(r.error, null, `${what}: ${JSON.stringify(r.error)}; ${titles(r)}`);
    const p = r.trace.filter((s) => s.kind === "problem");
    assert.deepEqual(p.map((s) => s.code), [code], `${what}: ${titles(r)}`);
    if (aadsts) assert.match(p[0].text, new RegExp("AADSTS" + aadsts), `${what}: the AADSTS number is shown`);
    assert.match(p[0].text, /Correlation ID/, `${what}: the correlation ID is shown`);
    assert.ok(r.trace.some((s) => s.kind === "action" && s.title.includes(`acts on ${action}`)), `${what}: the pane acted on ${action}: ${titles(r)}`);
    assert.ok(r.trace.some((s) => s.kind === "retry"), `${what}: one retry: ${titles(r)}`);
    assert.equal(r.trace.at(-1).title, `Recovered from ${code}: the call succeeded`, `${what}: ${titles(r)}`);
  }

  /** expectFatal: shown with its code and fatal, not retried, no Try again. */
  function expectFatal(r, what, code) {
    assert.ok(r.error, `${what}: an error is shown: ${titles(r)}`);
    assert.equal(r.error.code, code);
    assert.equal(r.error.action, "fatal");
    assert.match(r.error.correlationId, /^[A-Za-z0-9._-]{8,64}$/);
    assert.equal(r.error.retry, false, `${what}: a fatal problem offers no Try again`);
    assert.ok(!r.trace.some((s) => s.kind === "retry"), `${what}: not retried: ${titles(r)}`);
    assert.match(r.trace.at(-1).title, new RegExp(`^Failed: ${code}`));
  }

  const VERSIONS = [
    ["naa", "2.0"],
    ["desktop-v1", "1.0"],
  ];

  // --- Every dev user's scenario, in a v2.0 and a v1.0 token, with the MFA policy off.
  for (const [profile, ver] of VERSIONS) {
    const tag = `${profile}`;

    await pick("alice", profile);
    let r = await run("#btn-validate");
    expectClean(r, `alice validate ${tag}`);
    assert.equal(await field("#identity", "name"), "Alice Anders");
    assert.equal(await field("#identity", "tokenVersion"), ver);
    assert.equal(await field("#identity", "mfa"), ver === "2.0" ? "unknown" : "false");
    assert.match(await page.locator("#token").textContent(), new RegExp(`ver\\s*${ver.replace(".", "\\.")}`));
    if (ver === "2.0") await shot(page, `alice-${tag}-validate.png`);
    r = await run("#btn-exchange");
    expectClean(r, `alice exchange ${tag}`);
    r = await run("#btn-me");
    expectClean(r, `alice /me ${tag}`);
    assert.equal(JSON.parse(await page.locator("#graph-body pre").textContent()).userPrincipalName, "alice@contoso.example");
    r = await run("#btn-messages");
    expectClean(r, `alice messages ${tag}`);
    r = await run("#btn-photo");
    expectClean(r, `alice photo ${tag}`);
    await shot(page, `alice-${tag}-graph.png`);
    pass(`alice ${tag}: validate, exchange, /me, messages, photo`);

    await pick("mfa-bob", profile);
    r = await run("#btn-validate");
    expectClean(r, `bob validate ${tag}`);
    r = await run("#btn-exchange");
    expectRecovered(r, `bob exchange ${tag}`, "claims_challenge", "auth_challenge", "50076");
    const bobProblem = r.trace.find((s) => s.kind === "problem").text;
    assert.match(bobProblem, /Entra ID: Conditional Access/, "an Entra challenge is named as Entra's");
    assert.match(bobProblem, /polids/, "the claims are shown decoded");
    assert.ok(await page.locator("#identity-stale").isVisible(), "the identity card says it shows an earlier token");
    const stepUp = await page.locator("#token table.claims").textContent();
    assert.match(stepUp, /before.*after/s, "the inspector shows the token before and after the step-up");
    if (ver === "1.0") {
      assert.match(await page.locator("#token tr.changed").first().textContent(), /amr\s*pwd\s*pwd, mfa/, "amr before and after");
    } else {
      assert.match(await page.locator("#token .note").textContent(), /changed nothing the API can read/);
    }
    await shot(page, `mfa-bob-${tag}-stepup.png`);
    if (ver === "2.0") await axe(page, "a recovered step-up (mfa-bob)");
    // The scenario replays at every sign-in: a new session, challenged again.
    await pick("mfa-bob", profile);
    r = await run("#btn-exchange");
    expectRecovered(r, `bob exchange after Sign in again ${tag}`, "claims_challenge", "auth_challenge", "50076");
    pass(`mfa-bob ${tag}: 50076 at the exchange, step-up, recovered; replays after Sign in again`);

    await pick("consent-carol", profile);
    r = await run("#btn-exchange");
    expectRecovered(r, `carol exchange ${tag}`, "consent_required", "consent", "65001");
    await shot(page, `consent-carol-${tag}-consent.png`);
    pass(`consent-carol ${tag}: consent step, recovered`);

    await pick("throttled-dave", profile);
    r = await run("#btn-me");
    expectRecovered(r, `dave /me ${tag}`, "upstream_unavailable", "retry_later");
    assert.ok(r.trace.some((s) => s.title.includes("waiting 3 s")), "the wait is shown");
    await shot(page, `throttled-dave-${tag}-throttled.png`);
    pass(`throttled-dave ${tag}: 429, waited Retry-After, recovered`);

    await pick("expired-erin", profile);
    r = await run("#btn-validate");
    expectRecovered(r, `erin validate ${tag}`, "token_expired", "retry_sso");
    assert.match(r.trace.find((s) => s.kind === "token").text, /EXPIRED/, "the first token is shown expired");
    await shot(page, `expired-erin-${tag}-validate.png`);
    await pick("expired-erin", profile);
    r = await run("#btn-exchange");
    expectRecovered(r, `erin exchange first ${tag}`, "token_expired", "retry_sso");
    pass(`expired-erin ${tag}: the first click recovers (validate, or exchange first)`);

    await pick("outage-olga", profile);
    r = await run("#btn-exchange");
    expectRecovered(r, `olga exchange ${tag}`, "upstream_unavailable", "retry_later");
    await shot(page, `outage-olga-${tag}-outage.png`);
    pass(`outage-olga ${tag}: Entra unavailable, waited, recovered`);

    await pick("cae-cora", profile);
    r = await run("#btn-me");
    expectClean(r, `cora first /me ${tag}`);
    r = await run("#btn-me");
    expectRecovered(r, `cora /me after the revocation ${tag}`, "claims_challenge", "auth_challenge");
    const caeProblem = r.trace.find((s) => s.kind === "problem").text;
    assert.match(caeProblem, /Microsoft Graph: continuous access evaluation/, "Graph's challenge is named as Graph's (CAE)");
    assert.match(caeProblem, /nbf/, "the nbf claims are shown");
    await shot(page, `cae-cora-${tag}-cae.png`);
    pass(`cae-cora ${tag}: Graph's CAE challenge, recovered`);

    await pick("blocked-bea", profile);
    r = await run("#btn-validate");
    expectClean(r, `bea validate ${tag}`);
    r = await run("#btn-exchange");
    expectFatal(r, `bea exchange ${tag}`, "blocked_by_policy");
    assert.match(r.error.detail, /Conditional Access/);
    assert.match(r.trace.find((s) => s.kind === "problem").text, /AADSTS53003/);
    await shot(page, `blocked-bea-${tag}-blocked.png`);
    if (ver === "2.0") await axe(page, "an error shown (blocked-bea)");
    pass(`blocked-bea ${tag}: blocked by Conditional Access, shown, not retried`);

    await pick("fabrikam-frank", profile);
    r = await run("#btn-validate");
    expectFatal(r, `frank validate ${tag}`, "tenant_not_allowed");
    assert.ok(await page.locator("#identity").isHidden());
    await shot(page, `fabrikam-frank-${tag}-tenant.png`);
    pass(`fabrikam-frank ${tag}: tenant not allowed, shown, not retried`);
  }

  // --- Keyboard: every control is reachable with Tab, and a dropdown works with the keys alone.
  const reached = new Set();
  await page.locator("#btn-validate").focus();
  for (let i = 0; i < 25; i++) {
    await page.keyboard.press("Shift+Tab");
    reached.add(await page.evaluate(() => (document.activeElement?.closest("fluent-dropdown") || document.activeElement?.closest("[id]"))?.id));
  }
  for (let i = 0; i < 25; i++) {
    await page.keyboard.press("Tab");
    reached.add(await page.evaluate(() => (document.activeElement?.closest("fluent-dropdown") || document.activeElement?.closest("[id]"))?.id));
  }
  for (const id of ["sandbox-user", "sandbox-profile", "sandbox-policy", "btn-reset", "btn-validate", "btn-exchange", "btn-me", "btn-messages", "btn-photo", "btn-compare"]) {
    assert.ok(reached.has(id), `#${id} is reachable with Tab: ${[...reached].join(" ")}`);
  }
  await page.locator("#sandbox-user [role=combobox]").focus();
  await page.keyboard.press("ArrowDown"); // opens the list at fabrikam-frank, the last
  await page.keyboard.press("ArrowUp");
  await page.keyboard.press("Enter"); // blocked-bea, the one before
  await signedIn("blocked-bea");
  // Focus comes back to the dropdown (disabled during the sign-in); the test fails by timeout if it does not.
  await page.waitForFunction(() => document.activeElement?.closest("fluent-dropdown")?.id === "sandbox-user");
  pass("keyboard: every control reachable with Tab; the dev user picked with the keys alone");

  // --- The token inspector's side-by-side of Outlook desktop and Outlook on the web.
  await pick("alice", "desktop-v1");
  await page.click("#btn-compare");
  await page.locator("#compare-body table").waitFor();
  const v1 = await page.locator("#compare-body").textContent();
  assert.match(v1, /desktop.*web/s);
  assert.match(await page.locator("#compare-body tr.changed", { hasText: "amr" }).textContent(), /amr\s*pwd\s*pwd, mfa/);
  assert.match(v1, /amr tells them apart/);
  await shot(page, "compare-v1.png");
  await pick("alice", "naa");
  await page.click("#btn-compare");
  await page.locator("#compare-body .note", { hasText: "v2.0" }).waitFor();
  assert.match(await page.locator("#compare-body").textContent(), /neither carries amr/);
  await shot(page, "compare-v2.png");
  await axe(page, "token comparison");
  pass("compare: desktop and web tokens side by side, v1.0 (amr differs) and v2.0 (no amr)");

  // --- The MFA policy switch: the API restarts with ADDIN_MFA_POLICY.
  await choose("#sandbox-policy", "acrs:c1");
  await signedIn("alice");
  for (const [profile] of VERSIONS) {
    await pick("alice", profile);
    const r = await run("#btn-validate");
    expectRecovered(r, `acrs:c1 alice ${profile}`, "mfa_required", "auth_challenge");
    assert.match(r.trace.find((s) => s.kind === "problem").text, /this API \(ADDIN_MFA_POLICY=acrs\)/);
    assert.match(await page.locator("#token tr.changed", { hasText: "acrs" }).textContent(), /acrs\s*\(none\)\s*c1/, "acrs before and after");
    await shot(page, `policy-acrs-${profile}.png`);
  }
  pass("MFA policy acrs:c1: mfa_required, step-up with acrs, recovered, in v2.0 and v1.0");

  await choose("#sandbox-policy", "amr");
  await signedIn("alice");
  await pick("alice", "desktop-v1");
  let r = await run("#btn-validate");
  expectFatal(r, "amr alice desktop-v1", "mfa_missing");
  await shot(page, "policy-amr-desktop-v1.png");
  await pick("alice", "owa-v1");
  r = await run("#btn-validate");
  expectClean(r, "amr alice owa-v1");
  await pick("alice", "naa");
  r = await run("#btn-validate");
  expectFatal(r, "amr alice naa", "server_misconfigured");
  pass("MFA policy amr: desktop v1.0 mfa_missing (fatal), web v1.0 passes, v2.0 server_misconfigured");

  await choose("#sandbox-policy", "off");
  await signedIn("alice");
  r = await run("#btn-validate");
  expectClean(r, "policy off again");
  await axe(page, "after the policy switch");
  pass("MFA policy back to off");

  await noToken(page);
  pass("no token on the page or in its DOM");

  // --- The pane inside an Office host: its real Office code paths, not the sandbox's controls.
  /** hostPage opens the pane as Office would for a signed-in user, with legacy SSO or NAA. */
  async function hostPage(user, profile, naa, officeTheme) {
    await context.request.post(origin + "/.sandbox/signin", { data: { user } });
    const p = await context.newPage();
    watch(p, "host page");
    await p.route("**/.sandbox/config", (route) => route.fulfill({ status: 404, body: "" })); // as on Static Web Apps
    await p.route("**/lib/msal-browser.min.js", (route) => route.fulfill({ contentType: "text/javascript", body: MSAL_SHIM }));
    await p.addInitScript(installOffice, { user, profile, naa, officeTheme });
    await p.goto(url);
    await enabled(p, "#btn-me");
    return p;
  }

  /** hostRun clicks a button on a host page and returns the trace, the error shown and the host's calls. */
  async function hostRun(p, button) {
    await p.evaluate(() => (window.__host.calls.length = 0));
    await p.click(button);
    await enabled(p, "#btn-me");
    return { trace: await readTrace(p), error: await readError(p), calls: await p.evaluate(() => window.__host.calls) };
  }

  // Outlook desktop, legacy SSO, a v1.0 token without MFA under a Conditional
  // Access MFA policy: AADSTS50076 with claims → getAccessToken({ authChallenge })
  // → a token with MFA → Graph data. Office's theme is dark here.
  const DARK = { bodyBackgroundColor: "#262626", bodyForegroundColor: "#ffffff", controlBackgroundColor: "#3b3b3b", controlForegroundColor: "#ffffff" };
  let hp = await hostPage("mfa-bob", "desktop-v1", false, DARK);
  assert.match(await hp.locator("#provider").textContent(), /Office SSO/);
  assert.equal(await hp.evaluate(() => document.documentElement.dataset.theme), "dark", "Office's dark theme is applied");
  r = await hostRun(hp, "#btn-me");
  expectRecovered(r, "legacy SSO step-up", "claims_challenge", "auth_challenge", "50076");
  assert.match(r.trace.find((s) => s.kind === "token").title, /Office SSO.*from Office/, "the token's source is named");
  let challenged = r.calls.filter((c) => c.authChallenge);
  assert.equal(challenged.length, 1, "one getAccessToken with authChallenge: " + JSON.stringify(r.calls));
  assert.match(challenged[0].authChallenge, /polids/, "Entra's own challenge went to Office");
  assert.equal(JSON.parse(await hp.locator("#graph-body pre").textContent()).userPrincipalName, "bob@contoso.example");
  assert.match(await hp.locator("#token tr.changed").first().textContent(), /amr\s*pwd\s*pwd, mfa/);
  await shot(hp, "office-dark-legacy-sso-stepup.png");
  r = await hostRun(hp, "#btn-validate");
  assert.equal(await hp.locator('#identity [data-field="mfa"]').textContent(), "true", "the stepped-up token shows MFA");
  await axe(hp, "Office host, dark theme");
  await noToken(hp);
  await hp.close();
  pass("Office host, legacy SSO, dark theme: Outlook desktop token without MFA, 50076, authChallenge, Graph data");

  // The same with Nested App Authentication: silent fails with the claims, the popup carries them.
  hp = await hostPage("mfa-bob", "naa", true);
  assert.match(await hp.locator("#provider").textContent(), /Nested App Authentication/);
  r = await hostRun(hp, "#btn-me");
  expectRecovered(r, "NAA step-up", "claims_challenge", "auth_challenge", "50076");
  const withClaims = r.calls.filter((c) => c.claims);
  assert.deepEqual(withClaims.map((c) => c.api), ["acquireTokenSilent", "acquireTokenPopup"], JSON.stringify(r.calls));
  assert.match(withClaims[1].claims, /polids/);
  assert.ok(r.trace.some((s) => s.kind === "token" && /sign-in popup/.test(s.title)), "the popup is named as the token's source");
  assert.equal(JSON.parse(await hp.locator("#graph-body pre").textContent()).userPrincipalName, "bob@contoso.example");
  await hp.close();
  pass("Office host, NAA: 50076, MSAL claims through the popup, Graph data");

  // Continuous access evaluation mid-session: Graph revokes, the pane steps up, data again.
  hp = await hostPage("cae-cora", "naa", true);
  r = await hostRun(hp, "#btn-me");
  expectClean(r, "NAA cora before the revocation");
  r = await hostRun(hp, "#btn-me");
  expectRecovered(r, "NAA CAE step-up", "claims_challenge", "auth_challenge");
  challenged = r.calls.filter((c) => c.claims);
  assert.ok(challenged.length >= 1 && /nbf/.test(challenged[0].claims), "Graph's nbf challenge went to MSAL: " + JSON.stringify(r.calls));
  assert.equal(JSON.parse(await hp.locator("#graph-body pre").textContent()).userPrincipalName, "cora@contoso.example");
  await hp.close();
  pass("Office host, NAA: a CAE revocation mid-session, step-up, Graph data again");

  // --- The dialog page opened on its own, offline: it says what it is.
  const dp = await context.newPage();
  await dp.route("https://appsforoffice.microsoft.com/**", (route) => route.abort()); // offline, or outside Office
  await dp.goto(origin + "/fallbackauthdialog.html");
  await dp.locator("#status", { hasText: "sign-in dialog" }).waitFor();
  const said = await dp.locator("#status").textContent();
  assert.doesNotMatch(said, /not defined/);
  assert.match(said, /open the add-in from Office/);
  await shot(dp, "dialog-alone.png");
  await dp.close();
  pass("the dialog page opened alone explains itself");

  assert.deepEqual(problems, [], "console errors, page errors or requests outside the sandbox");
  pass("no console errors, no request outside the sandbox");
} finally {
  await context.close();
  rmSync(profileDir, { recursive: true, force: true });
}

console.log(JSON.stringify(summary));
