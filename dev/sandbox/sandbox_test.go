package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/addinsso/addinsso/dev/capture"
	"github.com/addinsso/addinsso/dev/funchost"
)

// need skips the test when a tool is missing, except in CI (CI=true), where
// a missing browser or node_modules must fail the build, not pass it silently.
func need(t *testing.T, what, hint string, ok bool) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is missing (%s): CI must run the task pane's tests", what, hint)
	}
	t.Skipf("skipping: %s is missing (%s)", what, hint)
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := funchost.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func nodePath(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	need(t, "node", "install Node.js 20+", err == nil)
	return node
}

func chromiumPath() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// TestPaneUnit runs the task pane's node unit tests (api.js's action handling,
// the token providers), so `go test ./...` covers them.
func TestPaneUnit(t *testing.T) {
	root := moduleRoot(t)
	node := nodePath(t)
	files, _ := filepath.Glob(filepath.Join(root, "staticwebapp", "test", "*.test.mjs"))
	if len(files) == 0 {
		t.Fatal("no staticwebapp/test/*.test.mjs")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{"--test", "--test-reporter=spec"}, files...)...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test: %v\n%s", err, out)
	}
	t.Logf("node --test:\n%s", lastLines(string(out), 9))
}

// TestPaneInChromium starts the sandbox in-process on free ports and drives the
// task pane in Debian's Chromium (staticwebapp/test/browser.mjs): it signs in as
// dev users, validates, and once the exchange and graph-proxy are in, exchanges
// and calls Graph through each scripted recovery. Screenshots go to a temporary
// directory, or to $PANE_SCREENSHOTS.
func TestPaneInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the browser test in -short mode")
	}
	root := moduleRoot(t)
	node := nodePath(t)
	need(t, "Chromium at "+chromiumPath(), "sudo apt-get install chromium; never a downloaded browser", exists(chromiumPath()))
	need(t, "node_modules (playwright-core, azurite)", "run npm ci in the repository root", exists(filepath.Join(root, "node_modules", "playwright-core")) && exists(filepath.Join(root, "node_modules", ".bin", "azurite-table")))

	var logs capture.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	s, err := Start(ctx, Options{Addr: "127.0.0.1:0", Root: root, WorkDir: t.TempDir(), Log: &logs})
	if err != nil {
		t.Fatalf("sandbox: %v\n%s", err, logs.String())
	}
	defer s.Close()
	if s.azurite == nil {
		t.Fatalf("the sandbox runs without Azurite:\n%s", logs.String())
	}

	shots := os.Getenv("PANE_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, node, filepath.Join("staticwebapp", "test", "browser.mjs"), s.URL, shots)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromiumPath())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("browser test: %v\n%s\n--- sandbox logs ---\n%s", err, out, lastLines(logs.String(), 60))
	}
	t.Logf("browser test:\n%s", out)

	var summary struct {
		Passed      []string `json:"passed"`
		Screenshots []string `json:"screenshots"`
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &summary); err != nil {
		t.Fatalf("browser test summary: %v", err)
	}
	if len(summary.Passed) == 0 {
		t.Fatal("the browser test passed no step")
	}
	t.Logf("browser steps passed: %d", len(summary.Passed))
	// No token may reach the sandbox's output either (the handler's logs included).
	if m := regexp.MustCompile(`eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.`).FindString(logs.String()); m != "" {
		t.Errorf("a token reached the logs: %.40s…", m)
	}
}

// TestFront checks the front server's Static Web Apps rules and sandbox
// endpoints without a browser.
func TestFront(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: builds and starts the handler")
	}
	root := moduleRoot(t)
	var logs capture.Buffer
	s, err := Start(context.Background(), Options{Addr: "127.0.0.1:0", Root: root, WorkDir: t.TempDir(), Log: &logs})
	if err != nil {
		t.Fatalf("sandbox: %v\n%s", err, logs.String())
	}
	defer s.Close()
	base := strings.TrimSuffix(s.URL, "/taskpane.html")

	get := func(path string, header ...string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}

	for _, c := range []struct {
		path   string
		status int
	}{
		{"/taskpane.html", 200},
		{"/", 200},                  // navigation fallback
		{"/some/client/route", 200}, // navigation fallback
		{"/missing.js", 404},        // excluded from the fallback
		{"/api/nothing-here", 404},  // the handler's own 404 (a problem)
		{"/.sandbox/unknown", 404},
		{"/test/api.test.mjs", 404}, // staticwebapp.config.json's route rule
	} {
		if resp, _ := get(c.path); resp.StatusCode != c.status {
			t.Errorf("GET %s = %d, want %d", c.path, resp.StatusCode, c.status)
		}
	}

	resp, _ := get("/taskpane.html")
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self' https://appsforoffice.microsoft.com") {
		t.Errorf("the pane is served without the configured CSP: %q", csp)
	}

	var tok mintedToken
	if resp, body := get("/.sandbox/token?user=alice&profile=desktop-v1"); resp.StatusCode != 200 || json.Unmarshal([]byte(body), &tok) != nil || tok.TokenVersion != "1.0" {
		t.Fatalf("token: %d %s", resp.StatusCode, body)
	}

	// The platform replaces Authorization: only X-Addin-Authorization reaches the handler intact.
	if resp, body := get("/api/validate", "Authorization", "Bearer "+tok.AccessToken); resp.StatusCode != 401 || !strings.Contains(body, `"invalid_token"`) {
		t.Errorf("validate with Authorization = %d %s, want 401 invalid_token (the platform's token)", resp.StatusCode, body)
	}
	resp, body := get("/api/validate", "X-Addin-Authorization", "Bearer "+tok.AccessToken)
	if resp.StatusCode != 200 || !strings.Contains(body, `"username":"alice@contoso.example"`) || !strings.Contains(body, `"mfa":"false"`) {
		t.Errorf("validate = %d %s", resp.StatusCode, body)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("/api Cache-Control = %q, want no-store", cc)
	}

	if resp, body := get("/.sandbox/token?user=nobody"); resp.StatusCode != 404 {
		t.Errorf("unknown user: %d %s", resp.StatusCode, body)
	}

	// The pane's libraries come from node_modules, as `make pane` copies them; nothing else does.
	for _, c := range []struct {
		path   string
		status int
	}{
		{"/lib/msal-browser.min.js", 200},
		{"/lib/fluent/web-components.min.js", 200},
		{"/lib/fluent-tokens/index.js", 200},
		{"/lib/other.js", 404},
	} {
		resp, _ := get(c.path)
		if resp.StatusCode != c.status {
			t.Errorf("GET %s = %d, want %d", c.path, resp.StatusCode, c.status)
		}
		if c.status == 200 && !strings.Contains(resp.Header.Get("Content-Type"), "javascript") {
			t.Errorf("GET %s: Content-Type %q", c.path, resp.Header.Get("Content-Type"))
		}
	}

	if _, body := get("/lib/fluent-tokens/../../../go.mod"); strings.Contains(body, "module ") {
		t.Error("/lib/ serves files outside the libraries")
	}

	// A token minted for inspection is not the session's: expired-erin's first token is still expired.
	post := func(path, body string) (*http.Response, string) {
		t.Helper()
		resp, err := http.Post(base+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	post("/.sandbox/signin", `{"user": "expired-erin"}`)
	if _, body := get("/.sandbox/token?user=expired-erin&inspect=1"); json.Unmarshal([]byte(body), &tok) != nil || !tok.ExpiresAt.After(time.Now()) {
		t.Errorf("an inspected token of erin expired: %s", body)
	}
	if _, body := get("/.sandbox/token?user=expired-erin"); json.Unmarshal([]byte(body), &tok) != nil || tok.ExpiresAt.After(time.Now()) {
		t.Errorf("erin's first token after sign-in must have expired: %s", body)
	}

	// The MFA policy switch restarts the handler with ADDIN_MFA_POLICY.
	if resp, body := post("/.sandbox/policy", `{"policy": "acrs:c9"}`); resp.StatusCode != 400 {
		t.Errorf("an unknown policy: %d %s", resp.StatusCode, body)
	}
	if resp, body := post("/.sandbox/policy", `{"policy": "acrs:c1"}`); resp.StatusCode != 200 || !strings.Contains(body, `"acrs:c1"`) {
		t.Fatalf("policy acrs:c1: %d %s", resp.StatusCode, body)
	}
	if _, body := get("/.sandbox/config"); !strings.Contains(body, `"mfaPolicy":"acrs:c1"`) {
		t.Errorf("config after the switch: %s", body)
	}
	_, body = get("/.sandbox/token?user=alice")
	_ = json.Unmarshal([]byte(body), &tok)
	if resp, body := get("/api/validate", "X-Addin-Authorization", "Bearer "+tok.AccessToken); resp.StatusCode != 401 || !strings.Contains(body, `"mfa_required"`) {
		t.Errorf("validate under acrs:c1 = %d %s, want 401 mfa_required", resp.StatusCode, body)
	}
	if resp, body := post("/.sandbox/policy", `{"policy": "off"}`); resp.StatusCode != 200 {
		t.Fatalf("policy off: %d %s", resp.StatusCode, body)
	}
	if resp, body := get("/api/validate", "X-Addin-Authorization", "Bearer "+tok.AccessToken); resp.StatusCode != 200 {
		t.Errorf("validate with the policy off again = %d %s", resp.StatusCode, body)
	}
	if !s.Alive() {
		t.Error("the handler is not running after two policy switches")
	}
}

// TestPaneLibsInMakefile checks that `make pane` copies each library the
// sandbox serves from node_modules to the same place under lib/.
func TestPaneLibsInMakefile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(moduleRoot(t), "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	mk := string(b)
	for name, src := range paneLibs {
		if !strings.Contains(mk, "node_modules/"+src) || !strings.Contains(mk, "$(PANE)/lib/"+strings.TrimSuffix(name, "/")) {
			t.Errorf("the Makefile's pane target does not copy node_modules/%s to lib/%s", src, name)
		}
	}
}

// descendants lists the processes below pid, from /proc.
func descendants(pid int) []int {
	parent := map[int]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		// The command name is in parentheses and may hold spaces: fields start after the last ')'.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) > 1 {
			parent[p], _ = strconv.Atoi(f[1])
		}
	}
	var out []int
	var walk func(int)
	walk = func(p int) {
		for child, pp := range parent {
			if pp == p {
				out = append(out, child)
				walk(child)
			}
		}
	}
	walk(pid)
	return out
}

// alive reports whether pid runs (a zombie waiting for its reaper does not).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return len(f) > 0 && f[0] != "Z"
}

func cmdline(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return strings.ReplaceAll(strings.TrimRight(string(b), "\x00"), "\x00", " ")
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
