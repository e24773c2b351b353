package main

import (
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestManifest checks staticwebapp/manifest.xml: well-formed, on the
// deployment's domain only, and with WebApplicationInfo as legacy SSO needs it
// (last child of VersionOverrides; Resource the App ID URI).
func TestManifest(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(moduleRoot(t), "staticwebapp", "manifest.xml"))
	if err != nil {
		t.Fatal(err)
	}
	type element struct {
		XMLName  xml.Name
		Attrs    []xml.Attr `xml:",any,attr"`
		Text     string     `xml:",chardata"`
		Children []element  `xml:",any"`
	}
	var root element
	if err := xml.Unmarshal(b, &root); err != nil {
		t.Fatalf("manifest.xml is not well-formed: %v", err)
	}
	if root.XMLName.Local != "OfficeApp" {
		t.Fatalf("root is %s", root.XMLName.Local)
	}

	var infos []element
	var walk func(e element, parent *element, last bool)
	walk = func(e element, parent *element, last bool) {
		if e.XMLName.Local == "WebApplicationInfo" {
			if parent == nil || parent.XMLName.Local != "VersionOverrides" || !last {
				t.Errorf("WebApplicationInfo must be the last child of a VersionOverrides")
			}
			infos = append(infos, e)
		}
		for i, c := range e.Children {
			walk(c, &e, i == len(e.Children)-1)
		}
	}
	walk(root, nil, true)
	if len(infos) != 1 {
		t.Fatalf("want one WebApplicationInfo, found %d", len(infos))
	}
	got := map[string]string{}
	var scopes []string
	for _, c := range infos[0].Children {
		got[c.XMLName.Local] = strings.TrimSpace(c.Text)
		if c.XMLName.Local == "Scopes" {
			for _, s := range c.Children {
				scopes = append(scopes, strings.TrimSpace(s.Text))
			}
		}
	}
	if got["Id"] != "{{CLIENT_ID}}" || got["Resource"] != "{{APP_ID_URI}}" {
		t.Errorf("WebApplicationInfo Id %q Resource %q, want the {{CLIENT_ID}} and {{APP_ID_URI}} placeholders", got["Id"], got["Resource"])
	}
	for _, want := range []string{"User.Read", "profile", "openid"} {
		if !strings.Contains(" "+strings.Join(scopes, " ")+" ", " "+want+" ") {
			t.Errorf("WebApplicationInfo Scopes %v lack %s", scopes, want)
		}
	}

	// Every URL is on the deployment's domain, except Entra's in AppDomains and the support link.
	for _, u := range regexp.MustCompile(`https://[^"<\s]+`).FindAllString(string(b), -1) {
		switch {
		case strings.HasPrefix(u, "https://{{DOMAIN}}/"), u == "https://{{DOMAIN}}",
			u == "https://login.microsoftonline.com", u == "https://github.com/addinsso/addinsso":
		default:
			t.Errorf("manifest URL %s is not on https://{{DOMAIN}}", u)
		}
	}
	if !strings.Contains(string(b), "brk-multihub://{{DOMAIN}}") {
		t.Error("the manifest's comment should name NAA's brk-multihub://{{DOMAIN}} redirect")
	}
	// Icons the manifest names must ship.
	for _, m := range regexp.MustCompile(`https://\{\{DOMAIN\}\}/(assets/[^"]+)`).FindAllStringSubmatch(string(b), -1) {
		if !exists(filepath.Join(moduleRoot(t), "staticwebapp", filepath.FromSlash(m[1]))) {
			t.Errorf("manifest names %s, which staticwebapp/ does not have", m[1])
		}
	}
}

// TestPaneFiles checks what Static Web Apps will serve: the config parses and
// its CSP allows exactly what the pane loads; every local script and
// stylesheet the pages name exists (lib/ comes from `make pane`).
func TestPaneFiles(t *testing.T) {
	dir := filepath.Join(moduleRoot(t), "staticwebapp")
	b, err := os.ReadFile(filepath.Join(dir, "staticwebapp.config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg swaConfig
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatalf("staticwebapp.config.json: %v", err)
	}
	csp := cfg.GlobalHeaders["Content-Security-Policy"]
	for _, want := range []string{"script-src 'self' https://appsforoffice.microsoft.com;", "connect-src 'self' https://login.microsoftonline.com;", "object-src 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "frame-ancestors") || cfg.GlobalHeaders["X-Frame-Options"] != "" {
		t.Error("Office on the web frames the task pane: no frame-ancestors or X-Frame-Options")
	}
	if cfg.NavigationFallback.Rewrite != "/taskpane.html" {
		t.Errorf("navigationFallback.rewrite = %q", cfg.NavigationFallback.Rewrite)
	}
	for _, p := range []string{"/api/validate", "/.sandbox/config", "/lib/msal-browser.min.js", "/api.js", "/config.json"} {
		excluded := false
		for _, ex := range cfg.NavigationFallback.Exclude {
			excluded = excluded || routeMatch(ex, p)
		}
		if !excluded {
			t.Errorf("%s falls back to the pane instead of 404", p)
		}
	}
	sandbox404 := false
	for _, r := range cfg.Routes {
		sandbox404 = sandbox404 || (routeMatch(r.Route, "/.sandbox/config") && r.StatusCode == 404)
	}
	if !sandbox404 {
		t.Error("/.sandbox/* must answer 404 on Static Web Apps: the pane detects the sandbox by it")
	}

	ref := regexp.MustCompile(`(?:src|href)="([^"]+)"`)
	for _, page := range []string{"taskpane.html", "fallbackauthdialog.html"} {
		html, err := os.ReadFile(filepath.Join(dir, page))
		if err != nil {
			t.Fatal(err)
		}
		if regexp.MustCompile(`<script>|\son[a-z]+="|style="`).Match(html) {
			t.Errorf("%s has inline script or style, which the CSP refuses", page)
		}
		for _, m := range ref.FindAllStringSubmatch(string(html), -1) {
			u := m[1]
			switch {
			case strings.HasPrefix(u, "https://appsforoffice.microsoft.com/"), u == "lib/msal-browser.min.js":
			case strings.Contains(u, "://"):
				t.Errorf("%s loads %s: only office.js comes from elsewhere", page, u)
			case !exists(filepath.Join(dir, filepath.FromSlash(u))):
				t.Errorf("%s names %s, which does not exist", page, u)
			}
		}
	}

	var pane map[string]any
	b, _ = os.ReadFile(filepath.Join(dir, "config.json"))
	if err := json.Unmarshal(b, &pane); err != nil {
		t.Fatalf("config.json: %v", err)
	}
	if pane["clientId"] != "{{CLIENT_ID}}" || pane["appIdUri"] != "{{APP_ID_URI}}" {
		t.Errorf("config.json = %v: the deploy script fills {{CLIENT_ID}} and {{APP_ID_URI}}", pane)
	}
}
