// The local run over HTTPS, in Debian's Chromium driven by playwright-core:
// the shortest path from opening the pane to Graph's /me. dev/sandbox's Go
// test starts the run (-https, emulators) and runs:
//
//   SPKI=<base64 SHA-256 of the server key> node staticwebapp/test/local.mjs <pane URL>
//
// Chromium trusts the pane's certificate only through that pin, never by
// ignoring certificate errors. It fails on any console or page error, or a
// request leaving the pane's origin. The last line of output is a JSON summary.
import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [url] = process.argv.slice(2);
const spki = process.env.SPKI;
if (!url || !spki) {
  console.error("usage: SPKI=<pin> node local.mjs <pane URL>");
  process.exit(2);
}
const origin = new URL(url).origin;
const started = Date.now();
const summary = { passed: [], meMs: 0 };
const problems = [];

const profileDir = mkdtempSync(join(tmpdir(), "local-chromium-"));
const context = await chromium.launchPersistentContext(profileDir, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  viewport: { width: 420, height: 900 },
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", `--ignore-certificate-errors-spki-list=${spki}`],
});
context.setDefaultTimeout(20_000);
try {
  const page = context.pages()[0] || (await context.newPage());
  page.on("console", (msg) => {
    if (msg.type() === "error") problems.push(`console error: ${msg.text()} (${msg.location().url || ""})`);
  });
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
  page.on("request", (req) => {
    const u = new URL(req.url());
    if (u.protocol !== "blob:" && u.protocol !== "data:" && u.origin !== origin) problems.push(`request left the pane's origin: ${req.url()}`);
  });

  const resp = await page.goto(url);
  assert.equal(resp.status(), 200);
  assert.equal(await page.evaluate(() => location.protocol), "https:");
  assert.equal(await page.evaluate(() => window.isSecureContext), true);
  const tls = await resp.securityDetails();
  assert.match(tls?.protocol ?? "", /^TLS/, "the pane came over TLS");
  summary.passed.push(`pane over ${tls.protocol}`);

  await page.locator("#sandbox").waitFor({ state: "visible" });
  // The sandbox's Fluent dropdown, as a user picks; aria-disabled is set at once (Fluent reflects disabled later).
  await page.click("#sandbox-user");
  await page.click('#sandbox-user fluent-option[value="alice"]');
  await page.locator("#trace li", { hasText: "Signed in as alice (" }).waitFor();
  await page.locator("#btn-me:not([aria-disabled])").waitFor();
  await page.click("#btn-me");
  await page.locator("#btn-me:not([aria-disabled])").waitFor();
  assert.ok(await page.locator("#error").isHidden(), "the pane shows an error: " + (await page.locator("#error").innerText().catch(() => "")));
  const me = JSON.parse(await page.locator("#graph-body pre").textContent());
  assert.equal(me.userPrincipalName, "alice@contoso.example");
  summary.meMs = Date.now() - started;
  summary.passed.push("graph /me: alice");

  assert.deepEqual(problems, [], "console errors, page errors or requests elsewhere");
  summary.passed.push("no console errors, no request elsewhere");
} finally {
  await context.close();
  rmSync(profileDir, { recursive: true, force: true });
}
console.log(JSON.stringify(summary));
