package entra

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	apiClientID = "11111111-2222-4333-8444-555555555555"
	apiIDURI    = "api://localhost:3000/11111111-2222-4333-8444-555555555555"
	apiSecret   = "emulated-secret"
	tenant      = "aaaaaaaa-0000-4000-8000-00000000000a"
)

func start(t *testing.T) *Server {
	t.Helper()
	s, err := Start(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	s.RegisterApp(App{ClientID: apiClientID, AppIDURI: apiIDURI, DisplayName: "Contoso add-in", Secret: apiSecret})
	return s
}

func user() User {
	return User{TenantID: tenant, ObjectID: NewGUID(), Name: "Alice", Username: "alice@a.example"}
}

// oboForm is the request MSAL Go sends for On-Behalf-Of with a client secret.
func oboForm(assertion string) url.Values {
	return url.Values{
		"grant_type":          {grantJWTBearer},
		"client_id":           {apiClientID},
		"client_secret":       {apiSecret},
		"assertion":           {assertion},
		"requested_token_use": {"on_behalf_of"},
		"scope":               {"https://graph.microsoft.com/User.Read openid offline_access profile"},
		"client_info":         {"1"},
	}
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
}

func (a answer) codes() []any { c, _ := a.body["error_codes"].([]any); return c }

func (a answer) code() float64 {
	if c := a.codes(); len(c) == 1 {
		return c[0].(float64)
	}
	return 0
}

func post(t *testing.T, s *Server, tenant string, form url.Values) answer {
	t.Helper()
	req, _ := http.NewRequest("POST", s.URL+"/"+tenant+"/oauth2/v2.0/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("client-request-id", "c0ffee00-0000-4000-8000-000000000001")
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("status %d, body not JSON: %v", resp.StatusCode, err)
	}
	return answer{resp.StatusCode, resp.Header, body}
}

func TestOnBehalfOf(t *testing.T) {
	s := start(t)
	u := user()
	a := post(t, s, "organizations", oboForm(s.Issue(u, apiClientID, Token{})))
	if a.status != 200 {
		t.Fatalf("status %d: %v", a.status, a.body)
	}
	if a.body["token_type"] != "Bearer" || a.body["scope"] != "https://graph.microsoft.com/User.Read" ||
		a.body["expires_in"] != 3599.0 || a.body["ext_expires_in"] != 3599.0 || a.body["refresh_token"] == nil || a.body["client_info"] == nil {
		t.Errorf("answer %v", a.body)
	}
	claims, err := s.VerifyIssued(a.body["access_token"].(string))
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"aud": GraphResource, "scp": "User.Read", "tid": tenant, "oid": u.ObjectID, "name": "Alice",
		"upn": u.Username, "preferred_username": u.Username, "appid": apiClientID, "appidacr": "1", "ver": "1.0",
		"iss": "https://sts.windows.net/" + tenant + "/", "idtyp": "user"} {
		if claims[k] != want {
			t.Errorf("%s = %v, want %v", k, claims[k], want)
		}
	}
	if exp := int64(claims["exp"].(float64)); exp < time.Now().Add(59*time.Minute).Unix() {
		t.Errorf("exp %d", exp)
	}
	if s.TokenRequests(u.ObjectID) != 1 || s.Count("token") != 1 {
		t.Errorf("counts %d %d", s.TokenRequests(u.ObjectID), s.Count("token"))
	}

	// The refresh token it handed out, redeemed by the same client.
	rt := post(t, s, tenant, url.Values{"grant_type": {"refresh_token"}, "client_id": {apiClientID}, "client_secret": {apiSecret},
		"refresh_token": {a.body["refresh_token"].(string)}, "scope": {"https://graph.microsoft.com/Mail.Read offline_access"}})
	if rt.status != 200 || rt.body["scope"] != "https://graph.microsoft.com/Mail.Read" {
		t.Errorf("refresh: %d %v", rt.status, rt.body)
	}
	other := NewGUID()
	s.RegisterApp(App{ClientID: other, Secret: "x"})
	rt = post(t, s, tenant, url.Values{"grant_type": {"refresh_token"}, "client_id": {other}, "client_secret": {"x"},
		"refresh_token": {a.body["refresh_token"].(string)}, "scope": {"https://graph.microsoft.com/User.Read"}})
	if rt.status != 400 || rt.body["error"] != "invalid_grant" {
		t.Errorf("another client's refresh token: %d %v", rt.status, rt.body)
	}

	// Scopes of another resource (the Graph emulator) and a v1.0 assertion for the App ID URI.
	f := oboForm(s.Issue(u, apiClientID, Token{Version: "1.0", Audience: apiIDURI, AMR: []string{"pwd", "mfa"}}))
	f.Set("scope", "https://127.0.0.1:8443/User.Read https://127.0.0.1:8443/Mail.Read")
	a = post(t, s, tenant, f)
	if a.status != 200 {
		t.Fatalf("status %d: %v", a.status, a.body)
	}
	claims, _ = s.VerifyIssued(a.body["access_token"].(string))
	if claims["aud"] != "https://127.0.0.1:8443" || claims["scp"] != "User.Read Mail.Read" || a.body["refresh_token"] != nil {
		t.Errorf("aud %v scp %v", claims["aud"], claims["scp"])
	}
}

// TestOnBehalfOfAttacks checks what Entra checks before it issues anything,
// with Entra's error JSON.
func TestOnBehalfOfAttacks(t *testing.T) {
	s := start(t)
	u := user()
	good := s.Issue(u, apiClientID, Token{})
	otherKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	forge := func(mutate func(h, c map[string]any)) string {
		parts := strings.Split(good, ".")
		var h, c map[string]any
		_ = decodeJSON(parts[0], &h)
		_ = decodeJSON(parts[1], &c)
		mutate(h, c)
		return SignWithKey(otherKey, h, c)
	}
	cases := []struct {
		name   string
		form   func() url.Values
		tenant string
		status int
		error  string
		code   float64
	}{
		{name: "forged signature (the emulator's kid, another key)", form: func() url.Values { return oboForm(forge(func(h, c map[string]any) {})) },
			status: 400, error: "invalid_grant", code: 50013},
		{name: "unknown kid", form: func() url.Values { return oboForm(forge(func(h, c map[string]any) { h["kid"] = "nope" })) },
			status: 400, error: "invalid_grant", code: 50013},
		{name: "alg none", form: func() url.Values {
			parts := strings.Split(good, ".")
			return oboForm(segment(map[string]any{"alg": "none", "typ": "JWT"}) + "." + parts[1] + ".")
		}, status: 400, error: "invalid_grant", code: 50013},
		{name: "assertion for another audience", form: func() url.Values { return oboForm(s.Issue(u, "00000003-0000-0000-c000-000000000000", Token{})) },
			status: 400, error: "invalid_grant", code: 500131},
		{name: "App ID URI audience on a v2.0 token", form: func() url.Values { return oboForm(s.Issue(u, apiClientID, Token{Audience: apiIDURI})) },
			status: 400, error: "invalid_grant", code: 500131},
		{name: "expired assertion", form: func() url.Values {
			return oboForm(s.Issue(u, apiClientID, Token{IssuedAt: time.Now().Add(-2 * time.Hour)}))
		}, status: 400, error: "invalid_grant", code: 500133},
		{name: "issuer of another host", form: func() url.Values {
			return oboForm(s.Issue(u, apiClientID, Token{Claims: map[string]any{"iss": "https://evil.example/" + tenant + "/v2.0"}}))
		}, status: 400, error: "invalid_grant", code: 50013},
		{name: "assertion of another tenant", tenant: "bbbbbbbb-0000-4000-8000-00000000000b", form: func() url.Values { return oboForm(good) },
			status: 400, error: "invalid_grant", code: 50013},
		{name: "wrong secret", form: func() url.Values { f := oboForm(good); f.Set("client_secret", "guess"); return f },
			status: 401, error: "invalid_client", code: 7000215},
		{name: "no credential", form: func() url.Values { f := oboForm(good); f.Del("client_secret"); return f },
			status: 401, error: "invalid_client", code: 7000218},
		{name: "unknown client", form: func() url.Values { f := oboForm(good); f.Set("client_id", NewGUID()); return f },
			status: 400, error: "unauthorized_client", code: 700016},
		{name: "no requested_token_use", form: func() url.Values { f := oboForm(good); f.Del("requested_token_use"); return f },
			status: 400, error: "invalid_request", code: 900144},
		{name: "unsupported grant", form: func() url.Values { f := oboForm(good); f.Set("grant_type", "password"); return f },
			status: 400, error: "unsupported_grant_type", code: 70003},
		{name: "two resources", form: func() url.Values {
			f := oboForm(good)
			f.Set("scope", "https://graph.microsoft.com/User.Read https://outlook.office.com/Mail.Read")
			return f
		}, status: 400, error: "invalid_scope", code: 28000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.tenant == "" {
				tc.tenant = tenant
			}
			a := post(t, s, tc.tenant, tc.form())
			if a.status != tc.status || a.body["error"] != tc.error || a.code() != tc.code {
				t.Fatalf("got %d %v %v, want %d %s %v: %v", a.status, a.body["error"], a.codes(), tc.status, tc.error, tc.code, a.body["error_description"])
			}
			wellFormedError(t, a)
			if a.body["access_token"] != nil {
				t.Error("issued a token")
			}
		})
	}
}

// wellFormedError checks Entra's error shape.
func wellFormedError(t *testing.T, a answer) {
	t.Helper()
	desc, _ := a.body["error_description"].(string)
	if !strings.HasPrefix(desc, "AADSTS") || !strings.Contains(desc, "\r\nTrace ID: ") || !strings.Contains(desc, "\r\nCorrelation ID: c0ffee00-") ||
		!strings.Contains(desc, "\r\nTimestamp: ") || a.body["trace_id"] == nil || a.body["correlation_id"] != "c0ffee00-0000-4000-8000-000000000001" ||
		a.body["timestamp"] == nil || a.header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Errorf("not Entra's error format: %v", a.body)
	}
}

func TestScriptedOutcomes(t *testing.T) {
	s := start(t)
	cases := []struct {
		name       string
		outcome    Outcome
		token      Token
		claims     string
		status     int
		error      string
		code       float64
		suberror   string
		retryAfter string
		wantClaims string
	}{
		{name: "success", status: 200},
		{name: "consent", outcome: Outcome{Kind: ConsentMissing}, status: 400, error: "invalid_grant", code: 65001, suberror: "consent_required"},
		{name: "MFA", outcome: Outcome{Kind: MFARequired}, status: 400, error: "interaction_required", code: 50076, wantClaims: DefaultMFAClaims},
		// Claims on On-Behalf-Of are no step-up: the middle tier cannot authenticate the user.
		{name: "MFA with claims on OBO", outcome: Outcome{Kind: MFARequired}, claims: DefaultMFAClaims, status: 400, error: "interaction_required", code: 50076, wantClaims: DefaultMFAClaims},
		{name: "MFA with client capabilities", outcome: Outcome{Kind: MFARequired}, claims: `{"access_token":{"xms_cc":{"values":["cp1"]}}}`, status: 400, error: "interaction_required", code: 50076, wantClaims: DefaultMFAClaims},
		{name: "MFA shown as ngcmfa", outcome: Outcome{Kind: MFARequired}, token: Token{Version: "1.0", AMR: []string{"pwd", "ngcmfa"}}, status: 200},
		{name: "blocked by policy", outcome: Outcome{Kind: BlockedByPolicy}, status: 400, error: "interaction_required", code: 53003, suberror: "message_only"},
		{name: "device not compliant", outcome: Outcome{Kind: DeviceNotCompliant}, status: 400, error: "interaction_required", code: 53000, suberror: "additional_action"},
		{name: "MFA registration", outcome: Outcome{Kind: MFARegistrationNeeded}, status: 400, error: "interaction_required", code: 50079, suberror: "basic_action"},
		{name: "grant revoked", outcome: Outcome{Kind: GrantRevoked}, status: 400, error: "invalid_grant", code: 50173},
		{name: "sign-in frequency", outcome: Outcome{Kind: SignInFrequency}, status: 400, error: "invalid_grant", code: 70043, suberror: "token_expired"},
		{name: "admin consent", outcome: Outcome{Kind: AdminConsentRequired}, status: 400, error: "invalid_grant", code: 90094},
		{name: "consent by suberror", outcome: Outcome{Kind: ConsentRequired}, status: 400, error: "invalid_grant", code: 65004, suberror: "consent_required"},
		{name: "loop detected", outcome: Outcome{Kind: LoopDetected}, status: 400, error: "invalid_grant", code: 50196},
		{name: "MFA shown in amr", outcome: Outcome{Kind: MFARequired}, token: Token{Version: "1.0", AMR: []string{"pwd", "mfa"}}, status: 200},
		{name: "expired", outcome: Outcome{Kind: AssertionExpired}, status: 400, error: "invalid_grant", code: 500133},
		{name: "throttled", outcome: Outcome{Kind: Throttled, RetryAfter: 30 * time.Second}, status: 429, error: "temporarily_unavailable", code: 90055, retryAfter: "30"},
		{name: "down", outcome: Outcome{Kind: Unavailable}, status: 503, error: "temporarily_unavailable", code: 90033, retryAfter: "5"},
		{name: "invalid client", outcome: Outcome{Kind: InvalidClient}, status: 401, error: "invalid_client", code: 7000215},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := user()
			s.Script(u.ObjectID, tc.outcome)
			f := oboForm(s.Issue(u, apiClientID, tc.token))
			if tc.claims != "" {
				f.Set("claims", tc.claims)
			}
			a := post(t, s, tenant, f)
			if a.status != tc.status || (tc.error != "" && (a.body["error"] != tc.error || a.code() != tc.code)) {
				t.Fatalf("got %d %v, want %d %s %v", a.status, a.body, tc.status, tc.error, tc.code)
			}
			if tc.error != "" {
				wellFormedError(t, a)
			}
			if sub, _ := a.body["suberror"].(string); sub != tc.suberror {
				t.Errorf("suberror %q", sub)
			}
			if got, _ := a.body["claims"].(string); got != tc.wantClaims {
				t.Errorf("claims %q", got)
			}
			if got := a.header.Get("Retry-After"); got != tc.retryAfter {
				t.Errorf("Retry-After %q", got)
			}
			if tc.status == 200 && tc.outcome.Kind == MFARequired {
				claims, _ := s.VerifyIssued(a.body["access_token"].(string))
				if amr, _ := claims["amr"].([]any); len(amr) < 2 || !strings.HasSuffix(amr[len(amr)-1].(string), "mfa") {
					t.Errorf("amr %v", claims["amr"])
				}
			}
		})
	}

	// Times: throttled once, then back to success; Outcome{} clears a script.
	u := user()
	s.Script(u.ObjectID, Outcome{Kind: Throttled, Times: 1})
	if a := post(t, s, tenant, oboForm(s.Issue(u, apiClientID, Token{}))); a.status != 429 {
		t.Errorf("first: %d", a.status)
	}
	if a := post(t, s, tenant, oboForm(s.Issue(u, apiClientID, Token{}))); a.status != 200 {
		t.Errorf("second: %d", a.status)
	}
	s.Script(u.ObjectID, Outcome{Kind: ConsentMissing})
	s.Script(u.ObjectID, Outcome{})
	if a := post(t, s, tenant, oboForm(s.Issue(u, apiClientID, Token{}))); a.status != 200 {
		t.Errorf("after clearing: %d", a.status)
	}
	if n := s.TokenRequests(u.ObjectID); n != 3 {
		t.Errorf("%d requests", n)
	}
}

func TestCertificateAssertion(t *testing.T) {
	s := start(t)
	cert, _ := NewClientCertificate("addin")
	app := NewGUID()
	s.RegisterApp(App{ClientID: app, Certificates: []*x509.Certificate{cert.Cert}})
	u := user()
	endpoint := s.URL + "/" + tenant + "/oauth2/v2.0/token"
	sum := sha256.Sum256(cert.Cert.Raw)
	assertion := func(key *rsa.PrivateKey, mutate func(map[string]any)) string {
		c := map[string]any{"aud": endpoint, "iss": app, "sub": app, "jti": NewGUID(), "nbf": time.Now().Unix(), "exp": time.Now().Add(10 * time.Minute).Unix()}
		if mutate != nil {
			mutate(c)
		}
		// PS256 with x5t#S256 in standard base64, as MSAL Go signs.
		h := map[string]any{"alg": "PS256", "typ": "JWT", "x5t#S256": base64.StdEncoding.EncodeToString(sum[:])}
		input := segment(h) + "." + segment(c)
		d := sha256.Sum256([]byte(input))
		sig, _ := rsa.SignPSS(rand.Reader, key, crypto.SHA256, d[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		return input + "." + base64.RawURLEncoding.EncodeToString(sig)
	}
	form := func(clientAssertion string) url.Values {
		f := oboForm(s.Issue(u, app, Token{}))
		f.Set("client_id", app)
		f.Del("client_secret")
		f.Set("client_assertion_type", clientAssertionType)
		f.Set("client_assertion", clientAssertion)
		return f
	}
	otherKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	for _, tc := range []struct {
		name      string
		assertion string
		status    int
		code      float64
	}{
		{"signed with the certificate's key", assertion(cert.Key, nil), 200, 0},
		{"signed with another key", assertion(otherKey, nil), 401, 700027},
		{"for another token endpoint", assertion(cert.Key, func(c map[string]any) {
			c["aud"] = "https://login.microsoftonline.com/" + tenant + "/oauth2/v2.0/token"
		}), 401, 700027},
		{"expired", assertion(cert.Key, func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() }), 401, 700024},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := post(t, s, tenant, form(tc.assertion))
			if a.status != tc.status || a.code() != tc.code {
				t.Fatalf("got %d %v: %v", a.status, a.codes(), a.body["error_description"])
			}
			if tc.status == 200 {
				claims, _ := s.VerifyIssued(a.body["access_token"].(string))
				if claims["appidacr"] != "2" {
					t.Errorf("appidacr %v", claims["appidacr"])
				}
			}
		})
	}
}

func TestManagedIdentityAndFederation(t *testing.T) {
	s := start(t)
	mi, principal, app := NewGUID(), NewGUID(), NewGUID()
	s.AddManagedIdentity(mi, principal)
	s.RegisterApp(App{ClientID: app, FederatedCredentials: []Federated{s.ManagedIdentityFederation(principal)}})

	get := func(header, query string) (int, map[string]any) {
		req, _ := http.NewRequest("GET", s.IdentityEndpoint+"?"+query, nil)
		if header != "" {
			req.Header.Set("X-IDENTITY-HEADER", header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	q := "api-version=2019-08-01&resource=" + url.QueryEscape(TokenExchangeAudience) + "&client_id=" + mi
	if st, _ := get("", q); st != 401 {
		t.Errorf("without X-IDENTITY-HEADER: %d", st)
	}
	if st, _ := get(s.IdentityHeader, "api-version=2019-08-01&resource=x&client_id="+NewGUID()); st != 400 {
		t.Errorf("unknown identity: %d", st)
	}
	st, body := get(s.IdentityHeader, q)
	if st != 200 || body["token_type"] != "Bearer" || body["client_id"] != mi || body["resource"] != TokenExchangeAudience {
		t.Fatalf("%d %v", st, body)
	}
	if exp, err := strconv.ParseInt(body["expires_on"].(string), 10, 64); err != nil || exp < time.Now().Add(23*time.Hour).Unix() {
		t.Errorf("expires_on %v", body["expires_on"])
	}
	miToken := body["access_token"].(string)
	claims, err := s.VerifyIssued(miToken)
	if err != nil || claims["sub"] != principal || claims["aud"] != TokenExchangeAudience || claims["iss"] != s.URL+"/"+s.HomeTenantID+"/v2.0" {
		t.Fatalf("managed identity token %v %v", claims, err)
	}

	u := user()
	form := func(clientAssertion string) url.Values {
		f := oboForm(s.Issue(u, app, Token{}))
		f.Set("client_id", app)
		f.Del("client_secret")
		f.Set("client_assertion_type", clientAssertionType)
		f.Set("client_assertion", clientAssertion)
		return f
	}
	if a := post(t, s, tenant, form(miToken)); a.status != 200 {
		t.Fatalf("federated: %d %v", a.status, a.body)
	}
	for _, tc := range []struct {
		name  string
		token string
		code  float64
	}{
		{"another subject", s.Sign(nil, mutated(claims, "sub", NewGUID())), 700213},
		{"another issuer", s.Sign(nil, mutated(claims, "iss", "https://token.actions.githubusercontent.com")), 700211},
		{"another audience", s.Sign(nil, mutated(claims, "aud", "api://other")), 700212},
		{"expired", s.Sign(nil, mutated(claims, "exp", time.Now().Add(-time.Hour).Unix())), 700024},
		{"forged", func() string {
			k, _ := rsa.GenerateKey(rand.Reader, 2048)
			return SignWithKey(k, map[string]any{"alg": "RS256", "kid": s.SigningKeyID()}, claims)
		}(), 700027},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := post(t, s, tenant, form(tc.token))
			if a.status != 401 || a.body["error"] != "invalid_client" || a.code() != tc.code {
				t.Fatalf("got %d %v %v", a.status, a.body["error"], a.codes())
			}
		})
	}
}

func mutated(c map[string]any, k string, v any) map[string]any {
	out := map[string]any{}
	for name, val := range c {
		out[name] = val
	}
	out[k] = v
	return out
}

func TestSlowAnswerAbandoned(t *testing.T) {
	s := start(t)
	u := user()
	s.Script(u.ObjectID, Outcome{Delay: 10 * time.Second})
	c := s.Client()
	c.Timeout = 200 * time.Millisecond
	start := time.Now()
	_, err := c.PostForm(s.URL+"/"+tenant+"/oauth2/v2.0/token", oboForm(s.Issue(u, apiClientID, Token{})))
	if err == nil || time.Since(start) > 2*time.Second {
		t.Errorf("err %v after %v", err, time.Since(start))
	}
}
