package infra

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// Azure/static-web-apps-deploy refuses an app folder without a default file.
func TestPaneBuildHasIndexHTML(t *testing.T) {
	requireTools(t, "make")
	requireNodePackages(t, "@azure/msal-browser")
	pane := filepath.Join(t.TempDir(), "pane")
	// -o node_modules: use the installed packages as they are (make test has run npm ci).
	cmd := exec.Command("make", "-o", "node_modules", "pane", "PANE="+pane)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make pane: %v\n%s", err, out)
	}
	index, err := os.ReadFile(filepath.Join(pane, "index.html"))
	if err != nil {
		t.Fatalf("make pane built no index.html: %v", err)
	}
	if string(index) != readFile(t, filepath.Join(root, "staticwebapp/taskpane.html")) {
		t.Error("index.html is not the task pane")
	}
	for _, gone := range []string{"test", "README.md", "package.json"} {
		if _, err := os.Stat(filepath.Join(pane, gone)); err == nil {
			t.Errorf("the pane build holds %s", gone)
		}
	}
}

// bicepArrayDefault returns the default of `param NAME array = [...]` on one line.
func bicepArrayDefault(t *testing.T, src, name string) []string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^param ` + name + ` array = \[(.*)\]$`).FindStringSubmatch(src)
	if m == nil {
		t.Fatalf("main.bicep: no one-line default for param %s", name)
	}
	var out []string
	for _, s := range regexp.MustCompile(`'([^']*)'`).FindAllStringSubmatch(m[1], -1) {
		out = append(out, s[1])
	}
	return out
}

// One source of truth: graphScopes and graphAllowedRoutes reach the app settings, the app
// registration and the pane's config.json; the pane hides what the routes do not allow.
func TestGraphScopesAndRoutesHaveOneSource(t *testing.T) {
	main := readFile(t, filepath.Join(root, "infra/main.bicep"))
	for _, want := range []string{
		"graphScopes: graphScopes\n    preAuthorizedClientIds:",                // the app registration
		"graphScopes: graphScopes\n    graphAllowedRoutes: graphAllowedRoutes", // the Function App
		"  graphScopes: graphScopes\n  graphRoutes: graphAllowedRoutes\n",      // paneConfig
		"output paneConfig object = paneConfig",
	} {
		if !strings.Contains(main, want) {
			t.Errorf("main.bicep lacks %q", want)
		}
	}
	// config.json in the repository documents the shape the deployment writes.
	var shape map[string]any
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(root, "staticwebapp/config.json"))), &shape); err != nil {
		t.Fatal(err)
	}
	paneKeys := keys(block(main[strings.Index(main, "var paneConfig = {")+len("var paneConfig = {"):]))
	slices.Sort(paneKeys)
	if got := sortedKeys(shape); !slices.Equal(got, paneKeys) {
		t.Errorf("staticwebapp/config.json has %v, paneConfig %v", got, paneKeys)
	}
	pane := readFile(t, filepath.Join(root, "staticwebapp/taskpane.js"))
	for _, want := range []string{"config.graphRoutes", "config.apiBaseUrl"} {
		if !strings.Contains(pane, want) {
			t.Errorf("taskpane.js does not use %s", want)
		}
	}
}

// paneButton is one button of taskpane.html with the Graph path taskpane.js calls for it.
type paneButton struct{ id, route, path string }

func paneButtons(t *testing.T) []paneButton {
	t.Helper()
	html := readFile(t, filepath.Join(root, "staticwebapp/taskpane.html"))
	js := readFile(t, filepath.Join(root, "staticwebapp/taskpane.js"))
	var out []paneButton
	for _, m := range regexp.MustCompile(`"#(btn-[\w-]+)": .*api\.graph\("([^"]+)"\)`).FindAllStringSubmatch(js, -1) {
		b := paneButton{id: m[1], path: strings.SplitN(m[2], "?", 2)[0]}
		if r := regexp.MustCompile(`<button id="` + b.id + `"[^>]* data-route="([^"]+)"`).FindStringSubmatch(html); r != nil {
			b.route = r[1]
		}
		out = append(out, b)
	}
	if len(out) < 3 {
		t.Fatalf("found %d Graph buttons in taskpane.js; the pattern no longer matches", len(out))
	}
	return out
}

// scopeOf is the delegated permission a button's Graph call needs beyond User.Read.
var scopeOf = map[string]string{"GET /v1.0/me/messages": "Mail.Read"}

func TestPaneShowsOnlyAllowedButtons(t *testing.T) {
	buttons := paneButtons(t)
	for _, b := range buttons {
		if b.route != "GET "+b.path {
			t.Errorf("taskpane.html: #%s has data-route %q; taskpane.js calls GET %s", b.id, b.route, b.path)
		}
	}
	requireTools(t, "node")

	// deployment.js decides, for each deployment's routes, which buttons show.
	main := readFile(t, filepath.Join(root, "infra/main.bicep"))
	var params struct {
		Parameters struct {
			GraphAllowedRoutes, GraphScopes struct{ Value []string }
		}
	}
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(root, "infra/main.parameters.json"))), &params); err != nil {
		t.Fatal(err)
	}
	deployments := map[string][2][]string{ // routes, scopes
		"main.bicep defaults":  {bicepArrayDefault(t, main, "graphAllowedRoutes"), bicepArrayDefault(t, main, "graphScopes")},
		"main.parameters.json": {params.Parameters.GraphAllowedRoutes.Value, params.Parameters.GraphScopes.Value},
		"with messages":        {{"GET /v1.0/me", "GET /v1.0/me/messages"}, {"User.Read", "Mail.Read"}},
		"one message by ID":    {{"GET /v1.0/me/messages/{id}"}, {"Mail.Read"}},
	}
	shown := map[string][]string{}
	for name, d := range deployments {
		if len(d[0]) == 0 {
			t.Fatalf("%s: no routes", name)
		}
		for _, b := range buttons {
			if nodeRouteAllowed(t, d[0], b.route) {
				shown[name] = append(shown[name], b.id)
				if s, ok := scopeOf[b.route]; ok && !slices.Contains(d[1], s) {
					t.Errorf("%s: %s shows, but its call needs %s, which graphScopes lacks", name, b.id, s)
				}
			}
		}
	}
	want := map[string][]string{
		"main.bicep defaults":  {"btn-me", "btn-photo"},
		"main.parameters.json": {"btn-me", "btn-photo"},
		"with messages":        {"btn-me", "btn-messages"},
		"one message by ID":    nil,
	}
	for name, w := range want {
		if !slices.Equal(shown[name], w) {
			t.Errorf("%s: shows %v, want %v", name, shown[name], w)
		}
	}
}

// nodeRouteAllowed asks staticwebapp/deployment.js.
func nodeRouteAllowed(t *testing.T, routes []string, route string) bool {
	t.Helper()
	r, _ := json.Marshal(routes)
	q, _ := json.Marshal(route)
	script := `import { routeAllowed } from "./staticwebapp/deployment.js";
process.stdout.write(String(routeAllowed(` + string(r) + `, ` + string(q) + `)));`
	cmd := exec.Command("node", "--input-type=module", "-e", script)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("deployment.js: %v\n%s", err, out)
	}
	return string(out) == "true"
}

// Cross-origin mode really works: /api calls go to the Function App and the CSP allows it.
func TestPaneCallsTheAPIBase(t *testing.T) {
	requireTools(t, "node")
	script := `import { apiFetch } from "./staticwebapp/deployment.js";
const seen = [];
const fake = async (url) => { seen.push(url); };
await apiFetch("/api", fake)("/api/validate");
await apiFetch(undefined, fake)("/api/graph/v1.0/me");
await apiFetch("https://func.azurewebsites.net/api", fake)("/api/exchange");
await apiFetch("https://func.azurewebsites.net/api/", fake)("config.json");
process.stdout.write(seen.join(" "));`
	cmd := exec.Command("node", "--input-type=module", "-e", script)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("deployment.js: %v\n%s", err, out)
	}
	if want := "/api/validate /api/graph/v1.0/me https://func.azurewebsites.net/api/exchange config.json"; string(out) != want {
		t.Errorf("apiFetch sent %s, want %s", out, want)
	}
}

// The workflow writes config.json from the paneConfig output, and opens the CSP to the
// Function App's origin in the cross-origin mode only.
func TestPaneConfigStep(t *testing.T) {
	requireTools(t, "go", "node")
	const origin = "https://func-prod-x.azurewebsites.net"
	const clientID = "0f0e0d0c-0b0a-4908-8706-050403020100"
	for _, c := range []struct {
		name, apiBase string
		wantCSP       string
	}{
		{"linked", "/api", "connect-src 'self' https://login.microsoftonline.com;"},
		{"cors", origin + "/api", "connect-src 'self' " + origin + " https://login.microsoftonline.com;"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newStepEnv(t)
			pane := filepath.Join(e.dir, "build/pane")
			if err := os.MkdirAll(pane, 0o755); err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(pane, "staticwebapp.config.json"), readFile(t, filepath.Join(root, "staticwebapp/staticwebapp.config.json")))
			config := `{"clientId":"` + clientID + `","appIdUri":"api://sea.azurestaticapps.net/` + clientID + `","authority":"https://login.microsoftonline.com/organizations",` +
				`"graphScopes":["User.Read","Mail.Read"],"graphRoutes":["GET /v1.0/me","GET /v1.0/me/messages"],"apiBaseUrl":"` + c.apiBase + `"}`
			if out, err := e.runIn(root, "paneconfig", "PANE_DIR="+pane, "DOMAIN=sea.azurestaticapps.net", "PANE_CONFIG="+config); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			// config.json is the deployment's paneConfig, field for field.
			var got, want any
			_ = json.Unmarshal([]byte(readFile(t, filepath.Join(pane, "config.json"))), &got)
			_ = json.Unmarshal([]byte(config), &want)
			if gb, _ := json.Marshal(got); string(gb) != func() string { b, _ := json.Marshal(want); return string(b) }() {
				t.Errorf("config.json = %s, want %s", gb, config)
			}
			// The manifests name the same registration (and the XML ones its scopes; the
			// unified manifest's webApplicationInfo has only id and resource).
			for _, f := range []string{"outlook.xml", "word-excel-powerpoint.xml", "manifest.json"} {
				m := readFile(t, filepath.Join(pane, f))
				if !strings.Contains(m, clientID) || !strings.Contains(m, "api://sea.azurestaticapps.net/"+clientID) ||
					(strings.HasSuffix(f, ".xml") && !strings.Contains(m, "Mail.Read")) {
					t.Errorf("%s does not name the deployment's registration and scopes", f)
				}
			}
			var swa struct{ GlobalHeaders map[string]string }
			_ = json.Unmarshal([]byte(readFile(t, filepath.Join(pane, "staticwebapp.config.json"))), &swa)
			if csp := swa.GlobalHeaders["Content-Security-Policy"]; !strings.Contains(csp, c.wantCSP) {
				t.Errorf("CSP %q lacks %q", csp, c.wantCSP)
			}
		})
	}
	main := readFile(t, filepath.Join(root, "infra/main.bicep"))
	if !strings.Contains(main, "apiBaseUrl: backendMode == 'linked' ? '/api' : apiBaseUrl") {
		t.Error("paneConfig.apiBaseUrl is not the Function App's in the cors mode")
	}
}
