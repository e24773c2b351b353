package entra

import (
	"encoding/base64"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

const ccClaims = `{"access_token":{"xms_cc":{"values":["cp1"]}}}`

// payload reads a token's claims without verifying it.
func payload(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func strs(v any) []string {
	var out []string
	for _, e := range v.([]any) {
		out = append(out, e.(string))
	}
	return out
}

// exchange runs On-Behalf-Of for assertion with the claims parameter.
func exchange(t *testing.T, s *Server, assertion, claims string) answer {
	t.Helper()
	f := oboForm(assertion)
	if claims != "" {
		f.Set("claims", claims)
	}
	return post(t, s, tenant, f)
}

// Conditional Access on On-Behalf-Of reads the assertion's session, which a
// v2.0 token carries in aio only; no claims parameter counts as MFA.
func TestMFARequiredReadsTheSession(t *testing.T) {
	s := start(t)
	desktop := Token{Version: "1.0", Audience: apiIDURI, AMR: []string{"pwd"}}
	for name, tc := range map[string]struct {
		token  Token
		claims string
		want   int
	}{
		"v2.0 without MFA":                          {Token{}, "", 400},
		"v2.0 without MFA, client capabilities":     {Token{}, ccClaims, 400},
		"v1.0 without MFA, challenge claims and cc": {desktop, `{"access_token":{"xms_cc":{"values":["cp1"]},"polids":{"essential":true,"values":["9ab03e19-ed42-4168-b6b7-7001fb3e933a"]}}}`, 400},
		"v1.0 without MFA, amr claims request":      {desktop, `{"access_token":{"amr":{"essential":true,"values":["mfa"]}}}`, 400},
		"v2.0 session with MFA, amr not shown":      {Token{AMR: []string{"pwd", "mfa"}, Claims: map[string]any{"amr": nil}}, "", 200},
		"v2.0 session with ngcmfa":                  {Token{AMR: []string{"ngcmfa"}, Claims: map[string]any{"amr": nil}}, ccClaims, 200},
	} {
		t.Run(name, func(t *testing.T) {
			u := user()
			s.Script(u.ObjectID, Outcome{Kind: MFARequired})
			tok := s.Issue(u, apiClientID, tc.token)
			if _, ok := payload(t, tok)["amr"]; ok && tc.token.Claims != nil {
				t.Fatal("the v2.0 token shows amr")
			}
			a := exchange(t, s, tok, tc.claims)
			if a.status != tc.want {
				t.Fatalf("status %d, want %d: %v", a.status, tc.want, a.body)
			}
			if tc.want == 400 && (a.code() != 50076 || a.body["claims"] != DefaultMFAClaims) {
				t.Errorf("answer %v", a.body)
			}
		})
	}
}

// The pane's token request with claims: Entra honours only the challenge it
// sent (polids), a defined authentication context (acrs) and nbf.
func TestIssueForHonoursOnlyDocumentedChallenges(t *testing.T) {
	s := start(t)
	if err := s.DefineAuthContext(tenant, "c1"); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"c0", "c100", "C1", "mfa"} {
		if s.DefineAuthContext(tenant, bad) == nil {
			t.Errorf("DefineAuthContext(%q) accepted", bad)
		}
	}
	desktop := Token{Version: "1.0", Audience: apiIDURI, AMR: []string{"pwd"}}

	t.Run("the challenge Entra sent", func(t *testing.T) {
		u := user()
		s.Script(u.ObjectID, Outcome{Kind: MFARequired})
		a := exchange(t, s, s.Issue(u, apiClientID, desktop), ccClaims)
		if a.code() != 50076 {
			t.Fatalf("first exchange: %v", a.body)
		}
		stepped := s.IssueFor(u, apiClientID, desktop, a.body["claims"].(string))
		if amr := strs(payload(t, stepped)["amr"]); !slices.Equal(amr, []string{"pwd", "mfa"}) {
			t.Errorf("amr %v", amr)
		}
		if b := exchange(t, s, stepped, ccClaims); b.status != 200 {
			t.Fatalf("after step-up: %d %v", b.status, b.body)
		}
		// The session keeps it: a later token without claims, even v2.0, passes.
		if b := exchange(t, s, s.Issue(u, apiClientID, Token{}), ""); b.status != 200 {
			t.Errorf("later v2.0 token: %d %v", b.status, b.body)
		}
		s.ResetSession(u.ObjectID)
		if b := exchange(t, s, s.Issue(u, apiClientID, Token{}), ""); b.status != 400 {
			t.Errorf("after a new sign-in: %d %v", b.status, b.body)
		}
	})

	for name, claims := range map[string]string{
		"polids Entra never sent": `{"access_token":{"polids":{"essential":true,"values":["00000000-0000-4000-8000-000000000000"]}}}`,
		"amr, undocumented":       `{"access_token":{"amr":{"essential":true,"values":["mfa"]}}}`,
		"an undefined context":    `{"access_token":{"acrs":{"essential":true,"value":"c2"}}}`,
		"garbage":                 `{"access_token":`,
	} {
		t.Run(name+" is ignored", func(t *testing.T) {
			u := user()
			s.Script(u.ObjectID, Outcome{Kind: MFARequired})
			exchange(t, s, s.Issue(u, apiClientID, desktop), "") // Entra's own challenge
			tok := s.IssueFor(u, apiClientID, desktop, claims)
			c := payload(t, tok)
			if amr := strs(c["amr"]); !slices.Equal(amr, []string{"pwd"}) || c["acrs"] != nil {
				t.Errorf("amr %v acrs %v", amr, c["acrs"])
			}
			if a := exchange(t, s, tok, ""); a.code() != 50076 {
				t.Errorf("exchange: %d %v", a.status, a.body)
			}
		})
	}

	t.Run("a defined authentication context", func(t *testing.T) {
		u := user()
		s.Script(u.ObjectID, Outcome{Kind: MFARequired})
		for _, claims := range []string{`{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`, `{"access_token":{"acrs":{"essential":true,"values":["c1"]}}}`} {
			tok := s.IssueFor(u, apiClientID, Token{}, claims)
			if acrs := strs(payload(t, tok)["acrs"]); !slices.Equal(acrs, []string{"c1"}) {
				t.Errorf("%s: acrs %v", claims, acrs)
			}
			if a := exchange(t, s, tok, ""); a.status != 200 {
				t.Errorf("%s: exchange %d %v", claims, a.status, a.body)
			}
		}
	})

	t.Run("nbf", func(t *testing.T) {
		nbf := time.Now().Add(time.Hour).Unix()
		tok := s.IssueFor(user(), apiClientID, Token{}, `{"access_token":{"nbf":{"essential":true,"value":"`+strconv.FormatInt(nbf, 10)+`"}}}`)
		if iat := int64(payload(t, tok)["iat"].(float64)); iat < nbf {
			t.Errorf("iat %d < nbf %d", iat, nbf)
		}
	})
}

// xms_cc is in the Graph token only when the request declares cp1, and makes
// it a long-lived CAE token.
func TestClientCapabilities(t *testing.T) {
	s := start(t)
	for claims, want := range map[string][]string{
		"":       nil,
		ccClaims: {"cp1"},
		`{"access_token":{"xms_cc":{"values":["CP1"]}}}`: {"cp1"},
		`{"access_token":{"xms_cc":{"values":["foo"]}}}`: nil,
	} {
		a := exchange(t, s, s.Issue(user(), apiClientID, Token{}), claims)
		if a.status != 200 {
			t.Fatalf("%s: %d %v", claims, a.status, a.body)
		}
		c := payload(t, a.body["access_token"].(string))
		lifetime := time.Duration(c["exp"].(float64)-c["iat"].(float64)) * time.Second
		switch {
		case want == nil && (c["xms_cc"] != nil || lifetime != accessLifetime || a.body["expires_in"] != 3599.0):
			t.Errorf("%q: xms_cc %v, lifetime %s, expires_in %v", claims, c["xms_cc"], lifetime, a.body["expires_in"])
		case want != nil && (!slices.Equal(strs(c["xms_cc"]), want) || lifetime != caeLifetime || a.body["expires_in"] != float64(caeLifetime/time.Second-1)):
			t.Errorf("%q: xms_cc %v, lifetime %s, expires_in %v", claims, c["xms_cc"], lifetime, a.body["expires_in"])
		}
	}
}

// After RevokeSessions, tokens issued before no longer redeem; new ones do.
func TestRevokeSessions(t *testing.T) {
	s := start(t)
	u := user()
	old := s.Issue(u, apiClientID, Token{})
	a := exchange(t, s, old, "")
	at := time.Now().Add(2 * time.Second).Truncate(time.Second)
	s.RevokeSessions(u.ObjectID, at)
	if b := exchange(t, s, old, ""); b.status != 400 || b.body["error"] != "invalid_grant" || b.code() != 50173 {
		t.Errorf("old assertion: %d %v", b.status, b.body)
	}
	rt := post(t, s, tenant, map[string][]string{"grant_type": {"refresh_token"}, "client_id": {apiClientID}, "client_secret": {apiSecret},
		"refresh_token": {a.body["refresh_token"].(string)}, "scope": {"https://graph.microsoft.com/User.Read"}})
	if rt.code() != 50173 {
		t.Errorf("old refresh token: %d %v", rt.status, rt.body)
	}
	fresh := s.Issue(u, apiClientID, Token{})
	if iat := int64(payload(t, fresh)["iat"].(float64)); iat < at.Unix() {
		t.Errorf("iat %d before the revocation %d", iat, at.Unix())
	}
	b := exchange(t, s, fresh, "")
	if b.status != 200 {
		t.Fatalf("fresh assertion: %d %v", b.status, b.body)
	}
	if iat := int64(payload(t, b.body["access_token"].(string))["iat"].(float64)); iat < at.Unix() {
		t.Errorf("Graph token iat %d before the revocation %d", iat, at.Unix())
	}
}
