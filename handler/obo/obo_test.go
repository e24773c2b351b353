package obo

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/addinsso/addinsso/dev/capture"
	"github.com/addinsso/addinsso/dev/entra"
	"github.com/addinsso/addinsso/handler/config"
	"github.com/addinsso/addinsso/handler/problem"
)

const (
	clientID  = "11111111-2222-4333-8444-555555555555"
	appIDURI  = "api://localhost:3000/11111111-2222-4333-8444-555555555555"
	secret    = "Xy8Q~emulated.client-secret_value"
	tenantA   = "aaaaaaaa-0000-4000-8000-00000000000a"
	graphBase = "https://graph.emulator.test"
)

var emu *entra.Server

func TestMain(m *testing.M) {
	var err error
	if emu, err = entra.Start(nil); err != nil {
		panic(err)
	}
	emu.RegisterApp(entra.App{ClientID: clientID, AppIDURI: appIDURI, DisplayName: "Contoso add-in", Secret: secret})
	code := m.Run()
	emu.Close()
	os.Exit(code)
}

// testClient is a Client on the emulator with its logs in a buffer.
type testClient struct {
	*Client
	logs *capture.Buffer
}

// loadConfig goes through config.Load, so the settings are read as in production.
func loadConfig(t testing.TB, env map[string]string) *config.Config {
	t.Helper()
	settings := map[string]string{
		"ADDIN_CLIENT_ID":      clientID,
		"ENTRA_AUTHORITY_HOST": emu.URL,
		"GRAPH_BASE_URL":       graphBase,
		"GRAPH_SCOPES":         "User.Read Mail.Read",
	}
	if env["ADDIN_CLIENT_CERTIFICATE_PATH"] == "" && env["ADDIN_FEDERATED_IDENTITY_CLIENT_ID"] == "" {
		settings["ADDIN_CLIENT_SECRET"] = secret
	}
	for k, v := range env {
		settings[k] = v
	}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := settings[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// configOf takes the exchange's settings, as main does.
func configOf(c *config.Config) Config {
	return Config{ClientID: c.ClientID, AuthorityHost: c.AuthorityHost, TenantID: c.TenantID, GraphResource: c.GraphBase.String(), Credential: c.Credential}
}

func newClient(t testing.TB, env map[string]string, opts Options) testClient {
	t.Helper()
	logs := &capture.Buffer{}
	if opts.HTTPClient == nil {
		opts.HTTPClient = emu.Client()
	}
	opts.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	c, err := New(configOf(loadConfig(t, env)), opts)
	if err != nil {
		t.Fatal(err)
	}
	return testClient{c, logs}
}

func newUser() entra.User {
	oid := entra.NewGUID()
	return entra.User{TenantID: tenantA, ObjectID: oid, Name: "User " + oid[:4], Username: oid[:8] + "@a.example"}
}

func wantProblem(t *testing.T, err error, code problem.Code) *problem.Error {
	t.Helper()
	var p *problem.Error
	if !errors.As(err, &p) {
		t.Fatalf("error %v (%T), want a *problem.Error with code %s", err, err, code)
	}
	if p.Code != code {
		t.Fatalf("code %s (%s), want %s", p.Code, p.Detail, code)
	}
	return p
}

// noLeaks checks that neither the problem nor the logs carry a token or a secret.
func noLeaks(t *testing.T, c testClient, p *problem.Error, secrets ...string) {
	t.Helper()
	for _, s := range append(secrets, secret) {
		if strings.Contains(p.Detail, s) || strings.Contains(p.Claims, s) || strings.Contains(c.logs.String(), s) {
			t.Errorf("a token or secret leaked into the problem or the logs")
		}
		if p.Cause != nil && strings.Contains(p.Cause.Error(), s) {
			t.Errorf("a token or secret leaked into the problem's cause")
		}
	}
	if strings.Contains(p.Detail, "Trace ID") || strings.Contains(p.Detail, "Correlation ID") {
		t.Errorf("Entra's raw description leaked into the detail: %q", p.Detail)
	}
}

func TestExchange(t *testing.T) {
	c := newClient(t, nil, Options{})
	u := newUser()
	a := emu.Issue(u, clientID, entra.Token{})
	tok, err := c.Exchange(context.Background(), a, u.TenantID, []string{"User.Read"}, "")
	if err != nil {
		t.Fatal(err)
	}
	claims, err := emu.VerifyIssued(tok.AccessToken)
	if err != nil {
		t.Fatalf("the Graph token does not verify: %v", err)
	}
	for k, want := range map[string]any{"aud": graphBase, "scp": "User.Read", "oid": u.ObjectID, "tid": u.TenantID,
		"upn": u.Username, "preferred_username": u.Username, "name": u.Name, "appid": clientID, "appidacr": "1"} {
		if claims[k] != want {
			t.Errorf("Graph token %s = %v, want %v", k, claims[k], want)
		}
	}
	if !slices.Equal(tok.Scopes, []string{"User.Read"}) {
		t.Errorf("scopes %v", tok.Scopes)
	}
	// The client declares cp1, so the Graph token is CAE-capable: it says
	// so, and Entra issues it for longer than an hour (up to 28).
	if cc, _ := claims["xms_cc"].([]any); !slices.Equal(cc, []any{"cp1"}) {
		t.Errorf("Graph token xms_cc = %v, want [cp1]", claims["xms_cc"])
	}
	if d := time.Until(tok.ExpiresAt); d < 2*time.Hour || d > 28*time.Hour {
		t.Errorf("expires in %v", d)
	}

	// A single-tenant configuration: the authority names the tenant.
	single := newClient(t, map[string]string{"ADDIN_TENANT_ID": tenantA}, Options{})
	if _, err := single.Exchange(context.Background(), emu.Issue(u, clientID, entra.Token{}), u.TenantID, []string{"User.Read"}, ""); err != nil {
		t.Fatalf("single tenant: %v", err)
	}

	// Two scopes, a v1.0 assertion whose audience is the App ID URI.
	a1 := emu.Issue(u, clientID, entra.Token{Version: "1.0", Audience: appIDURI, AMR: []string{"pwd"}})
	tok, err = c.Exchange(context.Background(), a1, u.TenantID, []string{"Mail.Read", "User.Read"}, "")
	if err != nil {
		t.Fatal(err)
	}
	claims, _ = emu.VerifyIssued(tok.AccessToken)
	if claims["scp"] != "Mail.Read User.Read" || !slices.Equal(tok.Scopes, []string{"Mail.Read", "User.Read"}) {
		t.Errorf("scp %v, scopes %v", claims["scp"], tok.Scopes)
	}
}

func TestExchangeOutcomes(t *testing.T) {
	cases := []struct {
		name       string
		outcome    entra.Outcome
		timeout    time.Duration
		want       problem.Code
		retryAfter time.Duration
		claims     string
	}{
		{name: "consent missing", outcome: entra.Outcome{Kind: entra.ConsentMissing}, want: problem.ConsentRequired},
		{name: "MFA required", outcome: entra.Outcome{Kind: entra.MFARequired}, want: problem.ClaimsChallenge, claims: entra.DefaultMFAClaims},
		{name: "assertion expired in flight", outcome: entra.Outcome{Kind: entra.AssertionExpired}, want: problem.TokenExpired},
		{name: "throttled", outcome: entra.Outcome{Kind: entra.Throttled, RetryAfter: 7 * time.Second}, want: problem.UpstreamUnavailable, retryAfter: 7 * time.Second},
		{name: "unavailable", outcome: entra.Outcome{Kind: entra.Unavailable, RetryAfter: 12 * time.Second}, want: problem.UpstreamUnavailable, retryAfter: 12 * time.Second},
		{name: "slow past the deadline", outcome: entra.Outcome{Delay: 5 * time.Second}, timeout: 300 * time.Millisecond, want: problem.UpstreamUnavailable, retryAfter: defaultRetryAfter},
		{name: "invalid client", outcome: entra.Outcome{Kind: entra.InvalidClient}, want: problem.ServerMisconfigured},
	}
	c := newClient(t, nil, Options{})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := newUser()
			emu.Script(u.ObjectID, tc.outcome)
			a := emu.Issue(u, clientID, entra.Token{})
			ctx := context.Background()
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			start := time.Now()
			_, err := c.Exchange(ctx, a, u.TenantID, []string{"User.Read"}, "")
			p := wantProblem(t, err, tc.want)
			if p.RetryAfter != tc.retryAfter {
				t.Errorf("Retry-After %v, want %v", p.RetryAfter, tc.retryAfter)
			}
			if p.Claims != tc.claims {
				t.Errorf("claims %q, want %q", p.Claims, tc.claims)
			}
			if tc.timeout > 0 && time.Since(start) > 2*time.Second {
				t.Errorf("took %v despite a %v deadline", time.Since(start), tc.timeout)
			}
			if n := emu.TokenRequests(u.ObjectID); n != 1 {
				t.Errorf("%d token requests, want exactly 1 (no retries inside the exchange)", n)
			}
			noLeaks(t, c, p, a)
		})
	}
	if logs := c.logs.String(); !strings.Contains(logs, `"trace_id":"`) || !strings.Contains(logs, `"correlation_id":"`) || !strings.Contains(logs, "65001") {
		t.Errorf("the logs lack Entra's codes and IDs:\n%s", logs)
	}
}

func TestClaimsChallengeAnswered(t *testing.T) {
	c := newClient(t, nil, Options{})
	u := newUser()
	emu.Script(u.ObjectID, entra.Outcome{Kind: entra.MFARequired})
	a := emu.Issue(u, clientID, entra.Token{Version: "1.0", Audience: appIDURI, AMR: []string{"pwd"}})
	ctx := context.Background()

	_, err := c.Exchange(ctx, a, u.TenantID, []string{"User.Read"}, "")
	p := wantProblem(t, err, problem.ClaimsChallenge)
	if p.Action() != problem.AuthChallenge || p.StatusCode() != 401 || p.Claims == "" {
		t.Errorf("action %s status %d claims %q", p.Action(), p.StatusCode(), p.Claims)
	}

	// Claims on the exchange do not make a session without MFA pass: only
	// the user can step up, and the pane's new token is what shows it.
	_, err = c.Exchange(ctx, a, u.TenantID, []string{"User.Read"}, base64.StdEncoding.EncodeToString([]byte(p.Claims)))
	wantProblem(t, err, problem.ClaimsChallenge)

	// The token the pane got with the claims (Office's authChallenge) shows MFA.
	stepped := emu.Issue(u, clientID, entra.Token{Version: "1.0", Audience: appIDURI, AMR: []string{"pwd", "mfa"}})
	tok, err := c.Exchange(ctx, stepped, u.TenantID, []string{"User.Read"}, p.Claims)
	if err != nil {
		t.Fatalf("with a token showing MFA: %v", err)
	}
	claims, _ := emu.VerifyIssued(tok.AccessToken)
	if amr, _ := claims["amr"].([]any); !slices.Contains(amr, any("mfa")) {
		t.Errorf("amr %v after the step-up", claims["amr"])
	}
}

// MSAL's cache is kept empty: every exchange asks Entra, so a Graph token
// Graph revoked cannot come back from one instance's MSAL cache, and nothing
// piles up per assertion.
func TestEveryExchangeAsksEntra(t *testing.T) {
	c := newClient(t, nil, Options{})
	u := newUser()
	a := emu.Issue(u, clientID, entra.Token{})
	ctx := context.Background()
	first, err := c.Exchange(ctx, a, u.TenantID, []string{"User.Read"}, "")
	if err != nil {
		t.Fatal(err)
	}
	second, err := c.Exchange(ctx, a, u.TenantID, []string{"User.Read"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if second.AccessToken == first.AccessToken || emu.TokenRequests(u.ObjectID) != 2 {
		t.Errorf("the second exchange came from MSAL's cache (%d token requests)", emu.TokenRequests(u.ObjectID))
	}
}

// tokenForms records the form of every request to a token endpoint.
type tokenForms struct {
	rt    http.RoundTripper
	mu    sync.Mutex
	forms []url.Values
}

func (f *tokenForms) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/token") && r.Body != nil {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		form, _ := url.ParseQuery(string(body))
		f.mu.Lock()
		f.forms = append(f.forms, form)
		f.mu.Unlock()
	}
	return f.rt.RoundTrip(r)
}

// The client declares cp1 on every exchange, so Graph tokens are CAE-capable,
// and merges it with a challenge's claims rather than replacing them.
func TestDeclaresClientCapabilities(t *testing.T) {
	base := emu.Client()
	forms := &tokenForms{rt: base.Transport}
	c := newClient(t, nil, Options{HTTPClient: &http.Client{Transport: forms, Timeout: base.Timeout}})
	u := newUser()
	ctx := context.Background()
	nbf := `{"access_token":{"nbf":{"essential":true,"value":"1700000000"}}}`
	for _, claims := range []string{"", nbf} {
		if _, err := c.Exchange(ctx, emu.Issue(u, clientID, entra.Token{}), u.TenantID, []string{"User.Read"}, claims); err != nil {
			t.Fatal(err)
		}
	}
	if len(forms.forms) != 2 {
		t.Fatalf("%d token requests, want 2", len(forms.forms))
	}
	for i, form := range forms.forms {
		var req struct {
			AccessToken map[string]struct {
				Values []string `json:"values"`
				Value  string   `json:"value"`
			} `json:"access_token"`
		}
		if err := json.Unmarshal([]byte(form.Get("claims")), &req); err != nil {
			t.Fatalf("request %d: claims %q: %v", i, form.Get("claims"), err)
		}
		if cc := req.AccessToken["xms_cc"].Values; !slices.Equal(cc, ClientCapabilities) {
			t.Errorf("request %d: xms_cc %v, want %v", i, cc, ClientCapabilities)
		}
		if _, ok := req.AccessToken["nbf"]; ok != (i == 1) {
			t.Errorf("request %d: the challenge's nbf present %v, want %v", i, ok, i == 1)
		}
	}
}

func TestEntraDown(t *testing.T) {
	c := newClient(t, nil, Options{})
	u := newUser()
	emu.SetDown(true)
	defer emu.SetDown(false)
	_, err := c.Exchange(context.Background(), emu.Issue(u, clientID, entra.Token{}), u.TenantID, []string{"User.Read"}, "")
	p := wantProblem(t, err, problem.UpstreamUnavailable)
	if p.RetryAfter != defaultRetryAfter || p.StatusCode() != 503 {
		t.Errorf("Retry-After %v status %d", p.RetryAfter, p.StatusCode())
	}
}

func TestUntrustedEntra(t *testing.T) {
	// The default HTTP client trusts the system roots only (SSL_CERT_FILE
	// names them); the emulator's run-time CA is not among them, and nothing
	// skips verification.
	c, err := New(configOf(loadConfig(t, nil)), Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	u := newUser()
	_, err = c.Exchange(context.Background(), emu.Issue(u, clientID, entra.Token{}), u.TenantID, []string{"User.Read"}, "")
	wantProblem(t, err, problem.ServerMisconfigured)
}

func TestBadCredentials(t *testing.T) {
	expired := entra.NewGUID()
	emu.RegisterApp(entra.App{ClientID: expired, Secret: "expired-secret", SecretExpired: true})
	cases := []struct {
		name     string
		clientID string
		env      map[string]string
		entra    string
	}{
		{name: "wrong secret", clientID: clientID, env: map[string]string{"ADDIN_CLIENT_SECRET": "not-the-secret"}, entra: "7000215"},
		{name: "expired secret", clientID: expired, env: map[string]string{"ADDIN_CLIENT_ID": expired, "ADDIN_CLIENT_SECRET": "expired-secret"}, entra: "7000222"},
		{name: "app not registered", clientID: entra.NewGUID(), entra: "700016"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"ADDIN_CLIENT_ID": tc.clientID}
			for k, v := range tc.env {
				env[k] = v
			}
			c := newClient(t, env, Options{})
			u := newUser()
			a := emu.Issue(u, tc.clientID, entra.Token{})
			_, err := c.Exchange(context.Background(), a, u.TenantID, []string{"User.Read"}, "")
			p := wantProblem(t, err, problem.ServerMisconfigured)
			if p.Detail != credentialAdvice {
				t.Errorf("detail %q", p.Detail)
			}
			if !strings.Contains(c.logs.String(), tc.entra) || !strings.Contains(c.logs.String(), `"level":"ERROR"`) {
				t.Errorf("the logs lack AADSTS%s:\n%s", tc.entra, c.logs.String())
			}
			noLeaks(t, c, p, a, "not-the-secret", "expired-secret")
		})
	}
}

func TestCertificateCredential(t *testing.T) {
	registered, err := entra.NewClientCertificate("addin")
	if err != nil {
		t.Fatal(err)
	}
	other, err := entra.NewClientCertificate("addin")
	if err != nil {
		t.Fatal(err)
	}
	app := entra.NewGUID()
	emu.RegisterApp(entra.App{ClientID: app, Certificates: []*x509.Certificate{registered.Cert}})
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		cert *entra.ClientCertificate
		want problem.Code
	}{
		{"registered certificate", registered, ""},
		{"certificate not uploaded", other, problem.ServerMisconfigured},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".pem")
			if err := os.WriteFile(path, tc.cert.PEM(), 0o600); err != nil {
				t.Fatal(err)
			}
			c := newClient(t, map[string]string{"ADDIN_CLIENT_ID": app, "ADDIN_CLIENT_CERTIFICATE_PATH": path}, Options{})
			u := newUser()
			tok, err := c.Exchange(context.Background(), emu.Issue(u, app, entra.Token{}), u.TenantID, []string{"User.Read"}, "")
			if tc.want != "" {
				wantProblem(t, err, tc.want)
				if !strings.Contains(c.logs.String(), "700027") {
					t.Errorf("the logs lack AADSTS700027:\n%s", c.logs.String())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if claims, _ := emu.VerifyIssued(tok.AccessToken); claims["appidacr"] != "2" {
				t.Errorf("appidacr %v, want 2 (certificate)", claims["appidacr"])
			}
		})
	}
	if _, err := New(configOf(loadConfig(t, map[string]string{"ADDIN_CLIENT_CERTIFICATE_PATH": filepath.Join(dir, "missing.pem")})), Options{}); err == nil ||
		!strings.Contains(err.Error(), "ADDIN_CLIENT_CERTIFICATE_PATH") {
		t.Errorf("a missing certificate file: %v", err)
	}
}

func TestFederatedCredential(t *testing.T) {
	for k, v := range emu.IdentityEnv() {
		t.Setenv(k, v)
	}
	// Managed identity tokens are cached process-wide by MSAL, so each case
	// has its own identity.
	cases := []struct {
		name      string
		federated func(principal string) entra.Federated
		assigned  bool
		want      problem.Code
		entra     string
	}{
		{name: "trusted managed identity", federated: emu.ManagedIdentityFederation, assigned: true},
		{name: "subject mismatch", federated: func(string) entra.Federated { return emu.ManagedIdentityFederation(entra.NewGUID()) },
			assigned: true, want: problem.ServerMisconfigured, entra: "700213"},
		{name: "issuer mismatch", federated: func(p string) entra.Federated {
			f := emu.ManagedIdentityFederation(p)
			f.Issuer = "https://login.microsoftonline.com/" + emu.HomeTenantID + "/v2.0"
			return f
		}, assigned: true, want: problem.ServerMisconfigured, entra: "700211"},
		{name: "identity not assigned to the app", federated: emu.ManagedIdentityFederation, want: problem.ServerMisconfigured},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mi, principal, app := entra.NewGUID(), entra.NewGUID(), entra.NewGUID()
			if tc.assigned {
				emu.AddManagedIdentity(mi, principal)
			}
			emu.RegisterApp(entra.App{ClientID: app, FederatedCredentials: []entra.Federated{tc.federated(principal)}})
			c := newClient(t, map[string]string{"ADDIN_CLIENT_ID": app, "ADDIN_FEDERATED_IDENTITY_CLIENT_ID": mi}, Options{})
			u := newUser()
			before := emu.Count("identity")
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			tok, err := c.Exchange(ctx, emu.Issue(u, app, entra.Token{}), u.TenantID, []string{"User.Read"}, "")
			if emu.Count("identity") == before {
				t.Error("the managed identity endpoint was not asked")
			}
			if tc.want != "" {
				p := wantProblem(t, err, tc.want)
				if !strings.Contains(c.logs.String(), tc.entra) {
					t.Errorf("the logs lack %q:\n%s", tc.entra, c.logs.String())
				}
				noLeaks(t, c, p, emu.IdentityHeader)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if claims, _ := emu.VerifyIssued(tok.AccessToken); claims["appid"] != app || claims["appidacr"] != "2" {
				t.Errorf("appid %v appidacr %v", claims["appid"], claims["appidacr"])
			}
		})
	}
}

func TestExchangeInput(t *testing.T) {
	c := newClient(t, nil, Options{})
	u := newUser()
	a := emu.Issue(u, clientID, entra.Token{})
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		tenant string
		scopes []string
		claims string
		want   problem.Code
	}{
		{"no scope", u.TenantID, nil, "", problem.InternalError},
		{"tenant not a GUID", "../evil", []string{"User.Read"}, "", problem.InvalidToken},
		{"organizations as tenant", "organizations", []string{"User.Read"}, "", problem.InvalidToken},
		{"claims not JSON", u.TenantID, []string{"User.Read"}, "mfa please", problem.BadRequest},
		{"claims a JSON array", u.TenantID, []string{"User.Read"}, `["mfa"]`, problem.BadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Exchange(ctx, a, tc.tenant, tc.scopes, tc.claims)
			wantProblem(t, err, tc.want)
		})
	}
	if n := emu.TokenRequests(u.ObjectID); n != 0 {
		t.Errorf("%d token requests for bad input, want 0", n)
	}
}

func TestRotationBoundsMSALClients(t *testing.T) {
	const max, n = 20, 200
	c := newClient(t, nil, Options{MaxAssertions: max})
	users := []entra.User{newUser(), newUser(), newUser(), newUser()}
	ctx := context.Background()
	for i := range n {
		u := users[i%len(users)]
		a := emu.Issue(u, clientID, entra.Token{})
		for range 2 { // the repeat asks Entra too, and is no new assertion
			if _, err := c.Exchange(ctx, a, u.TenantID, []string{"User.Read"}, ""); err != nil {
				t.Fatal(err)
			}
		}
		if s := c.Stats(); s.Assertions > max {
			t.Fatalf("the current MSAL client holds %d assertions, more than MaxAssertions", s.Assertions)
		}
	}
	s := c.Stats()
	if s.Rotations != n/max-1 || s.Assertions != max {
		t.Errorf("stats %+v, want %d rotations and %d assertions", s, n/max-1, max)
	}
	var total int64
	for _, u := range users {
		total += emu.TokenRequests(u.ObjectID)
	}
	if total != 2*n {
		t.Errorf("%d token requests for %d exchanges", total, 2*n)
	}

	// Concurrent exchanges across rotations (for -race): calls in flight
	// finish on the MSAL client they started with.
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range n / 8 {
				u := users[(w+i)%len(users)]
				if _, err := c.Exchange(ctx, emu.Issue(u, clientID, entra.Token{}), u.TenantID, []string{"User.Read"}, ""); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if s := c.Stats(); s.Assertions > max || s.Rotations < 2*n/max-1 {
		t.Errorf("stats %+v after %d more assertions", s, n)
	}

	// Retired MSAL clients, and their caches, are garbage.
	deadline := time.Now().Add(5 * time.Second)
	for c.Stats().LiveClients > 1 && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if s := c.Stats(); s.LiveClients > 1 {
		t.Errorf("%d MSAL clients alive after %d rotations, want 1", s.LiveClients, s.Rotations)
	}
}

// BenchmarkExchangeDistinctAssertions exchanges a new assertion each time, as
// when every task pane load brings a fresh bootstrap token, and reports the
// heap after GC: bounded by MaxAssertions, against MSAL's unbounded cache.
//
//	go test ./handler/obo -run '^$' -bench DistinctAssertions -benchtime 10000x
func BenchmarkExchangeDistinctAssertions(b *testing.B) {
	for _, bc := range []struct {
		name string
		max  int
	}{
		{"bounded", DefaultMaxAssertions},
		{"unbounded", 1 << 30},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := newClient(b, nil, Options{MaxAssertions: bc.max})
			users := make([]entra.User, 1000)
			for i := range users {
				users[i] = newUser()
			}
			ctx := context.Background()
			heapBefore := heapInUse()
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				u := users[i%len(users)]
				a := emu.Issue(u, clientID, entra.Token{})
				b.StartTimer()
				if _, err := c.Exchange(ctx, a, u.TenantID, []string{"User.Read"}, ""); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			heap := heapInUse()
			s := c.Stats()
			b.ReportMetric(float64(heap)/1e6, "heap-MB")
			b.ReportMetric(float64(heap-heapBefore)/1e6, "heap-growth-MB")
			b.ReportMetric(float64(s.LiveClients), "msal-clients")
			b.ReportMetric(float64(s.Assertions), "cached-assertions")
		})
	}
}

func heapInUse() int64 {
	var m runtime.MemStats
	for range 3 {
		runtime.GC()
		time.Sleep(5 * time.Millisecond) // let cleanups run
	}
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse)
}
