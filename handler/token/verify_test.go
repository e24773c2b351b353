package token

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/addinsso/addinsso/dev/entra"
	"github.com/addinsso/addinsso/handler/config"
	"github.com/addinsso/addinsso/handler/problem"
)

const (
	clientID = "11111111-2222-4333-8444-555555555555"
	appIDURI = "api://localhost:3000/11111111-2222-4333-8444-555555555555"
	tenantA  = "aaaaaaaa-0000-4000-8000-00000000000a"
	tenantB  = "bbbbbbbb-0000-4000-8000-00000000000b"
)

var (
	emu   *entra.Server
	alice = entra.User{TenantID: tenantA, ObjectID: "a11ce000-0000-4000-8000-000000000001", Name: "Alice", Username: "alice@a.example"}
	bob   = entra.User{TenantID: tenantB, ObjectID: "b0b00000-0000-4000-8000-000000000002", Name: "Bob", Username: "bob@b.example"}
)

func TestMain(m *testing.M) {
	var err error
	if emu, err = entra.Start(nil); err != nil {
		panic(err)
	}
	code := m.Run()
	emu.Close()
	os.Exit(code)
}

func baseConfig() Config {
	return Config{
		ClientID:      clientID,
		AppIDURI:      appIDURI,
		TenantID:      config.MultiTenant,
		RequiredScope: "access_as_user",
		MFA:           config.MFAPolicy{Mode: config.MFAOff},
		AuthorityHost: emu.URL,
	}
}

func baseOptions() Options {
	return Options{HTTPClient: emu.Client(), Logger: slog.New(slog.DiscardHandler)}
}

func issue(u entra.User, t entra.Token) string { return emu.Issue(u, clientID, t) }

// resign replaces a token's header (and optionally its claims) and signs it with the emulator's key.
func signed(header map[string]any, mutate func(map[string]any)) string {
	c := claimsOf(issue(alice, entra.Token{}))
	if mutate != nil {
		mutate(c)
	}
	return emu.Sign(header, c)
}

func claimsOf(tok string) map[string]any {
	parts := strings.Split(tok, ".")
	b, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var c map[string]any
	_ = json.Unmarshal(b, &c)
	return c
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestVerify(t *testing.T) {
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	good := issue(alice, entra.Token{})
	goodParts := strings.Split(good, ".")
	hsToken := func() string {
		// HS256 "signed" with the public key's modulus: the classic key-confusion attack.
		h := b64(`{"alg":"HS256","typ":"JWT","kid":"` + emu.SigningKeyID() + `"}`)
		mac := hmac.New(sha256.New, []byte(goodParts[1]))
		mac.Write([]byte(h + "." + goodParts[1]))
		return h + "." + goodParts[1] + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
	}
	now := time.Now()
	tests := []struct {
		name   string
		cfg    func(*Config)
		token  func() string
		want   problem.Code // "" means accepted
		detail string       // substring of the detail
	}{
		{name: "v2.0 token", token: func() string { return good }},
		{name: "v1.0 token with App ID URI audience", token: func() string {
			return issue(alice, entra.Token{Version: "1.0", Audience: appIDURI, AMR: []string{"pwd"}})
		}},
		{name: "v1.0 token with client ID audience", token: func() string { return issue(alice, entra.Token{Version: "1.0"}) }},
		{name: "aud as a one-element array", token: func() string {
			return issue(alice, entra.Token{Claims: map[string]any{"aud": []string{clientID}}})
		}},
		{name: "single tenant: own tenant", cfg: func(c *Config) { c.TenantID = tenantA }, token: func() string { return good }},
		{name: "allow-list: listed tenant", cfg: func(c *Config) { c.AllowedTenants = []string{tenantA} }, token: func() string { return good }},
		{name: "expired within skew", token: func() string {
			return issue(alice, entra.Token{IssuedAt: now.Add(-63 * time.Minute)})
		}},

		{name: "no token", token: func() string { return "" }, want: problem.MissingToken},
		{name: "alg none", token: func() string {
			return b64(`{"alg":"none","typ":"JWT"}`) + "." + goodParts[1] + "."
		}, want: problem.InvalidToken, detail: "unsigned"},
		{name: "alg none with a signature", token: func() string {
			return b64(`{"alg":"none","kid":"`+emu.SigningKeyID()+`"}`) + "." + goodParts[1] + "." + goodParts[2]
		}, want: problem.InvalidToken, detail: "RS256"},
		{name: "HS256 signed with the public key", token: hsToken, want: problem.InvalidToken, detail: "RS256"},
		{name: "RS512", token: func() string { return signed(map[string]any{"alg": "RS512"}, nil) }, want: problem.InvalidToken, detail: "RS256"},
		{name: "unknown kid", token: func() string { return signed(map[string]any{"kid": "not-a-published-key"}, nil) }, want: problem.InvalidToken, detail: "does not publish"},
		{name: "no kid", token: func() string { return signed(map[string]any{"kid": nil}, nil) }, want: problem.InvalidToken, detail: "kid"},
		{name: "kid with path characters", token: func() string { return signed(map[string]any{"kid": "../../../../etc/passwd"}, nil) }, want: problem.InvalidToken, detail: "kid"},
		{name: "kid not a string", token: func() string { return signed(map[string]any{"kid": 42}, nil) }, want: problem.InvalidToken, detail: "kid"},
		{name: "jku header", token: func() string { return signed(map[string]any{"jku": "https://evil.example/keys"}, nil) }, want: problem.InvalidToken, detail: "jku"},
		{name: "x5u header", token: func() string { return signed(map[string]any{"x5u": "https://evil.example/cert"}, nil) }, want: problem.InvalidToken, detail: "x5u"},
		{name: "embedded jwk header", token: func() string {
			return signed(map[string]any{"jwk": map[string]any{"kty": "RSA", "n": "AQAB", "e": "AQAB"}}, nil)
		}, want: problem.InvalidToken, detail: "jwk"},
		{name: "x5c header", token: func() string { return signed(map[string]any{"x5c": []string{"MIIB"}}, nil) }, want: problem.InvalidToken, detail: "x5c"},
		{name: "crit header", token: func() string { return signed(map[string]any{"crit": []string{"exp"}}, nil) }, want: problem.InvalidToken, detail: "crit"},
		{name: "signature stripped", token: func() string { return goodParts[0] + "." + goodParts[1] + "." }, want: problem.InvalidToken, detail: "unsigned"},
		{name: "signature of another key", token: func() string {
			h := map[string]any{"alg": "RS256", "typ": "JWT", "kid": emu.SigningKeyID()}
			return entra.SignWithKey(otherKey, h, claimsOf(good))
		}, want: problem.InvalidToken, detail: "signature"},
		{name: "payload swapped under a valid signature", token: func() string {
			c := claimsOf(good)
			c["oid"] = bob.ObjectID
			forged, _ := json.Marshal(c)
			return goodParts[0] + "." + base64.RawURLEncoding.EncodeToString(forged) + "." + goodParts[2]
		}, want: problem.InvalidToken, detail: "signature"},
		{name: "expired", token: func() string {
			return issue(alice, entra.Token{IssuedAt: now.Add(-2 * time.Hour)})
		}, want: problem.TokenExpired},
		{name: "not yet valid", token: func() string {
			return issue(alice, entra.Token{IssuedAt: now.Add(time.Hour)})
		}, want: problem.InvalidToken, detail: "not valid before"},
		{name: "no exp", token: func() string { return issue(alice, entra.Token{Claims: map[string]any{"exp": nil}}) }, want: problem.InvalidToken, detail: "exp"},
		{name: "exp a string", token: func() string { return issue(alice, entra.Token{Claims: map[string]any{"exp": "tomorrow"}}) }, want: problem.InvalidToken, detail: "claim types"},
		{name: "wrong audience", token: func() string {
			return issue(alice, entra.Token{Audience: "00000003-0000-0000-c000-000000000000"})
		}, want: problem.InvalidToken, detail: "audience"},
		{name: "two audiences", token: func() string {
			return issue(alice, entra.Token{Claims: map[string]any{"aud": []string{clientID, "other"}}})
		}, want: problem.InvalidToken, detail: "audience"},
		{name: "v2.0 token with App ID URI audience", token: func() string {
			return issue(alice, entra.Token{Audience: appIDURI})
		}, want: problem.InvalidToken, detail: "audience"},
		{name: "wrong issuer", token: func() string {
			return issue(alice, entra.Token{Claims: map[string]any{"iss": "https://evil.example/" + tenantA + "/v2.0"}})
		}, want: problem.InvalidToken, detail: "issuer"},
		{name: "issuer tenant differs from tid", token: func() string {
			return issue(alice, entra.Token{Claims: map[string]any{"iss": emu.URL + "/" + tenantB + "/v2.0"}})
		}, want: problem.InvalidToken, detail: "issuer"},
		{name: "v1.0 claims with v2.0 issuer", token: func() string {
			return issue(alice, entra.Token{Claims: map[string]any{"ver": "1.0"}})
		}, want: problem.InvalidToken, detail: "issuer"},
		{name: "v2.0 claims with v1.0 issuer", token: func() string {
			return issue(alice, entra.Token{Version: "1.0", Claims: map[string]any{"ver": "2.0"}})
		}, want: problem.InvalidToken, detail: "issuer"},
		{name: "unknown version", token: func() string { return issue(alice, entra.Token{Claims: map[string]any{"ver": "3.0"}}) }, want: problem.InvalidToken, detail: "version"},
		{name: "no tid", token: func() string { return issue(alice, entra.Token{Claims: map[string]any{"tid": nil}}) }, want: problem.InvalidToken, detail: "tid"},
		{name: "single tenant: foreign tenant", cfg: func(c *Config) { c.TenantID = tenantA }, token: func() string { return issue(bob, entra.Token{}) }, want: problem.TenantNotAllowed},
		{name: "allow-list: tenant not listed", cfg: func(c *Config) { c.AllowedTenants = []string{tenantA} }, token: func() string { return issue(bob, entra.Token{}) }, want: problem.TenantNotAllowed},
		{name: "app-only token", token: func() string {
			return issue(alice, entra.Token{Claims: map[string]any{"scp": nil, "roles": []string{"Mail.Read"}, "idtyp": "app"}})
		}, want: problem.InvalidToken, detail: "app-only"},
		{name: "no oid", token: func() string { return issue(alice, entra.Token{Claims: map[string]any{"oid": nil}}) }, want: problem.InvalidToken, detail: "oid"},
		{name: "missing scope", token: func() string { return issue(alice, entra.Token{Scopes: "profile openid"}) }, want: problem.InsufficientScope},
		{name: "scope as a substring only", token: func() string { return issue(alice, entra.Token{Scopes: "access_as_user_not"}) }, want: problem.InsufficientScope},
		{name: "mfa amr: v1.0 without mfa", cfg: func(c *Config) { c.MFA = config.MFAPolicy{Mode: config.MFAAMR} }, token: func() string {
			return issue(alice, entra.Token{Version: "1.0", AMR: []string{"pwd", "rsa"}})
		}, want: problem.MFARequired, detail: "amr"},
		{name: "mfa amr: v1.0 with mfa", cfg: func(c *Config) { c.MFA = config.MFAPolicy{Mode: config.MFAAMR} }, token: func() string {
			return issue(alice, entra.Token{Version: "1.0", AMR: []string{"pwd", "mfa"}})
		}},
		{name: "mfa amr: v2.0 cannot show it", cfg: func(c *Config) { c.MFA = config.MFAPolicy{Mode: config.MFAAMR} }, token: func() string { return good }, want: problem.ServerMisconfigured},
		{name: "mfa acrs: context missing", cfg: func(c *Config) { c.MFA = config.MFAPolicy{Mode: config.MFAACRS, Context: "c1"} }, token: func() string {
			return issue(alice, entra.Token{ACRS: []string{"c2"}})
		}, want: problem.MFARequired, detail: "c1"},
		{name: "mfa acrs: context present", cfg: func(c *Config) { c.MFA = config.MFAPolicy{Mode: config.MFAACRS, Context: "c1"} }, token: func() string {
			return issue(alice, entra.Token{ACRS: []string{"c1"}})
		}},
		{name: "oversized token", token: func() string { return good + strings.Repeat("A", MaxTokenBytes) }, want: problem.InvalidToken, detail: "larger"},
		{name: "oversized header", token: func() string {
			return b64(`{"alg":"RS256","kid":"`+strings.Repeat("k", 2000)+`"}`) + "." + goodParts[1] + "." + goodParts[2]
		}, want: problem.InvalidToken, detail: "header is larger"},
		{name: "two segments", token: func() string { return goodParts[0] + "." + goodParts[1] }, want: problem.InvalidToken, detail: "compact"},
		{name: "four segments", token: func() string { return good + ".x" }, want: problem.InvalidToken, detail: "compact"},
		{name: "header not base64url", token: func() string { return "!!!." + goodParts[1] + "." + goodParts[2] }, want: problem.InvalidToken, detail: "header"},
		{name: "padded base64", token: func() string { return goodParts[0] + "==." + goodParts[1] + "." + goodParts[2] }, want: problem.InvalidToken, detail: "header"},
		{name: "header not JSON", token: func() string { return b64("{alg:RS256") + "." + goodParts[1] + "." + goodParts[2] }, want: problem.InvalidToken, detail: "header"},
		{name: "payload not JSON", token: func() string { return goodParts[0] + "." + b64("not json") + "." + goodParts[2] }, want: problem.InvalidToken, detail: "payload"},
		{name: "payload a JSON array", token: func() string { return goodParts[0] + "." + b64("[1,2]") + "." + goodParts[2] }, want: problem.InvalidToken, detail: "payload"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := baseConfig()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			id, err := New(cfg, baseOptions()).Verify(context.Background(), tt.token())
			if tt.want == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				if id.ObjectID != alice.ObjectID || id.TenantID != alice.TenantID {
					t.Fatalf("identity = %+v", id)
				}
				return
			}
			var p *problem.Error
			if !errors.As(err, &p) {
				t.Fatalf("accepted or not a problem: %v (%+v)", err, id)
			}
			if p.Code != tt.want || !strings.Contains(strings.ToLower(p.Detail), strings.ToLower(tt.detail)) {
				t.Fatalf("got %s %q, want %s containing %q", p.Code, p.Detail, tt.want, tt.detail)
			}
		})
	}
}

func TestIdentityAndMFA(t *testing.T) {
	v := New(baseConfig(), baseOptions())
	ctx := context.Background()
	id, err := v.Verify(ctx, issue(alice, entra.Token{Version: "1.0", AMR: []string{"pwd"}, Scopes: "access_as_user profile"}))
	if err != nil {
		t.Fatal(err)
	}
	if id.MFA != MFANo || id.TokenVersion != "1.0" || id.Username != alice.Username || id.ClientAppID != entra.OfficeClientID ||
		len(id.Scopes) != 2 || id.Name != "Alice" {
		t.Errorf("v1.0 identity = %+v", id)
	}
	id, err = v.Verify(ctx, issue(alice, entra.Token{Version: "1.0", AMR: []string{"pwd", "mfa"}}))
	if err != nil || id.MFA != MFAYes {
		t.Errorf("v1.0 with mfa: %v %+v", err, id)
	}
	id, err = v.Verify(ctx, issue(alice, entra.Token{}))
	if err != nil || id.MFA != MFAUnknown || id.AMR != nil || id.TokenVersion != "2.0" {
		t.Errorf("v2.0: %v %+v", err, id)
	}
	cfg := baseConfig()
	cfg.MFA = config.MFAPolicy{Mode: config.MFAACRS, Context: "c3"}
	id, err = New(cfg, baseOptions()).Verify(ctx, issue(alice, entra.Token{ACRS: []string{"c3"}}))
	if err != nil || id.MFA != MFAYes {
		t.Errorf("v2.0 with acrs: %v %+v", err, id)
	}
}

func TestChallengeClaims(t *testing.T) {
	cfg := baseConfig()
	cfg.MFA = config.MFAPolicy{Mode: config.MFAACRS, Context: "c7"}
	_, err := New(cfg, baseOptions()).Verify(context.Background(), issue(alice, entra.Token{}))
	var p *problem.Error
	if !errors.As(err, &p) || p.Action() != problem.AuthChallenge {
		t.Fatalf("err = %v", err)
	}
	var claims map[string]map[string]map[string]any
	if err := json.Unmarshal([]byte(p.Claims), &claims); err != nil {
		t.Fatalf("claims %q: %v", p.Claims, err)
	}
	if acrs := claims["access_token"]["acrs"]; acrs["essential"] != true || acrs["value"] != "c7" {
		t.Errorf("claims = %s", p.Claims)
	}
}

// A repeat caller costs no key fetch and no RSA work; a new token of a known key costs no fetch.
func TestMemoAndKeyFetches(t *testing.T) {
	v := New(baseConfig(), baseOptions())
	ctx := context.Background()
	before := emu.Count("jwks")
	tok := issue(alice, entra.Token{})
	for range 3 {
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := v.Verify(ctx, issue(bob, entra.Token{})); err != nil {
		t.Fatal(err)
	}
	if got := emu.Count("jwks") - before; got != 1 {
		t.Errorf("JWKS fetched %d times, want 1", got)
	}
}

// New keys are picked up on an unknown kid; unknown kids cannot force a fetch storm.
func TestKeyRotationAndRefreshRateLimit(t *testing.T) {
	opts := baseOptions()
	start, advance := fakeClock(&opts)
	v := New(baseConfig(), opts)
	ctx := context.Background()
	if _, err := v.Verify(ctx, issue(alice, entra.Token{IssuedAt: start})); err != nil {
		t.Fatal(err)
	}
	base := emu.Count("jwks")

	// Attackers sending unknown kids cause at most one fetch per interval.
	advance(6 * time.Minute)
	for i := range 20 {
		_, err := v.Verify(ctx, signed(map[string]any{"kid": fmt.Sprintf("unknown-kid-%d", i)}, nil))
		if err == nil {
			t.Fatal("unknown kid accepted")
		}
	}
	if got := emu.Count("jwks") - base; got != 1 {
		t.Errorf("20 unknown kids caused %d fetches, want 1", got)
	}

	// Entra rotates: the new key is fetched once the interval has passed.
	oldKid := emu.SigningKeyID()
	if _, err := emu.Rotate(); err != nil {
		t.Fatal(err)
	}
	defer emu.Retire(oldKid)
	rotated := issue(alice, entra.Token{IssuedAt: start})
	if _, err := v.Verify(ctx, rotated); err == nil {
		t.Fatal("new key used within the refresh interval: the rate limit did not hold")
	}
	advance(6 * time.Minute)
	if _, err := v.Verify(ctx, issue(alice, entra.Token{IssuedAt: start})); err != nil {
		t.Fatalf("rotated key not picked up: %v", err)
	}
}

// When Entra is down the last good keys keep working; with none known the answer is retry_later.
func TestEntraOutage(t *testing.T) {
	clock := time.Now()
	opts := baseOptions()
	opts.Now = func() time.Time { return clock }
	v := New(baseConfig(), opts)
	ctx := context.Background()
	if _, err := v.Verify(ctx, issue(alice, entra.Token{IssuedAt: clock})); err != nil {
		t.Fatal(err)
	}
	emu.SetDown(true)
	defer emu.SetDown(false)
	clock = clock.Add(25 * time.Hour) // keys stale: a refresh is attempted and fails
	if _, err := v.Verify(ctx, issue(bob, entra.Token{IssuedAt: clock})); err != nil {
		t.Fatalf("last good keys not used: %v", err)
	}

	cold := New(baseConfig(), baseOptions())
	_, err := cold.Verify(ctx, issue(alice, entra.Token{}))
	var p *problem.Error
	if !errors.As(err, &p) || p.Code != problem.UpstreamUnavailable || p.RetryAfter == 0 {
		t.Fatalf("cold verifier during outage: %v", err)
	}
}

// fakeClock makes opts' clock one the test moves; now is its starting time.
func fakeClock(opts *Options) (now time.Time, advance func(time.Duration)) {
	var mu sync.Mutex
	clock := time.Now()
	opts.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	return clock, func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }
}

func BenchmarkVerifyWarm(b *testing.B) {
	v := New(baseConfig(), baseOptions())
	ctx := context.Background()
	tok := issue(alice, entra.Token{})
	if _, err := v.Verify(ctx, tok); err != nil {
		b.Fatal(err)
	}
	b.Run("memo-hit", func(b *testing.B) {
		for b.Loop() {
			if _, err := v.Verify(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	// Distinct tokens: full parse and RSA verification with a warm key set.
	toks := make([]string, 256)
	for i := range toks {
		toks[i] = issue(alice, entra.Token{Claims: map[string]any{"uti": i}})
	}
	b.Run("new-token", func(b *testing.B) {
		i := 0
		for b.Loop() {
			v.memo.Delete(sha256.Sum256([]byte(toks[i%len(toks)])))
			if _, err := v.Verify(ctx, toks[i%len(toks)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

// A refresh the caller abandons still completes, and a refresh that fails
// answers retry_later and is tried again soon: neither keeps a new key out.
func TestKeyRefreshSurvivesCancelAndOutage(t *testing.T) {
	opts := baseOptions()
	start, advance := fakeClock(&opts)
	v := New(baseConfig(), opts)
	if _, err := v.Verify(context.Background(), issue(alice, entra.Token{IssuedAt: start})); err != nil {
		t.Fatal(err)
	}
	oldKid := emu.SigningKeyID()
	if _, err := emu.Rotate(); err != nil {
		t.Fatal(err)
	}
	defer emu.Retire(oldKid)
	advance(6 * time.Minute)

	// An attacker's request with a made-up kid, abandoned at once.
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	v.Verify(gone, signed(map[string]any{"kid": "made-up"}, nil))
	if _, err := v.Verify(context.Background(), issue(alice, entra.Token{IssuedAt: start})); err != nil {
		t.Fatalf("the abandoned refresh kept the new key out: %v", err)
	}

	// Entra down while a new kid appears: retry_later, not fatal; then picked up.
	advance(6 * time.Minute)
	newer, err := emu.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Retire(newer)
	tok := issue(bob, entra.Token{IssuedAt: start})
	emu.SetDown(true)
	_, err = v.Verify(context.Background(), tok)
	emu.SetDown(false)
	var p *problem.Error
	if !errors.As(err, &p) || p.Code != problem.UpstreamUnavailable || p.Action() != problem.RetryLater {
		t.Fatalf("unknown kid during an outage: %v", err)
	}
	advance(10 * time.Second)
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("after the outage: %v", err)
	}
}
