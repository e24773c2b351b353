// Package infra holds the Bicep templates, deployment scripts and these checks. No Bicep
// compiler and no Azure subscription are available to `make test`, so the checks are what can
// be proven here: workflow lint, Bicep syntax, the template's internal wiring, agreement of
// every configuration surface with the handler's config.Settings, and that the deploy
// workflow packages exactly what `make app` builds. The real compile runs in CI
// (ci.yml, job bicep) and before every deployment (deploy.yml).
package infra

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/addinsso/addinsso/handler/config"
)

// actionlint is pinned; `go run pkg@version` fetches it through the module proxy once.
const actionlint = "github.com/rhysd/actionlint/cmd/actionlint@v1.7.12"

const root = ".."

var workflows = []string{".github/workflows/ci.yml", ".github/workflows/deploy.yml"}

func TestWorkflowsPassActionlint(t *testing.T) {
	for _, w := range workflows {
		if _, err := os.Stat(filepath.Join(root, w)); err != nil {
			t.Fatalf("workflow %s: %v", w, err)
		}
	}
	// actionlint also runs shellcheck on run: scripts when shellcheck is installed.
	cmd := exec.Command("go", append([]string{"run", actionlint, "-no-color"}, workflows...)...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("actionlint: %v\n%s", err, out)
	}
}

// Bicep syntax, with tree-sitter-bicep through infra/test/bicep-syntax.cjs.

type syntaxResult struct {
	File    string `json:"file"`
	Blanked []struct {
		Line int    `json:"line"`
		Text string `json:"text"`
	} `json:"blanked"`
	Errors []struct {
		Line   int    `json:"line"`
		Column int    `json:"column"`
		Text   string `json:"text"`
	} `json:"errors"`
}

func TestBicepSyntax(t *testing.T) {
	requireNodePackages(t, "web-tree-sitter", "tree-sitter-bicep")
	files := bicepFiles(t)

	// A checker that accepts everything proves nothing: it must reject a broken file.
	broken := filepath.Join(t.TempDir(), "broken.bicep")
	writeFile(t, broken, "param name string\nresource site 'Microsoft.Web/sites@2024-04-01' = {\n  name: name\n  properties: {\n    httpsOnly: true\n\n")

	cmd := exec.Command("node", append([]string{"infra/test/bicep-syntax.cjs", broken}, files...)...)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("bicep-syntax.cjs: %v\n%s", err, stderr.Bytes())
	}
	var results []syntaxResult
	if err := json.Unmarshal(out, &results); err != nil {
		t.Fatalf("bicep-syntax.cjs output: %v\n%s", err, out)
	}
	if len(results) != len(files)+1 {
		t.Fatalf("bicep-syntax.cjs answered for %d files, want %d", len(results), len(files)+1)
	}
	if len(results[0].Errors) == 0 {
		t.Errorf("the checker found no error in a deliberately broken file (unclosed braces)")
	}

	for _, r := range results[1:] {
		for _, e := range r.Errors {
			t.Errorf("%s:%d:%d: syntax error at %q", r.File, e.Line, e.Column, e.Text)
		}
		// The grammar does not know `extension`; exactly those lines were blanked, and only in
		// files that use Microsoft Graph resources (which need the extension).
		src := readFile(t, filepath.Join(root, r.File))
		usesGraph := strings.Contains(src, "'Microsoft.Graph/")
		for _, b := range r.Blanked {
			if b.Text != "extension microsoftGraphV1" {
				t.Errorf("%s:%d: blanked %q; only `extension microsoftGraphV1` may be", r.File, b.Line, b.Text)
			}
		}
		if want := map[bool]int{true: 1, false: 0}[usesGraph]; len(r.Blanked) != want {
			t.Errorf("%s: %d extension lines blanked, want %d (uses Microsoft.Graph: %v)", r.File, len(r.Blanked), want, usesGraph)
		}
	}
}

// The template's wiring, checked the way the compiler would: modules exist, get only
// parameters they declare and every parameter they require, and expose the outputs read.

var (
	paramDecl  = regexp.MustCompile(`(?m)^param (\w+) \w+( =.*)?$`)
	outputDecl = regexp.MustCompile(`(?m)^output (\w+) \w+ =`)
	moduleDecl = regexp.MustCompile(`(?m)^module (\w+) '([^']+)' = (?:if \([^)]*\) )?\{$`)
	outputRef  = regexp.MustCompile(`\b(\w+)\.outputs\.(\w+)\b`)
)

func TestBicepModulesWireUp(t *testing.T) {
	main := readFile(t, filepath.Join(root, "infra/main.bicep"))
	mainModules := 0
	for _, file := range bicepFiles(t) {
		src := readFile(t, filepath.Join(root, file))
		modules := map[string]string{} // symbol -> source
		for _, m := range moduleDecl.FindAllStringSubmatchIndex(src, -1) {
			sym, path := src[m[2]:m[3]], src[m[4]:m[5]]
			modSrc := readFile(t, filepath.Join(root, filepath.Dir(file), path))
			modules[sym] = modSrc

			declared, required := params(modSrc)
			body := block(src[m[1]:])
			passed := keys(block(body[strings.Index(body, "params: {")+len("params: {"):]))
			for _, p := range passed {
				if !slices.Contains(declared, p) {
					t.Errorf("%s: module %s passes %s, which %s does not declare", file, sym, p, path)
				}
			}
			for _, p := range required {
				if !slices.Contains(passed, p) {
					t.Errorf("%s: module %s does not pass %s, which %s requires", file, sym, p, path)
				}
			}
		}
		if file == "infra/main.bicep" {
			mainModules = len(modules)
		}
		for _, ref := range outputRef.FindAllStringSubmatch(src, -1) {
			modSrc, ok := modules[ref[1]]
			if !ok {
				t.Errorf("%s reads %s.outputs but declares no module %s", file, ref[1], ref[1])
				continue
			}
			if !slices.Contains(outputs(modSrc), ref[2]) {
				t.Errorf("%s reads %s.outputs.%s, which the module does not output", file, ref[1], ref[2])
			}
		}
	}
	if mainModules < 8 {
		t.Fatalf("found %d modules in main.bicep; the module pattern no longer matches", mainModules)
	}

	// Parameters: the file may only name declared parameters, and the one parameter without
	// a default comes from the deploy workflow.
	declared, required := params(main)
	var pf struct{ Parameters map[string]json.RawMessage }
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(root, "infra/main.parameters.json"))), &pf); err != nil {
		t.Fatalf("main.parameters.json: %v", err)
	}
	for p := range pf.Parameters {
		if !slices.Contains(declared, p) {
			t.Errorf("main.parameters.json sets %s, which main.bicep does not declare", p)
		}
	}
	if !slices.Equal(required, []string{"environmentName"}) {
		t.Errorf("main.bicep parameters without default: %v, want only environmentName (set by deploy.yml)", required)
	}

	// The deploy workflow reads these deployment outputs.
	deploy := readFile(t, filepath.Join(root, ".github/workflows/deploy.yml"))
	read := map[string]bool{}
	for _, m := range regexp.MustCompile(`steps\.infra\.outputs\.(\w+)`).FindAllStringSubmatch(deploy, -1) {
		read[m[1]] = true
	}
	for _, m := range regexp.MustCompile(`\.(\w+)\.value\b`).FindAllStringSubmatch(deploy, -1) {
		read[m[1]] = true
	}
	loop := regexp.MustCompile(`(?s)for name in (.*?); do`).FindStringSubmatch(deploy)
	if loop == nil {
		t.Fatal("deploy.yml: the `for name in ...; do` output loop is gone")
	}
	for _, name := range strings.Fields(strings.ReplaceAll(loop[1], "\\", " ")) {
		read[name] = true
	}
	for name := range read {
		if !slices.Contains(outputs(main), name) {
			t.Errorf("deploy.yml reads deployment output %s, which main.bicep does not declare", name)
		}
	}
}

func TestBicepDeclaresTheDesign(t *testing.T) {
	var cfg struct{ Extensions map[string]string }
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(root, "infra/bicepconfig.json"))), &cfg); err != nil {
		t.Fatalf("bicepconfig.json: %v", err)
	}
	ref := regexp.MustCompile(`^br:mcr\.microsoft\.com/bicep/extensions/microsoftgraph/v1\.0:\d+\.\d+\.\d+$`)
	if !ref.MatchString(cfg.Extensions["microsoftGraphV1"]) {
		t.Errorf("bicepconfig.json: microsoftGraphV1 = %q, want a pinned Microsoft Graph v1.0 extension reference", cfg.Extensions["microsoftGraphV1"])
	}

	want := map[string][]string{
		"infra/main.bicep": {
			// Office clients pre-authorised ("Register an Office Add-in that uses SSO").
			"'ea5a67f6-b6f3-4338-b240-c655ddc3cc8e'", "'d3590ed6-52b3-4102-aeff-aad2292ab01c'",
			"'93d53678-613d-4013-afc1-62e9e444a0a5'", "'57fb890c-0dab-4253-a5e0-7188c88b2bb4'",
			"'08e18876-6177-487e-b8b5-cf950c1e598c'", "'bc59ab01-8403-45c6-8796-ac3ef710b3e3'",
			"param backendMode string = 'linked'", "module backendLink 'modules/backendlink.bicep' = if (backendMode == 'linked')",
		},
		"infra/modules/appregistration.bicep": {
			"signInAudience: 'AzureADMultipleOrgs'", "var scopeName = 'access_as_user'",
			"'https://${domain}/fallbackauthdialog.html'", "'brk-multihub://${domain}'",
		},
		"infra/modules/appregistration-complete.bicep": {
			"signInAudience: 'AzureADMultipleOrgs'", "var appIdUri = 'api://${domain}/${appId}'", "'api://AzureADTokenExchange'",
			"issuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'",
			"subject: managedIdentityPrincipalId", "resource servicePrincipal 'Microsoft.Graph/servicePrincipals@v1.0'",
			"'Microsoft.Graph/applications/federatedIdentityCredentials@v1.0'",
		},
		"infra/modules/storage.bicep":      {"allowSharedKeyAccess: false", "'0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'", "'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'", "'974c5e8b-45b9-4653-ba55-5f855dd0fb88'"},
		"infra/modules/monitoring.bicep":   {"DisableLocalAuth: true", "'3913510d-42f4-4e42-8a64-420c390055eb'"},
		"infra/modules/keyvault.bicep":     {"enableRbacAuthorization: true", "'4633458b-17de-408a-b874-0445c86b69e6'", "if (!empty(keyValue))"},
		"infra/modules/backendlink.bicep":  {"'Microsoft.Web/staticSites/linkedBackends@"},
		"infra/modules/staticwebapp.bicep": {"name: 'Standard'"},
		"infra/modules/functionapp.bicep": {
			"ADDIN_FEDERATED_IDENTITY_CLIENT_ID: identityClientId",
			"TOKEN_CACHE_ENCRYPTION_KEY: '@Microsoft.KeyVault(SecretUri=${cacheKeyUri})'",
			"keyVaultReferenceIdentity: identityId", "AzureWebJobsStorage__credential: 'managedidentity'",
			"AzureWebJobsStorage__clientId: identityClientId", "AzureWebJobsStorage__accountName: storageAccountName",
			"APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'",
			"name: 'custom'", "type: 'UserAssignedIdentity'", "name: 'FC1'", "functionAppConfig: flexConfig",
		},
	}
	for file, needles := range want {
		src := readFile(t, filepath.Join(root, file))
		for _, n := range needles {
			if !strings.Contains(src, n) {
				t.Errorf("%s: missing %s", file, n)
			}
		}
	}
}

// Flex Consumption only: the plans that need a content share (a shared key) are gone.
func TestFlexConsumptionOnly(t *testing.T) {
	for _, f := range append(bicepFiles(t), ".github/workflows/deploy.yml", "infra/main.parameters.json") {
		src := readFile(t, filepath.Join(root, f))
		for _, gone := range []string{"hostingPlan", "ElasticPremium", "name: 'Y1'", "WEBSITE_RUN_FROM_PACKAGE:", "AZURE_HOSTING_PLAN", "WEBSITE_CONTENTSHARE:"} {
			if strings.Contains(src, gone) {
				t.Errorf("%s still names %s", f, gone)
			}
		}
	}
}

// Configuration surfaces agree with config.Settings.

// notInBicep lists the settings the Azure deployment leaves out on purpose.
var notInBicep = map[string]string{
	// The Functions host chooses the port and sets it on every start.
	"FUNCTIONS_CUSTOMHANDLER_PORT": "host-set",
	// Alternatives to the managed identity as the app's credential, for local development; the
	// handler refuses more than one credential.
	"ADDIN_CLIENT_SECRET":           "local credential",
	"ADDIN_CLIENT_CERTIFICATE_PATH": "alternative credential",
	// Azurite's connection string; Azure uses TOKEN_CACHE_ENDPOINT with the managed identity,
	// and the handler refuses both at once.
	"TOKEN_CACHE_CONNECTION_STRING": "local store",
}

var settingKey = regexp.MustCompile(`(?m)^\s*'?([A-Z][A-Z0-9_]*)'?\s*:`)

var ourSetting = regexp.MustCompile(`\b(?:ADDIN|ENTRA|GRAPH|TOKEN_CACHE)_[A-Z0-9_]*[A-Z0-9]\b`)

func settingNames() []string {
	var names []string
	for _, s := range config.Settings {
		names = append(names, s.Name)
	}
	return names
}

func TestSettingsAgreeWithHandler(t *testing.T) {
	names := settingNames()
	for name := range notInBicep {
		if !slices.Contains(names, name) {
			t.Errorf("notInBicep lists %s, which config.Settings no longer declares", name)
		}
	}

	t.Run("bicep", func(t *testing.T) {
		handler := keys(bicepVarBlock(t, "handlerSettings"))
		// Every object key that could be an app setting, at any depth, in any Bicep file.
		allKeys := map[string]bool{}
		for _, f := range bicepFiles(t) {
			for _, m := range settingKey.FindAllStringSubmatch(readFile(t, filepath.Join(root, f)), -1) {
				allKeys[m[1]] = true
			}
		}
		for _, name := range names {
			_, exempt := notInBicep[name]
			switch {
			case exempt && allKeys[name]:
				t.Errorf("%s is an app setting in the Bicep; it must not be (%s)", name, notInBicep[name])
			case !exempt && !slices.Contains(handler, name):
				t.Errorf("%s is missing from handlerSettings in infra/modules/functionapp.bicep", name)
			}
		}
	})

	t.Run("local.settings.sample.json", func(t *testing.T) {
		var ls struct{ Values map[string]string }
		if err := json.Unmarshal([]byte(readFile(t, filepath.Join(root, "local.settings.sample.json"))), &ls); err != nil {
			t.Fatalf("local.settings.sample.json: %v", err)
		}
		for _, name := range names {
			if _, ok := ls.Values[name]; !ok && name != "FUNCTIONS_CUSTOMHANDLER_PORT" {
				t.Errorf("local.settings.sample.json: Values has no %s", name)
			}
		}
	})

	t.Run("README.md", func(t *testing.T) {
		readme := readFile(t, filepath.Join(root, "README.md"))
		for _, name := range names {
			if !regexp.MustCompile(`\b` + name + `\b`).MatchString(readme) {
				t.Errorf("README.md does not mention %s", name)
			}
		}
	})

	t.Run("no unknown settings", func(t *testing.T) {
		files := append(bicepFiles(t), "infra/main.parameters.json", "local.settings.sample.json", "README.md", "docs/deploy.md")
		files = append(files, workflows...)
		for _, f := range files {
			src, err := os.ReadFile(filepath.Join(root, f))
			if err != nil {
				t.Errorf("%v", err) // README.md and the sample must exist (checked above too)
				continue
			}
			for _, name := range ourSetting.FindAllString(string(src), -1) {
				if !slices.Contains(names, name) {
					t.Errorf("%s names %s, which looks like a handler setting but config.Settings has no such setting", f, name)
				}
			}
		}
	})
}

// TestAzureSettingsLoad feeds the handler's config.Load the settings as Azure resolves the
// Bicep's expressions, so list separators, the authority host and the table endpoint are the
// shapes the handler accepts.
func TestAzureSettingsLoad(t *testing.T) {
	const clientID, identityClientID = "0f0e0d0c-0b0a-0908-0706-050403020100", "11111111-2222-3333-4444-555555555555"
	// Parameter values with more than one entry, so the separators matter.
	arrays := map[string][]string{
		"allowedTenants":     {"72f988bf-86f1-41af-91ab-2d7cd011db47", "aaaabbbb-0000-cccc-1111-dddd2222eeee"},
		"graphScopes":        {"User.Read", "Mail.Read"},
		"graphAllowedRoutes": {"GET /v1.0/me", "GET /v1.0/me/messages/{id}"},
	}
	// What the other expressions resolve to in a deployment.
	resolved := map[string]string{
		"addinClientId":       clientID,
		"addinAppIdUri":       "api://happy-sea-0123.azurestaticapps.net/" + clientID,
		"addinTenantId":       "organizations",
		"requiredScope":       "access_as_user",
		"mfaPolicy":           "off",
		"identityClientId":    identityClientID,
		"authorityHost":       "https://login.microsoftonline.com",
		"graphBaseUrl":        "https://graph.microsoft.com",
		"tableEndpoint":       "https://stabc123.table.core.windows.net/", // Azure's, with the slash
		"tokenCacheTable":     "graphtokens",
		"@Microsoft.KeyVault": "k20260101:8lmTCOipRLFuTM4qsWjOWEPok38rdkpv9Xt65182XPc=", // from openssl rand -base64 32
	}
	join := regexp.MustCompile(`^join\((\w+), '([^']*)'\)$`)
	env := map[string]string{"FUNCTIONS_CUSTOMHANDLER_PORT": "51234"} // the host's
	for _, line := range strings.Split(bicepVarBlock(t, "handlerSettings"), "\n") {
		k, expr, ok := strings.Cut(strings.TrimSpace(line), ": ")
		if !ok || strings.HasPrefix(k, "//") {
			continue
		}
		switch m := join.FindStringSubmatch(expr); {
		case m != nil:
			env[k] = strings.Join(arrays[m[1]], m[2])
		case strings.HasPrefix(expr, "'@Microsoft.KeyVault("):
			env[k] = resolved["@Microsoft.KeyVault"]
		default:
			v, ok := resolved[expr]
			if !ok {
				t.Fatalf("%s: no resolved value for the expression %q; add one to this test", k, expr)
			}
			env[k] = v
		}
	}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatalf("the handler rejects the Azure settings: %v", err)
	}
	if cfg.Credential.FederatedIdentityClientID != identityClientID || cfg.Credential.Secret != "" {
		t.Errorf("credential = %+v, want the managed identity only", cfg.Credential)
	}
	if !cfg.TokenCache.UsesTableStorage() || cfg.TokenCache.ConnectionString != "" || len(cfg.TokenCache.Keys) != 1 {
		t.Errorf("token cache = %+v, want Table Storage by endpoint with one key", cfg.TokenCache)
	}
	if len(cfg.GraphScopes) != 2 || len(cfg.GraphRoutes) != 2 || len(cfg.AllowedTenants) != 2 {
		t.Errorf("lists split wrongly: scopes %v, routes %v, tenants %v", cfg.GraphScopes, cfg.GraphRoutes, cfg.AllowedTenants)
	}
}

// The deploy workflow's package step against `make app`.

func TestDeployPackageStepBuildsWhatMakeAppBuilds(t *testing.T) {
	requireTools(t, "make", "zip", "bash")
	script := stepRun(t, readFile(t, filepath.Join(root, ".github/workflows/deploy.yml")), "package")
	if strings.Contains(script, "${{") {
		t.Fatalf("the package step uses a workflow expression, which this test cannot evaluate:\n%s", script)
	}

	want := copyRepo(t)
	run(t, want, "make", "app")
	got := copyRepo(t)
	run(t, got, "bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script) // GitHub's run shell

	wantFiles, gotFiles := tree(t, filepath.Join(want, "build/app")), tree(t, filepath.Join(got, "build/app"))
	if !equalMaps(wantFiles, gotFiles) {
		t.Fatalf("the package step built\n%v\nmake app builds\n%v", sortedKeys(gotFiles), sortedKeys(wantFiles))
	}

	// What the Functions host needs: host.json, the handler, one folder per function.
	funcs, _ := filepath.Glob(filepath.Join(root, "functions/*/function.json"))
	wantLayout := []string{"handler", "host.json"}
	for _, f := range funcs {
		wantLayout = append(wantLayout, filepath.Base(filepath.Dir(f))+"/function.json")
		if gotFiles[wantLayout[len(wantLayout)-1]].sum != sum(t, f) {
			t.Errorf("%s differs from its source", wantLayout[len(wantLayout)-1])
		}
	}
	sort.Strings(wantLayout)
	if !slices.Equal(sortedKeys(gotFiles), wantLayout) {
		t.Errorf("app directory holds %v, want %v", sortedKeys(gotFiles), wantLayout)
	}
	bin, err := elf.Open(filepath.Join(got, "build/app/handler"))
	if err != nil {
		t.Fatalf("handler: %v", err)
	}
	defer bin.Close()
	if bin.Machine != elf.EM_X86_64 || slices.ContainsFunc(bin.Progs, func(p *elf.Prog) bool { return p.Type == elf.PT_INTERP }) {
		t.Errorf("handler is not a static linux/amd64 executable (machine %v)", bin.Machine)
	}

	// The zip the workflow deploys: the same files at its root, the handler still executable.
	zr, err := zip.OpenReader(filepath.Join(got, "build/app.zip"))
	if err != nil {
		t.Fatalf("build/app.zip: %v", err)
	}
	defer zr.Close()
	zipped := map[string]fileInfo{}
	for _, f := range zr.File {
		if f.FileInfo().IsDir() {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		_, _ = io.Copy(h, rc)
		rc.Close()
		zipped[f.Name] = fileInfo{fmt.Sprintf("%x", h.Sum(nil)), f.Mode()&0o111 != 0}
	}
	if !equalMaps(zipped, gotFiles) {
		t.Errorf("app.zip holds %v, want the app directory %v (with modes)", zipped, gotFiles)
	}
}

func TestScriptsParse(t *testing.T) {
	requireTools(t, "bash")
	scripts, _ := filepath.Glob(filepath.Join(root, "infra/scripts/*.sh"))
	if len(scripts) == 0 {
		t.Fatal("no scripts in infra/scripts")
	}
	for _, s := range scripts {
		if out, err := exec.Command("bash", "-n", s).CombinedOutput(); err != nil {
			t.Errorf("%s: %v\n%s", s, err, out)
		}
		if st, err := os.Stat(s); err != nil || st.Mode()&0o111 == 0 {
			t.Errorf("%s is not executable", s)
		}
	}
}

// Helpers.

// requireNodePackages fails under CI (where `make test` has run `npm ci`) and skips, saying
// why, on a machine that has not installed them.
func requireNodePackages(t *testing.T, pkgs ...string) {
	t.Helper()
	var missing []string
	if _, err := exec.LookPath("node"); err != nil {
		missing = append(missing, "node")
	}
	for _, p := range pkgs {
		if _, err := os.Stat(filepath.Join(root, "node_modules", p, "package.json")); err != nil {
			missing = append(missing, "npm package "+p)
		}
	}
	need(t, missing, "run `npm ci` at the repository root (make test does)")
}

func requireTools(t *testing.T, tools ...string) {
	t.Helper()
	var missing []string
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	need(t, missing, "install them (Debian packages)")
}

func need(t *testing.T, missing []string, how string) {
	t.Helper()
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("needs %s: %s", strings.Join(missing, ", "), how)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip("skipped outside CI: " + msg)
}

func bicepFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(filepath.Join(root, "infra"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".bicep") {
			rel, _ := filepath.Rel(root, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil || len(files) == 0 {
		t.Fatalf("no Bicep files under infra/ (%v)", err)
	}
	return files
}

// params returns a Bicep file's parameters and those without a default.
func params(src string) (declared, required []string) {
	for _, m := range paramDecl.FindAllStringSubmatch(src, -1) {
		declared = append(declared, m[1])
		if m[2] == "" {
			required = append(required, m[1])
		}
	}
	return declared, required
}

func outputs(src string) []string {
	var names []string
	for _, m := range outputDecl.FindAllStringSubmatch(src, -1) {
		names = append(names, m[1])
	}
	return names
}

// block returns the text up to the brace closing the one just before it.
func block(src string) string {
	depth := 1
	for i, r := range src {
		switch r {
		case '{':
			depth++
		case '}':
			if depth--; depth == 0 {
				return src[:i]
			}
		}
	}
	return src
}

// keys returns the property names at the first indentation level of an object body.
func keys(body string) []string {
	var out []string
	indent := -1
	for _, line := range strings.Split(body, "\n") {
		m := regexp.MustCompile(`^(\s*)'?([A-Za-z_][A-Za-z0-9_]*)'?\s*:`).FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if indent < 0 {
			indent = len(m[1])
		}
		if len(m[1]) == indent {
			out = append(out, m[2])
		}
	}
	return out
}

func bicepVarBlock(t *testing.T, name string) string {
	t.Helper()
	src := readFile(t, filepath.Join(root, "infra/modules/functionapp.bicep"))
	start := strings.Index(src, "\nvar "+name+" = {\n")
	if start < 0 {
		t.Fatalf("functionapp.bicep: no `var %s = {` block", name)
	}
	return block(src[start+len("\nvar "+name+" = {\n"):])
}

// stepRun returns the run: script of the workflow step with the given id.
func stepRun(t *testing.T, workflow, id string) string {
	t.Helper()
	lines := strings.Split(workflow, "\n")
	indent := func(s string) int { return len(s) - len(strings.TrimLeft(s, " ")) }
	idLine := slices.IndexFunc(lines, func(l string) bool {
		return regexp.MustCompile(`^\s*(- )?id: *` + regexp.QuoteMeta(id) + `\s*$`).MatchString(l)
	})
	if idLine < 0 {
		t.Fatalf("workflow has no step with id %q", id)
	}
	start := idLine
	for start > 0 && !strings.HasPrefix(strings.TrimLeft(lines[start], " "), "- ") {
		start--
	}
	dash := indent(lines[start])
	for i := start; i < len(lines); i++ {
		if i > start && strings.TrimSpace(lines[i]) != "" && indent(lines[i]) <= dash {
			break // next step
		}
		key := strings.TrimPrefix(strings.TrimLeft(lines[i], " "), "- ")
		if key != "run: |" {
			continue
		}
		keyIndent := len(lines[i]) - len(key)
		var body []string
		for _, l := range lines[i+1:] {
			if strings.TrimSpace(l) != "" && indent(l) <= keyIndent {
				break
			}
			body = append(body, l)
		}
		cut := -1
		for _, l := range body {
			if strings.TrimSpace(l) != "" && (cut < 0 || indent(l) < cut) {
				cut = indent(l)
			}
		}
		for j, l := range body {
			if len(l) >= cut {
				body[j] = l[cut:]
			}
		}
		return strings.TrimRight(strings.Join(body, "\n"), "\n") + "\n"
	}
	t.Fatalf("step %q has no `run: |` block", id)
	return ""
}

// copyRepo copies the repository, without what is generated or fetched, into a new directory.
func copyRepo(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	skip := map[string]bool{".git": true, "node_modules": true, "build": true, "dev/.sandbox": true}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if skip[filepath.ToSlash(rel)] {
			if !d.IsDir() {
				return nil // .git is a file in a git worktree; SkipDir would skip its siblings
			}
			return filepath.SkipDir
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		switch {
		case err != nil:
			return err
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case info.Mode()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case !info.Mode().IsRegular() || strings.HasSuffix(p, ".test"):
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, info.Mode().Perm())
	})
	if err != nil {
		t.Fatalf("copying the repository: %v", err)
	}
	return dst
}

// run runs a command in dir with the module cache only: a build needing the network fails.
func run(t *testing.T, dir string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOPROXY=off", "GOTOOLCHAIN=local", "GITHUB_OUTPUT="+filepath.Join(t.TempDir(), "output"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s in %s: %v\n%s", name, strings.Join(args, " "), dir, err, out)
	}
}

type fileInfo struct {
	sum  string
	exec bool
}

func tree(t *testing.T, dir string) map[string]fileInfo {
	t.Helper()
	files := map[string]fileInfo{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		files[filepath.ToSlash(rel)] = fileInfo{sum(t, p), info.Mode()&0o111 != 0}
		return nil
	})
	if err != nil {
		t.Fatalf("reading %s: %v", dir, err)
	}
	return files
}

func sum(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", sha256.Sum256(data))
}

func equalMaps[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return string(data)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
