package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/addinsso/addinsso/dev/entra"
	"github.com/addinsso/addinsso/dev/funchost"
	"github.com/addinsso/addinsso/handler/config"
	"github.com/addinsso/addinsso/handler/function"
	"github.com/addinsso/addinsso/handler/problem"
)

const clientID = "11111111-2222-4333-8444-555555555555"

var alice = entra.User{TenantID: "aaaaaaaa-0000-4000-8000-00000000000a", ObjectID: "a11ce000-0000-4000-8000-000000000001", Name: "Alice", Username: "alice@a.example"}

// declaredRoutes reads every functions/*/function.json: "METHOD /api/route" entries.
func declaredRoutes(t *testing.T) (routes []string, names []string) {
	t.Helper()
	dirs, err := filepath.Glob("../functions/*/function.json")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no function.json found: %v", err)
	}
	for _, p := range dirs {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(filepath.Dir(p))
		d, err := function.Parse(name, b)
		if err != nil {
			t.Fatal(err)
		}
		path, err := d.Path()
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
		for _, m := range d.Methods {
			routes = append(routes, m+" "+path)
		}
	}
	return routes, names
}

func testConfig(t *testing.T, lookup map[string]string) *config.Config {
	t.Helper()
	base := map[string]string{"ADDIN_CLIENT_ID": clientID, "ADDIN_CLIENT_SECRET": "s"}
	for k, v := range lookup {
		base[k] = v
	}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := base[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// The binary serves exactly the routes and methods the function.json files
// declare, plus the host's ping, and the host finds it where host.json says.
func TestRoutesAreFunctionJSON(t *testing.T) {
	declared, names := declaredRoutes(t)
	e, err := newServer(testConfig(t, nil), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	var served []string
	for _, r := range e.Routes() {
		if r.Path == "/" {
			continue
		}
		served = append(served, r.Method+" "+r.Path)
	}
	slices.Sort(served)
	slices.Sort(declared)
	if !slices.Equal(served, declared) {
		t.Errorf("served %v\ndeclared %v", served, declared)
	}
	// Each listed Function is served from its own folder's function.json,
	// and every folder is listed.
	s, err := function.NewServices(testConfig(t, nil), function.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, build := range functions {
		f, err := build(s)
		if err != nil {
			t.Fatal(err)
		}
		onDisk, err := os.ReadFile(filepath.Join("..", "functions", f.Name, "function.json"))
		if err != nil || !bytes.Equal(onDisk, f.JSON) {
			t.Errorf("%s: the embedded function.json is not functions/%s/function.json (%v)", f.Name, f.Name, err)
		}
		listed = append(listed, f.Name)
	}
	slices.Sort(listed)
	slices.Sort(names)
	if !slices.Equal(listed, names) {
		t.Errorf("Functions listed in main %v, folders under functions/ %v", listed, names)
	}

	var host struct {
		CustomHandler struct {
			Description struct {
				DefaultExecutablePath string `json:"defaultExecutablePath"`
			} `json:"description"`
			EnableForwardingHTTPRequest bool `json:"enableForwardingHttpRequest"`
		} `json:"customHandler"`
		Extensions struct {
			HTTP struct {
				RoutePrefix string `json:"routePrefix"`
			} `json:"http"`
		} `json:"extensions"`
	}
	b, err := os.ReadFile("../host.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &host); err != nil {
		t.Fatal(err)
	}
	if host.Extensions.HTTP.RoutePrefix != function.RoutePrefix || !host.CustomHandler.EnableForwardingHTTPRequest ||
		host.CustomHandler.Description.DefaultExecutablePath != "handler" {
		t.Errorf("host.json = %+v", host)
	}
}

// The black-box tests run the real binary as the Functions host would.
var (
	handlerBin string
	emu        *entra.Server
	caFile     string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "handler-test-")
	if err != nil {
		panic(err)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		if handlerBin, err = funchost.Build(dir); err != nil {
			panic(err)
		}
		if emu, err = entra.Start(nil); err != nil {
			panic(err)
		}
		defer emu.Close()
		caFile = filepath.Join(dir, "ca.pem")
		if err := emu.CA.WriteFile(caFile); err != nil {
			panic(err)
		}
		// In-process servers trust the emulator as the binary does: through
		// SSL_CERT_FILE, read when the system roots are first loaded.
		os.Setenv("SSL_CERT_FILE", caFile)
		return m.Run()
	}()
	os.Exit(code)
}

func handlerEnv(overrides map[string]string) map[string]string {
	env := map[string]string{
		"ADDIN_CLIENT_ID":      clientID,
		"ADDIN_CLIENT_SECRET":  "emulator-secret",
		"ENTRA_AUTHORITY_HOST": emu.URL,
		"SSL_CERT_FILE":        caFile, // the only way the handler trusts the emulator
	}
	for k, v := range overrides {
		env[k] = v
	}
	return env
}

func startHandler(t *testing.T, overrides map[string]string) *funchost.Handler {
	t.Helper()
	h, err := funchost.Start(handlerBin, handlerEnv(overrides), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Stop)
	return h
}

type answer struct {
	status int
	header http.Header
	body   []byte
	prob   problem.Body
}

func call(t *testing.T, method, url string, headers map[string]string) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, body: body}
	// Problems are application/problem+json, or application/json from
	// graph-proxy (Graph's SDKs read errors only as JSON).
	if ct := resp.Header.Get("Content-Type"); strings.HasPrefix(ct, "application/problem+json") || strings.HasPrefix(ct, "application/json") && strings.Contains(string(body), `"action"`) {
		if err := json.Unmarshal(body, &a.prob); err != nil {
			t.Fatalf("problem body %q: %v", body, err)
		}
	}
	return a
}

func TestBinaryServesDeclaredRoutesOnly(t *testing.T) {
	h := startHandler(t, nil)
	declared, _ := declaredRoutes(t)
	for _, r := range declared {
		method, path, _ := strings.Cut(r, " ")
		path = strings.Replace(path, "*", "v1.0/me", 1)
		a := call(t, method, h.URL+path, nil)
		if !strings.HasPrefix(path, "/"+function.RoutePrefix+"/") {
			// A timer Function: only the host invokes it, with its payload,
			// on the loopback port; it answers the invocation, never a caller.
			if a.status != http.StatusOK || !strings.Contains(string(a.body), `"Logs"`) {
				t.Errorf("%s %s: %d %s, want the host's invocation answered", method, path, a.status, a.body)
			}
			continue
		}
		if a.status == http.StatusNotFound || a.status == http.StatusMethodNotAllowed || a.prob.Code == "" {
			t.Errorf("%s %s: %d %s, want it served with a problem (no token sent)", method, path, a.status, a.body)
		}
	}
	for _, tt := range []struct {
		method, path string
		status       int
		code         problem.Code
	}{
		{"PUT", "/api/validate", 405, problem.MethodNotAllowed},
		{"DELETE", "/api/validate", 405, problem.MethodNotAllowed},
		{"GET", "/api/exchange", 405, problem.MethodNotAllowed},
		{"GET", "/api/nothing", 404, problem.NotFound},
		{"GET", "/validate", 404, problem.NotFound},
		{"GET", "/api", 404, problem.NotFound},
		{"POST", "/", 405, problem.MethodNotAllowed},
	} {
		a := call(t, tt.method, h.URL+tt.path, nil)
		if a.status != tt.status || a.prob.Code != tt.code {
			t.Errorf("%s %s: %d %s, want %d %s", tt.method, tt.path, a.status, a.body, tt.status, tt.code)
		}
	}
	// OPTIONS is a method no Function serves (it is in no function.json): a
	// problem like any other, with Allow naming exactly the declared methods.
	for _, m := range []string{"OPTIONS", "PUT"} {
		a := call(t, m, h.URL+"/api/validate", nil)
		allow := strings.Split(strings.ReplaceAll(a.header.Get("Allow"), " ", ""), ",")
		slices.Sort(allow)
		if a.status != http.StatusMethodNotAllowed || a.prob.Code != problem.MethodNotAllowed || strings.Join(allow, ",") != "GET,POST" {
			t.Errorf("%s /api/validate: %d %s, Allow %q", m, a.status, a.prob.Code, a.header.Get("Allow"))
		}
	}
}

func TestBinaryValidate(t *testing.T) {
	h := startHandler(t, map[string]string{"ADDIN_MFA_POLICY": "acrs:c1"})
	url := h.URL + "/api/validate"
	good := emu.Issue(alice, clientID, entra.Token{ACRS: []string{"c1"}})

	a := call(t, "GET", url, map[string]string{"X-Addin-Authorization": "Bearer " + good, "Authorization": "Bearer swa-platform-token"})
	var id struct {
		TenantID, ObjectID, Username, TokenVersion, MFA string
	}
	if err := json.Unmarshal(a.body, &id); err != nil || a.status != 200 ||
		id.ObjectID != alice.ObjectID || id.TenantID != alice.TenantID || id.Username != alice.Username || id.TokenVersion != "2.0" || id.MFA != "true" {
		t.Fatalf("validate: %d %s", a.status, a.body)
	}
	if a.header.Get("Cache-Control") != "no-store" || a.header.Get("X-Correlation-Id") == "" {
		t.Errorf("headers = %v", a.header)
	}
	// POST works too, and Authorization is used when X-Addin-Authorization is absent.
	if a := call(t, "POST", url, map[string]string{"Authorization": "Bearer " + good}); a.status != 200 {
		t.Errorf("POST with Authorization: %d %s", a.status, a.body)
	}
	// X-Addin-Authorization wins: a bad one is not rescued by a good Authorization.
	if a := call(t, "GET", url, map[string]string{"X-Addin-Authorization": "Bearer x.y.z", "Authorization": "Bearer " + good}); a.status != 401 {
		t.Errorf("bad X-Addin-Authorization: %d %s", a.status, a.body)
	}

	// A bad token in Authorization gets a hint: behind Static Web Apps it is the platform's.
	if a := call(t, "GET", url, map[string]string{"Authorization": "Bearer swa-platform-token"}); a.prob.Code != problem.InvalidToken ||
		!strings.Contains(a.prob.Detail, "X-Addin-Authorization") {
		t.Errorf("no hint for a bad Authorization token: %s", a.body)
	}

	// A caller's correlation ID is kept.
	if a := call(t, "GET", url, map[string]string{"X-Correlation-Id": "pane-1234567890"}); a.prob.CorrelationID != "pane-1234567890" ||
		a.header.Get("X-Correlation-Id") != "pane-1234567890" {
		t.Errorf("correlation ID: %s %v", a.body, a.header)
	}

	noMFA := emu.Issue(alice, clientID, entra.Token{})
	tests := []struct {
		name    string
		headers map[string]string
		status  int
		code    problem.Code
		action  problem.Action
		wwwAuth string
	}{
		{"no token", nil, 401, problem.MissingToken, problem.SignIn, "Bearer"},
		{"not bearer", map[string]string{"Authorization": "Basic dXNlcjpwYXNz"}, 401, problem.InvalidToken, problem.Fatal, `error="invalid_token"`},
		{"garbage", map[string]string{"X-Addin-Authorization": "Bearer garbage"}, 401, problem.InvalidToken, problem.Fatal, `error="invalid_token"`},
		{"expired", map[string]string{"X-Addin-Authorization": "Bearer " + emu.Issue(alice, clientID, entra.Token{ACRS: []string{"c1"}, IssuedAt: time.Now().Add(-3 * time.Hour)})}, 401, problem.TokenExpired, problem.RetrySSO, `error="invalid_token"`},
		{"mfa context missing", map[string]string{"X-Addin-Authorization": "Bearer " + noMFA}, 401, problem.MFARequired, problem.AuthChallenge, `error="insufficient_claims"`},
		{"missing scope", map[string]string{"X-Addin-Authorization": "Bearer " + emu.Issue(alice, clientID, entra.Token{Scopes: "profile", ACRS: []string{"c1"}})}, 403, problem.InsufficientScope, problem.Fatal, `error="insufficient_scope"`},
		{"oversized", map[string]string{"X-Addin-Authorization": "Bearer " + strings.Repeat("a", 40<<10)}, 401, problem.InvalidToken, problem.Fatal, `error="invalid_token"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := call(t, "GET", url, tt.headers)
			if a.status != tt.status || a.prob.Code != tt.code || a.prob.Action != tt.action || a.prob.Status != tt.status {
				t.Fatalf("%d %s", a.status, a.body)
			}
			if !strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Bearer") || !strings.Contains(a.header.Get("WWW-Authenticate"), tt.wwwAuth) {
				t.Errorf("WWW-Authenticate = %q", a.header.Get("WWW-Authenticate"))
			}
			if a.prob.CorrelationID == "" || a.prob.Type == "" || a.prob.Title == "" {
				t.Errorf("problem lacks members: %s", a.body)
			}
		})
	}

	// The challenge's claims: raw JSON in the body, base64 in WWW-Authenticate.
	a = call(t, "GET", url, map[string]string{"X-Addin-Authorization": "Bearer " + noMFA})
	want := `{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`
	if a.prob.Claims != want || !strings.Contains(a.header.Get("WWW-Authenticate"), base64.StdEncoding.EncodeToString([]byte(want))) {
		t.Errorf("claims %q, WWW-Authenticate %q", a.prob.Claims, a.header.Get("WWW-Authenticate"))
	}

	// No token reached the logs; the process survived everything.
	logs := h.Logs()
	for _, tok := range []string{good, noMFA} {
		if strings.Contains(logs, tok) || strings.Contains(logs, strings.Split(tok, ".")[2]) {
			t.Error("a token reached the logs")
		}
	}
	if !h.Alive() || !strings.Contains(logs, `"correlationId"`) {
		t.Errorf("alive=%v logs:\n%s", h.Alive(), logs)
	}
}

// Bad configuration stops the process with one line naming the setting.
func TestBinaryRefusesBadConfig(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	code, out, err := funchost.Run(ctx, handlerBin, handlerEnv(map[string]string{"ADDIN_MFA_POLICY": "always"}))
	if err != nil {
		t.Fatal(err)
	}
	out = strings.TrimSpace(out)
	if code != 2 || strings.Count(out, "\n") != 0 || !strings.Contains(out, "ADDIN_MFA_POLICY") {
		t.Errorf("exit %d, output %q", code, out)
	}
}

// The host's ping is answered with no network call before it: Entra is down and
// the handler still starts at once.
func TestBinaryStartsWithoutNetwork(t *testing.T) {
	emu.SetDown(true)
	defer emu.SetDown(false)
	before := emu.Count("discovery") + emu.Count("jwks")
	h := startHandler(t, nil)
	if got := emu.Count("discovery") + emu.Count("jwks"); got != before {
		t.Errorf("the handler called Entra %d times before any token arrived", got-before)
	}
	t.Logf("ping answered %v after exec", h.Started)
}

// BenchmarkValidate is one validate request through the whole in-process stack
// (echo, middleware, verifier) with a warm key set and verified-token memo.
func BenchmarkValidate(b *testing.B) {
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := handlerEnv(nil)[k]; return v, ok })
	if err != nil {
		b.Fatal(err)
	}
	e, err := newServer(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	tok := emu.Issue(alice, clientID, entra.Token{})
	serve := func() int {
		req := httptest.NewRequest("GET", "/api/validate", nil)
		req.Header.Set("X-Addin-Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		return rec.Code
	}
	if code := serve(); code != 200 {
		b.Fatalf("status %d", code)
	}
	b.ReportAllocs()
	for b.Loop() {
		if serve() != 200 {
			b.Fatal("not 200")
		}
	}
}
