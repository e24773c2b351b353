package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

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
