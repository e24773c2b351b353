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
	"slices"
	"strings"
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
	// Entra's key set always holds personal accounts' own key.
	if _, err = emu.TenantKey(entra.ConsumersTenantID); err != nil {
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
		// Office's clients and the add-in itself, as config.Load fills it.
		AllowedClientApps: append(slices.Clone(config.OfficeClientApps), clientID),
		MFA:               config.MFAPolicy{Mode: config.MFAOff},
		AuthorityHost:     emu.URL,
	}
}

func baseOptions() Options {
	return Options{HTTPClient: emu.Client(), Logger: slog.New(slog.DiscardHandler)}
}

func issue(u entra.User, t entra.Token) string { return emu.Issue(u, clientID, t) }

// signed replaces a token's header (and optionally its claims) and signs it with the emulator's key.
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

// rawSigned signs alice's claims with extra JSON members appended, and a
// header with extra members appended, exactly as written: what a map cannot
// hold (a repeated or case-varied name). drop removes claims first.
func rawSigned(extraHeader, extraClaims string, drop ...string) string {
	c := claimsOf(issue(alice, entra.Token{}))
	for _, name := range drop {
		delete(c, name)
	}
	body, _ := json.Marshal(c)
	header := `{"alg":"RS256","typ":"JWT","kid":"` + emu.SigningKeyID() + `"` + extraHeader + `}`
	return emu.SignRaw([]byte(header), append(body[:len(body)-1], extraClaims+"}"...))
}

// aged moves a token's times back, as if issued ago before now.
func aged(ago time.Duration) func(map[string]any) {
	return func(c map[string]any) {
		at := time.Now().Add(-ago)
		c["iat"], c["nbf"], c["exp"] = at.Unix(), at.Unix(), at.Add(time.Hour).Unix()
	}
}

// otherApp is a client application no allow-list here names.
const otherApp = "c1e4a990-0000-4000-8000-0000000000c1"

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
		// A kid unknown to keys fetched after the token was issued is not Entra's.
		{name: "unknown kid", token: func() string {
			return signed(map[string]any{"kid": "not-a-published-key"}, aged(10*time.Minute))
		}, want: problem.InvalidToken, detail: "does not publish"},
		// One issued since may be a key Entra began using since: retry once the keys may be fetched again.
		{name: "unknown kid, token newer than the keys", token: func() string {
			return signed(map[string]any{"kid": "not-a-published-key"}, nil)
		}, want: problem.UpstreamUnavailable, detail: "fetched again"},
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
		}, want: problem.MFAMissing, detail: "administrator must require MFA"},
		{name: "mfa amr: ngcmfa counts as mfa", cfg: func(c *Config) { c.MFA = config.MFAPolicy{Mode: config.MFAAMR} }, token: func() string {
			return issue(alice, entra.Token{Version: "1.0", AMR: []string{"ngcmfa"}})
		}},
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

		// The client apps allow-list: azp (v2.0) or appid (v1.0), after the signature.
		{name: "client app: the add-in itself (NAA)", token: func() string { return issue(alice, entra.Token{ClientApp: clientID}) }},
		{name: "client app: Office, written in upper case", token: func() string {
			return issue(alice, entra.Token{ClientApp: strings.ToUpper(entra.OfficeClientID)})
		}},
		{name: "client app: v2.0 azp not allowed", token: func() string { return issue(alice, entra.Token{ClientApp: otherApp}) },
			want: problem.ClientNotAllowed, detail: otherApp + " (the token's azp) is not in ADDIN_ALLOWED_CLIENT_APPS"},
		{name: "client app: v1.0 appid not allowed", token: func() string { return issue(alice, entra.Token{Version: "1.0", ClientApp: otherApp}) },
			want: problem.ClientNotAllowed, detail: otherApp + " (the token's appid)"},
		{name: "client app: v2.0 judged by azp, not by an allowed appid", token: func() string {
			return issue(alice, entra.Token{ClientApp: otherApp, Claims: map[string]any{"appid": entra.OfficeClientID}})
		}, want: problem.ClientNotAllowed, detail: otherApp},
		{name: "client app: v1.0 judged by appid, not by an allowed azp", token: func() string {
			return issue(alice, entra.Token{Version: "1.0", ClientApp: otherApp, Claims: map[string]any{"azp": entra.OfficeClientID}})
		}, want: problem.ClientNotAllowed, detail: otherApp},
		{name: "client app: a hand-made Config with no allow-list fails closed", cfg: func(c *Config) { c.AllowedClientApps = nil },
			token: func() string { return good }, want: problem.ClientNotAllowed, detail: "empty"},
		{name: "client app: none named", token: func() string { return issue(alice, entra.Token{Claims: map[string]any{"azp": nil}}) },
			want: problem.InvalidToken, detail: "azp"},

		// Keys as Entra scopes them: personal accounts' key with a work tenant's iss and tid
		// (refused even under ADDIN_TENANT_ID=organizations, before any tenant policy).
		{name: "tenant key: personal accounts' key signing for another tenant", token: func() string {
			return emu.SignWithTenantKey(entra.ConsumersTenantID, nil, claimsOf(good))
		}, want: problem.InvalidToken, detail: "signs only for issuer " + emu.URL + "/" + entra.ConsumersTenantID + "/v2.0"},
		{name: "tenant key: the same with a v1.0 token", token: func() string {
			return emu.SignWithTenantKey(entra.ConsumersTenantID, nil, claimsOf(issue(alice, entra.Token{Version: "1.0"})))
		}, want: problem.InvalidToken, detail: "not for tenant " + tenantA},

		// Strict JSON: exact, unique member names.
		{name: "claims: oid and OID", token: func() string { return rawSigned("", `,"OID":"`+bob.ObjectID+`"`) },
			want: problem.InvalidToken, detail: `"oid" twice`},
		{name: "claims: oid twice", token: func() string { return rawSigned("", `,"oid":"`+bob.ObjectID+`"`) },
			want: problem.InvalidToken, detail: `"oid" twice`},
		{name: "claims: oid twice, once escaped", token: func() string { return rawSigned("", `,"\u006fid":"`+bob.ObjectID+`"`) },
			want: problem.InvalidToken, detail: `"oid" twice`},
		{name: "claims: tid and Tid", token: func() string { return rawSigned("", `,"Tid":"`+tenantB+`"`) },
			want: problem.InvalidToken, detail: `"tid" twice`},
		{name: "claims: scp and a Unicode case fold of it", token: func() string { return rawSigned("", `,"ſcp":"access_as_user"`) },
			want: problem.InvalidToken, detail: `"scp" twice`},
		{name: "claims: a claim we do not read, twice", token: func() string { return rawSigned("", `,"uti":"again"`) },
			want: problem.InvalidToken, detail: `"uti" twice`},
		{name: "claims: only OID, which is not oid", token: func() string { return rawSigned("", `,"OID":"`+alice.ObjectID+`"`, "oid") },
			want: problem.InvalidToken, detail: "no user object id (oid)"},
		{name: "claims: data after the object", token: func() string { return rawSigned("", `} {"oid":"`+bob.ObjectID+`"`) },
			want: problem.InvalidToken, detail: "payload"},
		{name: "claims: more than anyone sends", token: func() string {
			extra := map[string]any{}
			for i := range maxMembers {
				extra[fmt.Sprintf("x%d", i)] = i
			}
			return issue(alice, entra.Token{Claims: extra})
		}, want: problem.InvalidToken, detail: "more than 200 claims"},
		{name: "header: alg twice", token: func() string { return rawSigned(`,"alg":"none"`, "") },
			want: problem.InvalidToken, detail: `"alg" twice`},
		{name: "header: alg and ALG", token: func() string { return rawSigned(`,"ALG":"HS256"`, "") },
			want: problem.InvalidToken, detail: `"alg" twice`},
		{name: "header: kid twice", token: func() string { return rawSigned(`,"kid":"another"`, "") },
			want: problem.InvalidToken, detail: `"kid" twice`},

		// Lifetime: at most 28 hours, Entra's longest (continuous access evaluation's long-lived tokens).
		{name: "lifetime: 28 hours", token: func() string { return issue(alice, entra.Token{Lifetime: MaxLifetime}) }},
		{name: "lifetime: 29 hours", token: func() string { return issue(alice, entra.Token{Lifetime: 29 * time.Hour}) },
			want: problem.InvalidToken, detail: "more than 28 hours"},
		{name: "lifetime: a year", token: func() string { return issue(alice, entra.Token{Lifetime: 365 * 24 * time.Hour}) },
			want: problem.InvalidToken, detail: "more than 28 hours"},
		{name: "lifetime: no iat nor nbf, exp in an hour", token: func() string {
			return issue(alice, entra.Token{Claims: map[string]any{"iat": nil, "nbf": nil}})
		}},
		{name: "lifetime: no iat nor nbf, exp in 29 hours", token: func() string {
			return issue(alice, entra.Token{Lifetime: 29 * time.Hour, Claims: map[string]any{"iat": nil, "nbf": nil}})
		}, want: problem.InvalidToken, detail: "more than 28 hours"},
		{name: "lifetime: counted from the earlier of iat and nbf", token: func() string {
			return issue(alice, entra.Token{Lifetime: 27 * time.Hour, Claims: map[string]any{"nbf": now.Add(-2 * time.Hour).Unix()}})
		}, want: problem.InvalidToken, detail: "more than 28 hours"},
		{name: "issued in the future", token: func() string {
			return issue(alice, entra.Token{IssuedAt: now.Add(time.Hour), Claims: map[string]any{"nbf": nil}})
		}, want: problem.InvalidToken, detail: "future"},

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
			if p.Code == problem.UpstreamUnavailable && p.RetryAfter <= 0 {
				t.Fatalf("%s without Retry-After", p.Code)
			}
			// A challenge only where Entra documents a claims request that
			// answers it (acrs); anything else would loop.
			if (p.Claims != "") != (p.Code == problem.MFARequired) {
				t.Fatalf("%s with claims %q", p.Code, p.Claims)
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
	id, err = v.Verify(ctx, issue(alice, entra.Token{Version: "1.0", AMR: []string{"pwd", "ngcmfa"}}))
	if err != nil || id.MFA != MFAYes {
		t.Errorf("v1.0 with ngcmfa: %v %+v", err, id)
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
	cfg.MFA = config.MFAPolicy{Mode: config.MFAACRS, Context: "c4"}
	id, err = New(cfg, baseOptions()).Verify(ctx, issue(alice, entra.Token{ACRS: []string{"c3"}}))
	if err == nil || id != nil {
		t.Errorf("v2.0 without the context: %v %+v", err, id)
	}
}

// Personal Microsoft accounts are served only with ADDIN_TENANT_ID=common (or
// their own tenant's ID): "organizations" means work and school accounts.
func TestPersonalAccounts(t *testing.T) {
	msa := entra.User{TenantID: entra.ConsumersTenantID, ObjectID: "00000000-0000-0000-0006-e1e0ba1a5e00", Name: "Pat", Username: "pat@outlook.example"}
	tok := issue(msa, entra.Token{}) // signed with personal accounts' own key, as Entra does
	for _, tt := range []struct {
		tenant string
		want   problem.Code
	}{
		{config.Common, ""},
		{PersonalAccountsTenant, ""},
		{config.MultiTenant, problem.TenantNotAllowed},
		{tenantA, problem.TenantNotAllowed},
	} {
		cfg := baseConfig()
		cfg.TenantID = tt.tenant
		id, err := New(cfg, baseOptions()).Verify(context.Background(), tok)
		var p *problem.Error
		switch {
		case tt.want == "" && (err != nil || id.TenantID != entra.ConsumersTenantID):
			t.Errorf("ADDIN_TENANT_ID=%s: %v", tt.tenant, err)
		case tt.want != "" && (!errors.As(err, &p) || p.Code != tt.want):
			t.Errorf("ADDIN_TENANT_ID=%s: %v, want %s", tt.tenant, err, tt.want)
		case tt.tenant == config.MultiTenant && !strings.Contains(p.Detail, "personal Microsoft accounts"):
			t.Errorf("detail %q does not say why", p.Detail)
		}
	}
	// common serves work accounts too.
	cfg := baseConfig()
	cfg.TenantID = config.Common
	if _, err := New(cfg, baseOptions()).Verify(context.Background(), issue(bob, entra.Token{})); err != nil {
		t.Errorf("common refused a work account: %v", err)
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
