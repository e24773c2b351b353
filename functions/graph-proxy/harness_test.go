package graphproxy

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/addinsso/addinsso/dev/capture"
	"github.com/addinsso/addinsso/dev/entra"
	"github.com/addinsso/addinsso/dev/graph"
	"github.com/addinsso/addinsso/handler/config"
	hentra "github.com/addinsso/addinsso/handler/entra"
	"github.com/addinsso/addinsso/handler/function"
	"github.com/addinsso/addinsso/handler/graphtoken"
	"github.com/addinsso/addinsso/handler/problem"
	"github.com/addinsso/addinsso/handler/token"
	"github.com/addinsso/addinsso/handler/tokencache"
	"github.com/addinsso/addinsso/handler/web"
)

const (
	clientID = "11111111-2222-4333-8444-555555555555"
	tenantID = "aaaaaaaa-0000-4000-8000-00000000000a"

	allowedRoutes = "GET /v1.0/me, GET /v1.0/me/messages, GET /v1.0/me/messages/{id}, GET /v1.0/me/photo/$value, " +
		"POST /v1.0/me/sendMail, GET /v1.0/me/drive/items/{id}/content, PUT /v1.0/me/drive/items/{id}/content"
	graphScopes = "User.Read Mail.Read Mail.Send Files.ReadWrite"
)

var (
	idp      *entra.Server
	graphEmu *graph.Server
	// secrets collects every token the tests mint, to prove none reaches a log.
	secrets sync.Map
)

func TestMain(m *testing.M) {
	var err error
	if idp, err = entra.Start(nil); err != nil {
		panic(err)
	}
	if graphEmu, err = graph.Start(idp.CA, idp.VerifyIssued); err != nil {
		panic(err)
	}
	code := m.Run()
	graphEmu.Close()
	idp.Close()
	os.Exit(code)
}

func newUser(name string) entra.User {
	first, _, _ := strings.Cut(name, " ")
	return entra.User{TenantID: tenantID, ObjectID: entra.NewGUID(), Name: name, Username: strings.ToLower(first) + "@contoso.example"}
}

// addinToken is the task pane's token for the add-in's API.
func addinToken(u entra.User) string {
	tok := idp.Issue(u, clientID, entra.Token{})
	secrets.Store(tok, true)
	return tok
}

// mintingTokens stands in for the cache and On-Behalf-Of: it mints Graph
// tokens with the Entra emulator and keeps one per user.
type mintingTokens struct {
	mu        sync.Mutex
	cache     map[string]string
	scopes    map[string]string // per user; default graphScopes
	failures  map[string]error  // per user
	calls     atomic.Int64
	fresh     atomic.Int64
	forgotten atomic.Int64
}

func newMintingTokens() *mintingTokens {
	return &mintingTokens{cache: map[string]string{}, scopes: map[string]string{}, failures: map[string]error{}}
}

func (m *mintingTokens) Get(ctx context.Context, r graphtoken.Request) (graphtoken.Grant, error) {
	m.calls.Add(1)
	if r.Refused {
		m.fresh.Add(1)
	}
	id := r.Identity
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.failures[id.ObjectID]; err != nil {
		return graphtoken.Grant{}, err
	}
	if tok, ok := m.cache[id.ObjectID]; ok && !r.Refused {
		return graphtoken.Grant{Token: hentra.Token{AccessToken: tok}, Source: tokencache.Memory}, nil
	}
	scopes := m.scopes[id.ObjectID]
	if scopes == "" {
		scopes = graphScopes
	}
	u := entra.User{TenantID: id.TenantID, ObjectID: id.ObjectID, Name: id.Name, Username: id.Username}
	// CAE-capable, as On-Behalf-Of issues them to this server, which
	// declares the client capability cp1 (obo.ClientCapabilities).
	tok := idp.Issue(u, graph.ResourceURL, entra.Token{Scopes: scopes, ClientApp: clientID, Claims: map[string]any{"xms_cc": []string{"cp1"}}})
	secrets.Store(tok, true)
	m.cache[id.ObjectID] = tok
	return graphtoken.Grant{Token: hentra.Token{AccessToken: tok, ExpiresAt: time.Now().Add(time.Hour)}, Source: graphtoken.FromEntra}, nil
}

func (m *mintingTokens) Forget(ctx context.Context, id *token.Identity) error {
	m.forgotten.Add(1)
	m.mu.Lock()
	delete(m.cache, id.ObjectID)
	m.mu.Unlock()
	return nil
}

// scope sets the scopes the user's Graph tokens carry.
func (m *mintingTokens) scope(oid, scopes string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.scopes[oid] = scopes
}

// fail makes every request for the user's Graph token fail with err.
func (m *mintingTokens) fail(oid string, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failures[oid] = err
}

func (m *mintingTokens) cached(oid string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cache[oid]
}

// harness is graph-proxy mounted from its function.json behind the shared
// middleware, as handler/main.go mounts it, with a real verifier against the
// Entra emulator and the Graph emulator upstream.
type harness struct {
	services function.Services
	proxy    *Proxy
	tokens   *mintingTokens
	echo     *echo.Echo
	server   *httptest.Server
	client   *http.Client
	logs     *capture.Buffer
}

type setup struct {
	graphURL     string
	timeout      time.Duration
	routes       string
	discardLogs  bool          // benchmarks: encode log lines as production does, keep none
	graphTimeout time.Duration // Services.HTTPClient.Timeout
}

func newHarness(t testing.TB, opts ...func(*setup)) *harness {
	t.Helper()
	s := setup{graphURL: graphEmu.URL, timeout: 45 * time.Second, routes: allowedRoutes}
	for _, o := range opts {
		o(&s)
	}
	env := map[string]string{
		"ADDIN_CLIENT_ID":      clientID,
		"ADDIN_CLIENT_SECRET":  "not-used-here",
		"ENTRA_AUTHORITY_HOST": idp.URL,
		"GRAPH_BASE_URL":       s.graphURL,
		"GRAPH_SCOPES":         graphScopes,
		"GRAPH_ALLOWED_ROUTES": s.routes,
	}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{tokens: newMintingTokens(), logs: &capture.Buffer{}}
	h.services = function.Services{
		Config: cfg,
		Verifier: token.New(token.Config{ClientID: cfg.ClientID, TenantID: cfg.TenantID, RequiredScope: cfg.RequiredScope, AllowedClientApps: cfg.AllowedClientApps, MFA: cfg.MFA, AuthorityHost: cfg.AuthorityHost},
			token.Options{HTTPClient: idp.Client()}),
		Tokens: h.tokens,
		// Like the default client: trusts the emulator's CA, no Client.Timeout
		// (the request's context bounds each call).
		HTTPClient: &http.Client{Transport: graphEmu.Client().Transport, Timeout: s.graphTimeout},
	}
	if h.proxy, err = newProxy(h.services); err != nil {
		t.Fatal(err)
	}
	h.echo = echo.New()
	h.echo.HTTPErrorHandler = web.ErrorHandler
	var logTo io.Writer = h.logs
	if s.discardLogs {
		logTo = io.Discard
	}
	h.echo.Use(web.Middleware(slog.New(slog.NewJSONHandler(logTo, nil)), s.timeout))
	if err := function.Mount(h.echo, function.Function{Name: "graph-proxy", JSON: functionJSON, Handler: h.proxy.serve}); err != nil {
		t.Fatal(err)
	}
	h.server = httptest.NewServer(h.echo)
	h.client = h.server.Client()
	h.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	t.Cleanup(func() {
		h.server.Close()
		for _, line := range strings.Split(h.logs.String(), "\n") {
			secrets.Range(func(k, _ any) bool {
				if strings.Contains(line, k.(string)) {
					t.Errorf("a token reached the logs: %.200s", line)
				}
				return true
			})
		}
	})
	return h
}

// do sends a request over HTTP to the proxy with the user's add-in token.
func (h *harness) do(t testing.TB, method, path, tok string, header http.Header, body io.Reader) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, h.server.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if tok != "" {
		req.Header.Set(function.AddinAuthorization, "Bearer "+tok)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// serve sends a raw request target in process, for targets an HTTP client would tidy up.
func (h *harness) serve(method, target, tok string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	if tok != "" {
		req.Header.Set(function.AddinAuthorization, "Bearer "+tok)
	}
	rec := httptest.NewRecorder()
	h.echo.ServeHTTP(rec, req)
	return rec
}

func readAll(t testing.TB, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// problemOf decodes a problem answer, failing unless it is one with the status.
func problemOf(t testing.TB, status int, header http.Header, b []byte) problem.Body {
	t.Helper()
	var p problem.Body
	// graph-proxy answers its problems as application/json, as Graph answers
	// errors, so Graph's SDKs parse them.
	if ct := header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want a problem: %s", ct, b)
	}
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	if p.Status != status {
		t.Fatalf("problem status %d, want %d: %s", p.Status, status, b)
	}
	return p
}
