package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/addinsso/addinsso/manifest"
)

// apiTimeout is Static Web Apps' limit for a request to the linked backend.
const apiTimeout = 45 * time.Second

// front is Static Web Apps' part, one for the emulators' sandbox and the
// run against a tenant: the pane's files under staticwebapp.config.json's
// rules, config.json, and /api/* to the linked backend (the Functions host).
type front struct {
	paneDir string            // staticwebapp/
	libs    map[string]string // lib/<name> → the file or folder in node_modules `make pane` copies there
	backend func() string     // the Functions host (or the handler) the platform forwards /api to
	config  func() map[string]any
	log     *prefixer
}

// paneLibs are the pane's libraries, served from node_modules as `make pane`
// copies them into lib/ (keep the two in step): MSAL.js's UMD build, Fluent 2
// web components' ES module bundle and the Fluent design tokens' themes.
var paneLibs = map[string]string{
	"msal-browser.min.js":          "@azure/msal-browser/lib/msal-browser.min.js",
	"fluent/web-components.min.js": "@fluentui/web-components/dist/web-components-all.min.js",
	"fluent-tokens":                "@fluentui/tokens/lib",
}

func newFront(root string, backend func() string, log *prefixer, config func() map[string]any) *front {
	libs := map[string]string{}
	for name, p := range paneLibs {
		libs[name] = filepath.Join(root, "node_modules", filepath.FromSlash(p))
	}
	return &front{
		paneDir: filepath.Join(root, "staticwebapp"),
		libs:    libs,
		backend: backend,
		config:  config,
		log:     log,
	}
}

// listen opens the front server's port, on loopback only: the sandbox mints
// tokens for anyone who asks, and a developer's machine is no server.
func listen(addr string) (net.Listener, error) {
	host, _, _ := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("-addr %s: the front server listens on loopback only", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("front server: %w (is another run using the port? choose another with -port)", err)
	}
	return ln, nil
}

// mount adds the front server's routes to mux.
func (f *front) mount(mux *http.ServeMux) {
	mux.Handle("/api/", f.apiProxy())
	mux.HandleFunc("GET /config.json", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, f.config()) })
	mux.HandleFunc("GET /lib/", f.lib)
	mux.HandleFunc("/", f.static)
}

// routes is the sandbox's front server: Static Web Apps' part plus the
// sandbox-only /.sandbox/* endpoints, which Static Web Apps answers with 404.
func (s *Sandbox) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.sandbox/config", s.sandboxConfig)
	mux.HandleFunc("GET /.sandbox/token", s.sandboxToken)
	mux.HandleFunc("POST /.sandbox/signin", s.sandboxSignIn)
	mux.HandleFunc("POST /.sandbox/consent", s.sandboxConsent)
	mux.HandleFunc("POST /.sandbox/policy", s.sandboxPolicy)
	mux.HandleFunc("/.sandbox/", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	s.front.mount(mux)
	return mux
}

// lib serves lib/ from node_modules, where `make pane` copies it from.
func (f *front) lib(w http.ResponseWriter, r *http.Request) {
	f.applyRoutes(w.Header(), r.URL.Path)
	name := strings.TrimPrefix(path.Clean(r.URL.Path), "/lib/")
	for prefix, file := range f.libs {
		if name == prefix {
			f.serveFile(w, r, file)
			return
		}
		if rest, ok := strings.CutPrefix(name, prefix+"/"); ok && !strings.Contains(rest, "..") {
			f.serveFile(w, r, filepath.Join(file, filepath.FromSlash(rest)))
			return
		}
	}
	http.NotFound(w, r)
}

// apiProxy forwards /api/* to the handler as Static Web Apps' linked backend
// does: the platform puts its own token in Authorization (so the pane must send
// X-Addin-Authorization) and gives the backend 45 seconds.
func (f *front) apiProxy() http.Handler {
	platformToken := "Bearer " + strings.TrimRight(randomBase64(48), "=")
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			target, _ := url.Parse(f.backend())
			pr.SetURL(target)
			pr.SetXForwarded()
			pr.Out.Header.Set("Authorization", platformToken)
		},
		ModifyResponse: func(resp *http.Response) error {
			f.applyRoutes(resp.Header, resp.Request.URL.Path) // headers staticwebapp.config.json sets on /api/*
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			// Like the platform, answer with a page of its own, not a problem document.
			status, msg := http.StatusBadGateway, "The backend could not be reached."
			if errors.Is(err, context.DeadlineExceeded) {
				status, msg = http.StatusGatewayTimeout, "The backend did not answer within 45 seconds (Static Web Apps' limit)."
			}
			http.Error(w, msg, status)
		},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), apiTimeout)
		defer cancel()
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		proxy.ServeHTTP(rec, r.WithContext(ctx))
		// The path only: a query may name a user's data, and no header is ever logged.
		f.log.printf("swa", "%s %s → %d (%d ms)", r.Method, r.URL.Path, rec.status, time.Since(start).Milliseconds())
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// swaConfig is the part of staticwebapp.config.json the sandbox applies.
type swaConfig struct {
	Routes []struct {
		Route      string            `json:"route"`
		StatusCode int               `json:"statusCode"`
		Headers    map[string]string `json:"headers"`
	} `json:"routes"`
	NavigationFallback struct {
		Rewrite string   `json:"rewrite"`
		Exclude []string `json:"exclude"`
	} `json:"navigationFallback"`
	GlobalHeaders map[string]string `json:"globalHeaders"`
}

// swa reads staticwebapp.config.json on each request, so edits show at once.
func (f *front) swa() (*swaConfig, error) {
	b, err := os.ReadFile(filepath.Join(f.paneDir, "staticwebapp.config.json"))
	if err != nil {
		return nil, err
	}
	var c swaConfig
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("staticwebapp.config.json: %w", err)
	}
	return &c, nil
}

// applyRoutes sets the global headers and those of the first route matching
// urlPath (route headers win), and reports the route's status code (0 when none).
func (f *front) applyRoutes(h http.Header, urlPath string) int {
	c, err := f.swa()
	if err != nil {
		f.log.printf("sandbox", "%v", err)
		return http.StatusInternalServerError
	}
	for k, v := range c.GlobalHeaders {
		h.Set(k, v)
	}
	for _, rt := range c.Routes {
		if routeMatch(rt.Route, urlPath) {
			for k, v := range rt.Headers {
				h.Set(k, v)
			}
			return rt.StatusCode
		}
	}
	return 0
}

// static serves the pane's files with Static Web Apps' rules: route status
// codes, then the file, then the navigation fallback unless excluded.
func (f *front) static(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if status := f.applyRoutes(w.Header(), r.URL.Path); status >= 400 {
		http.Error(w, http.StatusText(status), status)
		return
	}
	p := path.Clean("/" + r.URL.Path)
	if p == "/" {
		p = "/index.html"
	}
	file := filepath.Join(f.paneDir, filepath.FromSlash(p))
	if fi, err := os.Stat(file); err == nil && !fi.IsDir() && !strings.Contains(p, "/.") {
		f.serveFile(w, r, file)
		return
	}
	c, err := f.swa()
	if err != nil || c.NavigationFallback.Rewrite == "" {
		http.NotFound(w, r)
		return
	}
	for _, ex := range c.NavigationFallback.Exclude {
		if routeMatch(ex, r.URL.Path) {
			http.NotFound(w, r)
			return
		}
	}
	f.serveFile(w, r, filepath.Join(f.paneDir, filepath.FromSlash(c.NavigationFallback.Rewrite)))
}

func (f *front) serveFile(w http.ResponseWriter, r *http.Request, file string) {
	fd, err := os.Open(file)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer fd.Close()
	fi, err := fd.Stat()
	if err != nil {
		http.NotFound(w, r)
		return
	}
	http.ServeContent(w, r, fi.Name(), fi.ModTime(), fd)
}

// routeMatch follows Static Web Apps' route patterns: exact, a trailing
// wildcard ("/api/*", "/calendar*"), or a wildcard filtered by extensions
// ("/images/*.{png,jpg}").
func routeMatch(pattern, p string) bool {
	if base, exts, ok := strings.Cut(pattern, "*.{"); ok {
		if !strings.HasPrefix(p, base) {
			return false
		}
		for _, ext := range strings.Split(strings.TrimSuffix(exts, "}"), ",") {
			if strings.HasSuffix(p, "."+strings.TrimSpace(ext)) {
				return true
			}
		}
		return false
	}
	if base, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(p, base)
	}
	return p == pattern
}

// paneSettings is config.json as the manifest generator writes it, for the sandbox's emulators.
func (s *Sandbox) paneSettings() map[string]any {
	return manifest.PaneConfig(manifest.Settings{
		Domain: s.domain, ClientID: clientID, AppIDURI: s.appIDURI,
		GraphScopes: manifest.Scopes(graphScopes), Authority: s.entra.URL + "/organizations",
	})
}

// sandboxConfig tells the pane it runs under the sandbox: the dev users, their
// scenarios and the token profiles of the picker.
func (s *Sandbox) sandboxConfig(w http.ResponseWriter, r *http.Request) {
	type user struct {
		Name     string `json:"name"`
		Display  string `json:"displayName"`
		Username string `json:"username"`
		TenantID string `json:"tenantId"`
		ObjectID string `json:"objectId"`
		Scenario string `json:"scenario"`
	}
	type profile struct {
		ID    string `json:"id"`
		Label string `json:"label"`
	}
	type policy struct {
		ID      string `json:"id"`
		Label   string `json:"label"`
		Explain string `json:"explain"`
	}
	cfg := s.paneSettings()
	cfg["sandbox"] = true
	var users []user
	for _, u := range devUsers {
		users = append(users, user{u.Name, u.User.Name, u.User.Username, u.User.TenantID, u.User.ObjectID, u.Scenario})
	}
	var profiles []profile
	for _, p := range tokenProfiles {
		profiles = append(profiles, profile{p.ID, p.Label})
	}
	var policies []policy
	for _, p := range mfaPolicies {
		policies = append(policies, policy(p))
	}
	cfg["users"], cfg["profiles"], cfg["mfaPolicies"], cfg["mfaPolicy"] = users, profiles, policies, s.MFAPolicy()
	writeJSON(w, http.StatusOK, cfg)
}

// sandboxToken mints an add-in token:
// ?user=<name>[&profile=<id>][&claims=<challenge>][&inspect=1] (inspect: for
// the pane's comparison of hosts' tokens, outside the user's scenario).
func (s *Sandbox) sandboxToken(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	u := findUser(q.Get("user"))
	if u == nil {
		http.Error(w, fmt.Sprintf("no dev user %q", q.Get("user")), http.StatusNotFound)
		return
	}
	profileID := q.Get("profile")
	if profileID == "" {
		profileID = tokenProfiles[0].ID
	}
	p, ok := findProfile(profileID)
	if !ok {
		http.Error(w, fmt.Sprintf("no token profile %q", profileID), http.StatusBadRequest)
		return
	}
	writeJSON(w, http.StatusOK, s.mint(u, p, q.Get("claims"), q.Get("inspect") == "1"))
}

// sandboxSignIn starts a dev user's scenario over: {"user": "<name>"}.
func (s *Sandbox) sandboxSignIn(w http.ResponseWriter, r *http.Request) {
	u, ok := s.userFromBody(w, r)
	if !ok {
		return
	}
	s.signIn(u)
	s.log.printf("sandbox", "signed in as %s: %s", u.Name, u.Scenario)
	w.WriteHeader(http.StatusNoContent)
}

// sandboxPolicy restarts the handler with another ADDIN_MFA_POLICY: {"policy": "off"|"amr"|"acrs:c1"}.
func (s *Sandbox) sandboxPolicy(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Policy string `json:"policy"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10)).Decode(&body); err != nil {
		http.Error(w, "expected {\"policy\": \"off|amr|acrs:c1\"}", http.StatusBadRequest)
		return
	}
	if _, ok := findPolicy(body.Policy); !ok {
		http.Error(w, fmt.Sprintf("no MFA policy %q", body.Policy), http.StatusBadRequest)
		return
	}
	if err := s.SetMFAPolicy(body.Policy); err != nil {
		s.log.printf("sandbox", "MFA policy %s: %v", body.Policy, err)
		http.Error(w, "the handler did not restart with the policy: see the sandbox's output", http.StatusInternalServerError)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"mfaPolicy": s.MFAPolicy()})
}

// sandboxConsent is the consent dialog's outcome: the user consented to the Graph scopes.
func (s *Sandbox) sandboxConsent(w http.ResponseWriter, r *http.Request) {
	u, ok := s.userFromBody(w, r)
	if !ok {
		return
	}
	if u.consented != nil {
		u.consented(s, u)
	}
	s.log.printf("sandbox", "%s consented to Microsoft Graph (%s)", u.Name, graphScopes)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Sandbox) userFromBody(w http.ResponseWriter, r *http.Request) (*devUser, bool) {
	var body struct {
		User string `json:"user"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10)).Decode(&body); err != nil {
		http.Error(w, "expected {\"user\": \"<name>\"}", http.StatusBadRequest)
		return nil, false
	}
	u := findUser(body.User)
	if u == nil {
		http.Error(w, fmt.Sprintf("no dev user %q", body.User), http.StatusNotFound)
		return nil, false
	}
	return u, true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
