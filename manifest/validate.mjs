// Validates unified manifests (Microsoft 365 app manifest) offline against the
// JSON schema of their manifestVersion that the npm package @microsoft/app-manifest
// ships, with that package's own validator:
//
//   node manifest/validate.mjs build/manifests/manifest.json
//
// Prints "valid: <file>" per file, or the schema's complaints and exits 1.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";

const require = createRequire(import.meta.url);
const pkg = dirname(require.resolve("@microsoft/app-manifest/package.json"));
const { AppManifestUtils } = require("@microsoft/app-manifest");

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node manifest/validate.mjs <manifest.json>...");
  process.exit(2);
}
let failed = false;
for (const file of files) {
  const manifest = JSON.parse(readFileSync(file, "utf8"));
  const version = manifest.manifestVersion;
  if (!/^(\d+\.\d+|devPreview)$/.test(version ?? "")) throw new Error(`${file}: manifestVersion ${version}`);
  // The schema the manifest's $schema names, from the package, never fetched.
  const schemaFile = join(pkg, "build", "json-schemas", "teams", version === "devPreview" ? "vDevPreview" : `v${version}`, "MicrosoftTeams.schema.json");
  if (!manifest.$schema?.endsWith(`/v${version}/MicrosoftTeams.schema.json`)) {
    console.error(`${file}: $schema ${manifest.$schema} does not name the v${version} schema`);
    failed = true;
    continue;
  }
  const errors = await AppManifestUtils.validateAgainstSchema(manifest, JSON.parse(readFileSync(schemaFile, "utf8")));
  if (errors.length > 0) {
    console.error(`invalid: ${file}\n  ${errors.join("\n  ")}`);
    failed = true;
  } else {
    console.log(`valid: ${file} (schema v${version})`);
  }
}
process.exit(failed ? 1 : 0);
