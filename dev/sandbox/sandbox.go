package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/addinsso/addinsso/dev/azurite"
	"github.com/addinsso/addinsso/dev/entra"
	"github.com/addinsso/addinsso/dev/funchost"
	"github.com/addinsso/addinsso/dev/graph"
	"github.com/addinsso/addinsso/dev/testca"
)

// graphScopes and graphRoutes are what the pane's buttons need.
const (
	graphScopes = "User.Read Mail.Read"
	graphRoutes = "GET /v1.0/me, GET /v1.0/me/messages, GET /v1.0/me/photo/$value"
)

// Options says how to run the sandbox.
type Options struct {
	// Addr is the front server's address (Static Web Apps' part); loopback only.
	Addr string
	// Root is the module root (go.mod, staticwebapp/, node_modules/); empty finds it from the working directory.
	Root string
	// WorkDir holds each run's directory (handler binary, CA certificate,
	// Azurite's tables); empty means <Root>/dev/.sandbox.
	WorkDir string
	// Log receives the sandbox's, the handler's and (Verbose) Azurite's lines, prefixed.
	Log io.Writer
	// Verbose adds Azurite's access log.
	Verbose bool
	// HTTPS serves the pane over https with a certificate of the run's test CA
	// (the emulators' own), as Office requires of a real pane.
	HTTPS bool
}

// Sandbox is a running local deployment: emulators, Azurite, the handler
// binary started as the Functions host starts it, and the front server.
type Sandbox struct {
	URL string // http(s)://localhost:<port>/taskpane.html, the one URL to open

	opts     Options
	log      *prefixer
	runDir   string
	domain   string // localhost:<port>
	appIDURI string

	ca      *testca.CA
	entra   *entra.Server
	graph   *graph.Server
	azurite *azurite.Server
	front   *front
	server  *http.Server
	ln      net.Listener

	// The handler reads ADDIN_MFA_POLICY once, at start: a policy switch
	// restarts it (SetMFAPolicy), so handlerMu guards the process and its settings.
	handlerMu  sync.Mutex
	handler    *funchost.Handler
	handlerBin string
	handlerEnv map[string]string

	mu         sync.Mutex
	sessions   map[string]*session // per dev user, since their last sign-in
	graphMarks map[string]int64    // Graph requests of a user when their Graph failure was scripted
	revoking   map[string]bool     // a revocation is waiting for the user's next Graph call
}

// session is what the sandbox remembers of a dev user since they signed in;
// Entra (emulated) remembers the rest, such as a completed step-up.
type session struct {
	issued int // tokens minted
}

// Start brings everything up, in dependency order, and returns once the pane
// can be opened. On error, whatever started is stopped.
func Start(ctx context.Context, opts Options) (s *Sandbox, err error) {
	if opts.Log == nil {
		opts.Log = os.Stderr
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:3000"
	}
	if opts.Root == "" {
		if opts.Root, err = funchost.ModuleRoot(); err != nil {
			return nil, err
		}
	}
	if opts.WorkDir == "" {
		opts.WorkDir = filepath.Join(opts.Root, "dev", ".sandbox")
	}
	s = &Sandbox{
		opts:       opts,
		log:        newPrefixer(opts.Log),
		sessions:   map[string]*session{},
		graphMarks: map[string]int64{},
		revoking:   map[string]bool{},
	}
	defer func() {
		if err != nil {
			s.Close()
			s = nil
		}
	}()

	// The front server listens first: its port is part of the App ID URI
	// (api://localhost:<port>/<client id>), as the add-in's domain is in production.
	if s.ln, err = listen(opts.Addr); err != nil {
		return s, err
	}
	s.domain = fmt.Sprintf("localhost:%d", s.ln.Addr().(*net.TCPAddr).Port)
	s.URL = "http://" + s.domain + "/taskpane.html"
	s.appIDURI = "api://" + s.domain + "/" + clientID

	if err = os.MkdirAll(opts.WorkDir, 0o755); err != nil {
		return s, err
	}
	// A fresh directory per run: the emulators' keys are new each run, so
	// nothing cached by a previous run could be used anyway.
	if s.runDir, err = os.MkdirTemp(opts.WorkDir, "run-"); err != nil {
		return s, err
	}

	if s.ca, err = testca.New(); err != nil {
		return s, err
	}
	caFile := filepath.Join(s.runDir, "ca.pem")
	if err = s.ca.WriteFile(caFile); err != nil {
		return s, err
	}
	if s.entra, err = entra.Start(s.ca); err != nil {
		return s, fmt.Errorf("entra emulator: %w", err)
	}
	secret := randomBase64(24)
	s.entra.RegisterApp(entra.App{ClientID: clientID, AppIDURI: s.appIDURI, DisplayName: "addinsso (sandbox)", Secret: secret})
	// The tenant's authentication context for step-up (ADDIN_MFA_POLICY=acrs:c1).
	if err = s.entra.DefineAuthContext(contosoTenant, "c1"); err != nil {
		return s, err
	}
	s.log.printf("sandbox", "Entra ID emulator on %s", s.entra.URL)

	if s.graph, err = graph.Start(s.ca, s.entra.VerifyIssued); err != nil {
		return s, fmt.Errorf("graph emulator: %w", err)
	}
	s.log.printf("sandbox", "Microsoft Graph emulator on %s", s.graph.URL)

	tokenCache := ""
	azOpts := azurite.Options{Dir: filepath.Join(s.runDir, "azurite")}
	if opts.Verbose {
		azOpts.Stdout = s.log.writer("azurite")
	}
	switch s.azurite, err = azurite.Start(ctx, azOpts); {
	case errors.Is(err, azurite.ErrNotInstalled):
		s.log.printf("sandbox", "WARNING: %v; the handler caches Graph tokens in memory only", err)
		err = nil
	case err != nil:
		return s, err
	default:
		tokenCache = s.azurite.ConnectionString()
		s.log.printf("sandbox", "Azurite (Table Storage) on 127.0.0.1:%d", s.azurite.Port())
	}

	s.log.printf("sandbox", "building the app for %s/%s…", runtime.GOOS, runtime.GOARCH)
	appDir := filepath.Join(s.runDir, "app")
	if err = funchost.BuildApp(opts.Root, appDir, runtime.GOOS, runtime.GOARCH); err != nil {
		return s, err
	}
	// The settings config.Settings lists, pointing at the emulators. The
	// handler trusts them only through SSL_CERT_FILE, Go's standard switch.
	env := map[string]string{
		"ADDIN_CLIENT_ID":               clientID,
		"ADDIN_APP_ID_URI":              s.appIDURI,
		"ADDIN_TENANT_ID":               "organizations",
		"ADDIN_ALLOWED_TENANTS":         contosoTenant,
		"ADDIN_REQUIRED_SCOPE":          "access_as_user",
		"ADDIN_MFA_POLICY":              mfaPolicies[0].ID,
		"ADDIN_CLIENT_SECRET":           secret,
		"ENTRA_AUTHORITY_HOST":          s.entra.URL,
		"GRAPH_BASE_URL":                s.graph.URL,
		"GRAPH_SCOPES":                  graphScopes,
		"GRAPH_ALLOWED_ROUTES":          graphRoutes,
		"TOKEN_CACHE_CONNECTION_STRING": tokenCache,
		"TOKEN_CACHE_TABLE":             "graphtokens",
		"SSL_CERT_FILE":                 caFile,
	}
	if tokenCache != "" {
		env["TOKEN_CACHE_ENCRYPTION_KEY"] = "sandbox1:" + randomBase64(32)
	}
	s.handlerBin, s.handlerEnv = filepath.Join(appDir, funchost.Exe(runtime.GOOS)), env
	if s.handler, err = s.startHandler(); err != nil {
		return s, err
	}

	for _, u := range devUsers {
		s.signIn(u)
	}
	s.front = newFront(opts.Root, s.handlerURL, s.log, s.paneSettings)
	s.server = &http.Server{Handler: s.routes(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(s.log.writer("swa"), "", 0)}
	if opts.HTTPS {
		if s.server.TLSConfig, err = s.ca.ServerConfig(); err != nil {
			return s, err
		}
		s.URL = "https://" + s.domain + "/taskpane.html"
		go s.server.ServeTLS(s.ln, "", "")
	} else {
		go s.server.Serve(s.ln)
	}
	return s, nil
}

// Close stops everything Start started, children first, and removes the run's directory.
func (s *Sandbox) Close() {
	if s.server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_ = s.server.Shutdown(ctx)
		cancel()
	} else if s.ln != nil {
		s.ln.Close()
	}
	s.handlerMu.Lock()
	if s.handler != nil {
		s.handler.Stop()
		s.handler = nil
	}
	s.handlerMu.Unlock()
	if s.azurite != nil {
		if err := s.azurite.Stop(); err != nil {
			s.log.printf("sandbox", "stopping Azurite: %v", err)
		}
	}
	if s.graph != nil {
		s.graph.Close()
	}
	if s.entra != nil {
		s.entra.Close()
	}
	if s.runDir != "" {
		_ = os.RemoveAll(s.runDir)
	}
}

// startHandler starts the handler binary with handlerEnv; the caller holds
// handlerMu or is Start.
func (s *Sandbox) startHandler() (*funchost.Handler, error) {
	h, err := funchost.Start(s.handlerBin, s.handlerEnv, s.log.writer("handler"))
	if err != nil {
		return nil, err
	}
	s.log.printf("sandbox", "handler on %s, ADDIN_MFA_POLICY=%s (ready in %s)", h.URL, s.handlerEnv["ADDIN_MFA_POLICY"], h.Started.Round(time.Millisecond))
	return h, nil
}

// handlerURL is where /api goes: the handler of the current MFA policy.
func (s *Sandbox) handlerURL() string {
	s.handlerMu.Lock()
	defer s.handlerMu.Unlock()
	if s.handler == nil {
		return "http://127.0.0.1:1" // stopped: the proxy answers 502
	}
	return s.handler.URL
}

// Alive reports whether the handler runs; a policy switch's restart is not a crash.
func (s *Sandbox) Alive() bool {
	s.handlerMu.Lock()
	defer s.handlerMu.Unlock()
	return s.handler != nil && s.handler.Alive()
}

// MFAPolicy is the handler's ADDIN_MFA_POLICY.
func (s *Sandbox) MFAPolicy() string {
	s.handlerMu.Lock()
	defer s.handlerMu.Unlock()
	return s.handlerEnv["ADDIN_MFA_POLICY"]
}

// SetMFAPolicy restarts the handler with ADDIN_MFA_POLICY=policy, as an
// administrator's change of the app setting restarts a Function App. Graph
// tokens cached in Azurite stay, but each answers only the token it was
// exchanged for, and the pane signs in again after a switch. If the new
// handler does not start, the previous setting is restored.
func (s *Sandbox) SetMFAPolicy(policy string) error {
	if _, ok := findPolicy(policy); !ok {
		return fmt.Errorf("no MFA policy %q", policy)
	}
	s.handlerMu.Lock()
	defer s.handlerMu.Unlock()
	old := s.handlerEnv["ADDIN_MFA_POLICY"]
	if old == policy && s.handler != nil {
		return nil
	}
	if s.handler != nil {
		s.handler.Stop()
		s.handler = nil
	}
	env := maps.Clone(s.handlerEnv)
	env["ADDIN_MFA_POLICY"] = policy
	s.handlerEnv = env
	h, err := s.startHandler()
	if err != nil {
		s.handlerEnv["ADDIN_MFA_POLICY"] = old
		if s.handler, _ = s.startHandler(); s.handler == nil {
			return fmt.Errorf("%w; the previous policy did not start again either", err)
		}
		return err
	}
	s.handler = h
	return nil
}

// signIn starts a dev user's session over, in Entra too (no step-up, no
// revocation yet): the scenario is scripted again.
func (s *Sandbox) signIn(u *devUser) {
	s.mu.Lock()
	s.sessions[u.Name] = &session{}
	s.mu.Unlock()
	s.entra.ResetSession(u.User.ObjectID)
	if u.setup != nil {
		u.setup(s, u)
	}
}

// scriptGraph queues a Graph failure for u, unless the one queued at their
// previous sign-in is still waiting (Graph's queue would otherwise grow with
// every pick of the user).
func (s *Sandbox) scriptGraph(u *devUser, f graph.Failure) {
	oid := u.User.ObjectID
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.graph.Count(oid)
	if mark, ok := s.graphMarks[oid]; ok && mark == n {
		return
	}
	s.graphMarks[oid] = n
	s.graph.Script(oid, f)
}

// revokeAfterFirstGraphCall revokes u's sessions, in Entra and in Graph, once
// their next Graph call has been served: the token that call used was issued
// before the revocation, so the call after it meets Graph's CAE challenge. The
// revocation is at the next whole second, later than any token issued so far
// (tokens carry whole seconds); Entra issues every later token at or after it.
func (s *Sandbox) revokeAfterFirstGraphCall(u *devUser) {
	oid := u.User.ObjectID
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.revoking[oid] {
		return
	}
	s.revoking[oid] = true
	s.graph.AfterRequests(oid, 1, func() {
		at := time.Now().Truncate(time.Second).Add(time.Second)
		s.entra.RevokeSessions(oid, at)
		s.graph.RevokeSessions(oid, at)
		s.mu.Lock()
		delete(s.revoking, oid)
		s.mu.Unlock()
		s.log.printf("sandbox", "%s: sessions revoked at %s (continuous access evaluation)", u.Name, at.UTC().Format(time.TimeOnly))
	})
}

// mintedToken is what /.sandbox/token answers.
type mintedToken struct {
	AccessToken  string    `json:"accessToken"`
	ExpiresAt    time.Time `json:"expiresAt"`
	TokenVersion string    `json:"tokenVersion"`
}

// mint issues an add-in token for u as profile p would, for a token request
// with claims (the challenge the pane answers, as getAccessToken's
// authChallenge or MSAL's claims carry it). Entra (emulated) decides what the
// claims achieve. The first token of expired-erin has expired.
//
// inspect mints outside the sign-in, for the pane's token comparison: it is
// not counted as the session's token, so it never plays the scenario.
func (s *Sandbox) mint(u *devUser, p tokenProfile, claims string, inspect bool) mintedToken {
	first := false
	if !inspect {
		s.mu.Lock()
		sess := s.sessions[u.Name]
		if sess == nil {
			sess = &session{}
			s.sessions[u.Name] = sess
		}
		first = sess.issued == 0
		sess.issued++
		s.mu.Unlock()
	}

	t := p.token(s)
	t.Lifetime = time.Hour
	if first && u.expiredFirst {
		t.IssuedAt = time.Now().Add(-2 * time.Hour) // expired an hour ago: beyond any clock skew
	}
	tok := s.entra.IssueFor(u.User, clientID, t, claims)
	return mintedToken{
		AccessToken:  tok,
		ExpiresAt:    expiry(tok),
		TokenVersion: t.Version,
	}
}

// expiry reads a token's exp: Entra may issue later than asked (nbf, revocation).
func expiry(tok string) time.Time {
	var c struct {
		Exp int64 `json:"exp"`
	}
	parts := strings.Split(tok, ".")
	if len(parts) == 3 {
		if b, err := base64.RawURLEncoding.DecodeString(parts[1]); err == nil {
			_ = json.Unmarshal(b, &c)
		}
	}
	return time.Unix(c.Exp, 0).UTC()
}

func randomBase64(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// prefixer writes whole lines, each prefixed with its source, so the
// handler's JSON logs and the sandbox's own lines stay readable together.
type prefixer struct {
	mu  sync.Mutex
	out io.Writer
}

func newPrefixer(out io.Writer) *prefixer { return &prefixer{out: out} }

func (p *prefixer) printf(source, format string, args ...any) {
	p.line(source, fmt.Sprintf(format, args...))
}

func (p *prefixer) line(source, text string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.out, "%-8s| %s\n", source, text)
}

// writer is an io.Writer for a child process's output.
func (p *prefixer) writer(source string) io.Writer { return &lineWriter{p: p, source: source} }

type lineWriter struct {
	p      *prefixer
	source string
	mu     sync.Mutex
	buf    []byte
}

func (w *lineWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, b...)
	for {
		i := strings.IndexByte(string(w.buf), '\n')
		if i < 0 {
			break
		}
		w.p.line(w.source, strings.TrimRight(string(w.buf[:i]), "\r"))
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 64<<10 { // a runaway line without newline: flush it rather than grow
		w.p.line(w.source, string(w.buf))
		w.buf = w.buf[:0]
	}
	return len(b), nil
}
