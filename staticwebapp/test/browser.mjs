// Browser test of the task pane under the local sandbox, in Debian's Chromium
// driven by playwright-core (never a downloaded browser). dev/sandbox's Go test
// starts the sandbox and runs:
//
//   node staticwebapp/test/browser.mjs <pane URL> <screenshot dir>
//
// It signs in as dev users through the sandbox's picker, clicks the buttons
// and asserts what the pane shows. It fails on any console error (CSP
// violations included), page error, request leaving the sandbox's origin, or
// token text on the page. The last line of output is a JSON summary.
import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MSAL_SHIM, installOffice } from "./office-host.mjs";

const [url, shotDir = tmpdir()] = process.argv.slice(2);
if (!url) {
  console.error("usage: node browser.mjs <pane URL> [screenshot dir]");
  process.exit(2);
}
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const origin = new URL(url).origin;

const summary = { passed: [], screenshots: [] };
const problems = []; // console errors, page errors, foreign requests

const profileDir = mkdtempSync(join(tmpdir(), "pane-chromium-"));
const context = await chromium.launchPersistentContext(profileDir, {
  executablePath: CHROMIUM,
  headless: true,
  viewport: { width: 420, height: 900 }, // about a task pane
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
context.setDefaultTimeout(20_000);

try {
  const page = context.pages()[0] || (await context.newPage());
  page.on("console", (msg) => {
    if (msg.type() !== "error") return;
    // Chromium reports every unsuccessful fetch; the API's problems are expected here.
    const where = msg.location().url || "";
    if (msg.text().startsWith("Failed to load resource") && where.startsWith(origin + "/api/")) return;
    problems.push(`console error: ${msg.text()} (${where})`);
  });
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
  page.on("request", (req) => {
    const u = new URL(req.url());
    if (u.protocol !== "blob:" && u.protocol !== "data:" && u.origin !== origin) problems.push(`request left the sandbox: ${req.url()}`);
  });

  await page.goto(url);
  await page.locator("#sandbox").waitFor({ state: "visible" });
  assert.match(await page.locator("#provider").textContent(), /Sandbox/);

  const field = (section, name) => page.locator(`${section} [data-field="${name}"]`).textContent();

  // The activity log is cleared before each step, so a step reads only its own entries.
  const clearLog = () => page.evaluate(() => document.querySelector("#log").replaceChildren());

  /** pick signs in as a dev user with a token profile, through the picker. */
  async function pick(user, profile = "naa") {
    await clearLog();
    await page.selectOption("#sandbox-profile", profile);
    await page.selectOption("#sandbox-user", user);
    await page.locator("#log li", { hasText: `Signed in as ${user}` }).first().waitFor();
    await page.locator("#btn-validate:enabled").waitFor();
  }

  /** run clicks a button and waits until the pane is done (buttons enabled again). */
  async function run(button) {
    await clearLog();
    await page.click(button);
    await page.locator("#btn-validate:enabled").waitFor();
    return { error: await errorShown(), log: await page.locator("#log li").allTextContents() };
  }

  async function errorShown() {
    if (await page.locator("#error").isHidden()) return null;
    return { code: await field("#error", "code"), action: await field("#error", "action"), detail: await field("#error", "detail"), correlationId: await field("#error", "correlationId") };
  }

  async function shot(name) {
    const file = join(shotDir, name);
    await page.screenshot({ path: file, fullPage: true });
    summary.screenshots.push(file);
  }

  const pass = (name) => {
    summary.passed.push(name);
    console.log("ok   " + name);
  };

  // --- Validate: who the API says the caller is, per token profile.
  await pick("alice");
  let r = await run("#btn-validate");
  assert.equal(r.error, null, `validate failed: ${JSON.stringify(r.error)}`);
  assert.equal(await field("#identity", "name"), "Alice Anders");
  assert.equal(await field("#identity", "username"), "alice@contoso.example");
  assert.equal(await field("#identity", "tenantId"), "c0de0000-0000-4000-8000-00000000c0de");
  assert.equal(await field("#identity", "tokenVersion"), "2.0");
  assert.match(await field("#identity", "clientApp"), /this add-in \(Nested App Authentication\)/);
  assert.equal(await field("#identity", "mfa"), "unknown");
  assert.match(await field("#identity", "amr"), /v2\.0 tokens carry no amr/);
  await shot("pane-validate.png");
  pass("validate: alice, v2.0 NAA token");

  await pick("alice", "desktop");
  r = await run("#btn-validate");
  assert.equal(r.error, null);
  assert.equal(await field("#identity", "tokenVersion"), "2.0");
  assert.equal(await field("#identity", "mfa"), "unknown", "a v2.0 token cannot show how the user signed in");
  assert.match(await field("#identity", "clientApp"), /Microsoft Office \(desktop\)/);
  pass("validate: alice, v2.0 Outlook desktop token (as infra deploys): MFA unknown");

  await pick("alice", "desktop-v1");
  r = await run("#btn-validate");
  assert.equal(r.error, null);
  assert.equal(await field("#identity", "tokenVersion"), "1.0");
  assert.equal(await field("#identity", "mfa"), "false");
  assert.equal(await field("#identity", "amr"), "pwd");
  assert.match(await field("#identity", "clientApp"), /Microsoft Office \(desktop\)/);
  pass("validate: alice, v1.0 Outlook desktop token without mfa");

  await pick("alice", "owa-v1");
  r = await run("#btn-validate");
  assert.equal(r.error, null);
  assert.equal(await field("#identity", "mfa"), "true");
  assert.equal(await field("#identity", "amr"), "pwd, mfa");
  assert.match(await field("#identity", "clientApp"), /Outlook on the web/);
  pass("validate: alice, v1.0 Outlook on the web token with mfa");

  // --- retry_sso: the first token has expired; one fresh token, one retry.
  await pick("expired-erin");
  r = await run("#btn-validate");
  assert.equal(r.error, null, `validate failed: ${JSON.stringify(r.error)}`);
  assert.equal(await field("#identity", "name"), "Erin Evans");
  assert.ok(r.log.some((l) => l.includes("[retry_sso]")), "the pane logs its retry_sso recovery: " + r.log.join(" | "));
  await shot("pane-retry-sso.png");
  pass("validate: expired token, retry_sso recovered once");

  // --- fatal: shown with code, action and correlation ID.
  await pick("fabrikam-frank");
  r = await run("#btn-validate");
  assert.ok(r.error, "frank's tenant is not allowed");
  assert.equal(r.error.code, "tenant_not_allowed");
  assert.equal(r.error.action, "fatal");
  assert.match(r.error.correlationId, /^[A-Za-z0-9._-]{8,64}$/);
  assert.ok(await page.locator("#identity").isHidden());
  await shot("pane-error.png");
  pass("validate: tenant not allowed is shown, not retried");

  // --- Exchange and Graph for alice.
  await pick("alice");
  r = await run("#btn-exchange");
  assert.equal(r.error, null, `exchange failed: ${JSON.stringify(r.error)}`);
  assert.match(await field("#exchange", "scopes"), /User\.Read/);
  assert.notEqual(await field("#exchange", "source"), "—");
  await shot("pane-exchange.png");
  pass("exchange: alice");

  r = await run("#btn-me");
  assert.equal(r.error, null, `/me failed: ${JSON.stringify(r.error)}`);
  const me = JSON.parse(await page.locator("#graph-body pre").textContent());
  assert.equal(me.userPrincipalName, "alice@contoso.example");
  assert.equal(me.id, "a11ce000-0000-4000-8000-000000000001");
  await shot("pane-me.png");
  pass("graph /me: alice");

  r = await run("#btn-messages");
  assert.equal(r.error, null, `messages failed: ${JSON.stringify(r.error)}`);
  const n = await page.locator("#graph-body li").count();
  assert.ok(n >= 1 && n <= 5, `1 to 5 messages shown, got ${n}`);
  pass("graph messages: alice");

  r = await run("#btn-photo");
  assert.equal(r.error, null, `photo failed: ${JSON.stringify(r.error)}`);
  await page.locator("#graph-body img.photo, #graph-body p").first().waitFor();
  pass("graph photo: alice");

  // --- The scripted recoveries that need the exchange or Graph.
  const recoveries = [
    ["mfa-bob", "#btn-exchange", "auth_challenge", "exchange: MFA required, claims challenge answered"],
    ["consent-carol", "#btn-exchange", "consent", "exchange: consent missing, consent step then retry"],
    ["outage-olga", "#btn-exchange", "retry_later", "exchange: Entra unavailable, waited Retry-After"],
    ["throttled-dave", "#btn-me", "retry_later", "graph /me: throttled, waited Retry-After"],
    ["cae-cora", "#btn-me", "auth_challenge", "graph /me: CAE claims challenge answered"],
  ];
  for (const [user, button, action, name] of recoveries) {
    await pick(user);
    if (user === "cae-cora") {
      // Her first Graph call succeeds; then her sessions are revoked, mid-session.
      r = await run(button);
      assert.equal(r.error, null, `${name}, before the revocation: ${JSON.stringify(r.error)}`);
      assert.ok(!r.log.some((l) => l.includes("[auth_challenge]")), `${name}: challenged before the revocation`);
    }
    r = await run(button);
    assert.equal(r.error, null, `${name}: ${JSON.stringify(r.error)}; log: ${r.log.join(" | ")}`);
    assert.ok(r.log.some((l) => l.includes(`[${action}]`)), `${name}: the pane logs its ${action} recovery: ${r.log.join(" | ")}`);
    pass(name);
  }

  // --- Blocked by Conditional Access: shown with the reason, never answered.
  await pick("blocked-bea");
  r = await run("#btn-exchange");
  assert.ok(r.error, "bea is blocked");
  assert.equal(r.error.code, "blocked_by_policy");
  assert.equal(r.error.action, "fatal");
  assert.match(r.error.detail, /Conditional Access/);
  assert.ok(!r.log.some((l) => l.includes("[")), "a block is not recovered from: " + r.log.join(" | "));
  pass("exchange: blocked by Conditional Access, shown, not retried");

  // --- Nothing that looks like a token on the page, ever.
  const text = await page.locator("body").innerText();
  assert.doesNotMatch(text, /eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/, "a token is shown on the page");
  pass("no token on the page");

  await pick("alice");
  await run("#btn-validate");
  await shot("pane-final.png");

  // --- The pane inside an Office host: its real Office code paths, not the sandbox's picker.
  /** hostPage opens the pane as Office would for a signed-in user, with legacy SSO or NAA. */
  async function hostPage(user, profile, naa) {
    await context.request.post(origin + "/.sandbox/signin", { data: { user } });
    const p = await context.newPage();
    p.on("console", (msg) => {
      const where = msg.location().url || "";
      const expected = msg.text().startsWith("Failed to load resource") && (where.startsWith(origin + "/api/") || where === origin + "/.sandbox/config");
      if (msg.type() === "error" && !expected) {
        problems.push(`console error (host page): ${msg.text()}`);
      }
    });
    p.on("pageerror", (err) => problems.push(`page error (host page): ${err.message}`));
    p.on("request", (req) => {
      if (new URL(req.url()).origin !== origin) problems.push(`request left the sandbox (host page): ${req.url()}`);
    });
    await p.route("**/.sandbox/config", (route) => route.fulfill({ status: 404, body: "" })); // as on Static Web Apps
    await p.route("**/lib/msal-browser.min.js", (route) => route.fulfill({ contentType: "text/javascript", body: MSAL_SHIM }));
    await p.addInitScript(installOffice, { user, profile, naa });
    await p.goto(url);
    await p.locator("#btn-me:enabled").waitFor();
    return p;
  }

  /** hostRun clicks a button on a host page and returns the error shown, the log and the host's calls. */
  async function hostRun(p, button) {
    await p.evaluate(() => {
      document.querySelector("#log").replaceChildren();
      window.__host.calls.length = 0;
    });
    await p.click(button);
    await p.locator("#btn-me:enabled").waitFor();
    const error = (await p.locator("#error").isHidden()) ? null : await p.locator('#error [data-field="code"]').textContent();
    return { error, log: await p.locator("#log li").allTextContents(), calls: await p.evaluate(() => window.__host.calls) };
  }

  // Outlook desktop, legacy SSO, a v1.0 token without MFA under a Conditional
  // Access MFA policy: AADSTS50076 with claims → getAccessToken({ authChallenge })
  // → a token with MFA → Graph data.
  let hp = await hostPage("mfa-bob", "desktop-v1", false);
  assert.match(await hp.locator("#provider").textContent(), /Office SSO/);
  r = await hostRun(hp, "#btn-me");
  assert.equal(r.error, null, "legacy SSO step-up: " + r.log.join(" | "));
  assert.ok(r.log.some((l) => l.includes("[auth_challenge]")), "the pane answered the challenge: " + r.log.join(" | "));
  let challenged = r.calls.filter((c) => c.authChallenge);
  assert.equal(challenged.length, 1, "one getAccessToken with authChallenge: " + JSON.stringify(r.calls));
  assert.match(challenged[0].authChallenge, /polids/, "Entra's own challenge went to Office");
  assert.equal(JSON.parse(await hp.locator("#graph-body pre").textContent()).userPrincipalName, "bob@contoso.example");
  r = await hostRun(hp, "#btn-validate");
  assert.equal(await hp.locator('#identity [data-field="mfa"]').textContent(), "true", "the stepped-up token shows MFA");
  await hp.close();
  pass("Office host, legacy SSO: Outlook desktop token without MFA, 50076, authChallenge, Graph data");

  // The same with Nested App Authentication: silent fails with the claims, the popup carries them.
  hp = await hostPage("mfa-bob", "naa", true);
  assert.match(await hp.locator("#provider").textContent(), /Nested App Authentication/);
  r = await hostRun(hp, "#btn-me");
  assert.equal(r.error, null, "NAA step-up: " + r.log.join(" | "));
  const withClaims = r.calls.filter((c) => c.claims);
  assert.deepEqual(withClaims.map((c) => c.api), ["acquireTokenSilent", "acquireTokenPopup"], JSON.stringify(r.calls));
  assert.match(withClaims[1].claims, /polids/);
  assert.equal(JSON.parse(await hp.locator("#graph-body pre").textContent()).userPrincipalName, "bob@contoso.example");
  await hp.close();
  pass("Office host, NAA: 50076, MSAL claims through the popup, Graph data");

  // Continuous access evaluation mid-session: Graph revokes, the pane steps up, data again.
  hp = await hostPage("cae-cora", "naa", true);
  r = await hostRun(hp, "#btn-me");
  assert.equal(r.error, null, "before the revocation: " + r.log.join(" | "));
  r = await hostRun(hp, "#btn-me");
  assert.equal(r.error, null, "CAE step-up: " + r.log.join(" | "));
  assert.ok(r.log.some((l) => l.includes("[auth_challenge]")), "the pane answered Graph's challenge: " + r.log.join(" | "));
  challenged = r.calls.filter((c) => c.claims);
  assert.ok(challenged.length >= 1 && /nbf/.test(challenged[0].claims), "Graph's nbf challenge went to MSAL: " + JSON.stringify(r.calls));
  assert.equal(JSON.parse(await hp.locator("#graph-body pre").textContent()).userPrincipalName, "cora@contoso.example");
  await hp.close();
  pass("Office host, NAA: a CAE revocation mid-session, step-up, Graph data again");

  assert.deepEqual(problems, [], "console errors, page errors or requests outside the sandbox");
  pass("no console errors, no request outside the sandbox");
} finally {
  await context.close();
  rmSync(profileDir, { recursive: true, force: true });
}

console.log(JSON.stringify(summary));
