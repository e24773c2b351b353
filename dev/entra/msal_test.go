package entra

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// msalResult is what testdata/msal.mjs reports of one acquireTokenOnBehalfOf.
type msalResult struct {
	AccessToken      string   `json:"accessToken"`
	Scopes           []string `json:"scopes"`
	TokenType        string   `json:"tokenType"`
	ExpiresInSeconds int64    `json:"expiresInSeconds"`
	Error            *struct {
		Name, ErrorCode, SubError, Claims, CorrelationID, ErrorMessage string
		ErrorNo                                                        json.Number
	} `json:"error"`
	Again *msalResult `json:"again"` // the same request again, by the same client
}

// TestMSALNode runs Microsoft's MSAL Node (a confidential client declaring
// cp1, testdata/msal.mjs) against the emulator's token endpoint, so Microsoft's
// own client checks the emulator's wire format: discovery, the success answer,
// and the errors MSAL Node classifies. Node.js and `npm ci` are required:
// missing, the test fails under CI=true and is skipped elsewhere.
func TestMSALNode(t *testing.T) {
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join("..", "..", "node_modules", "@azure", "msal-node", "package.json"))
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("MSAL Node cannot run: %v; install Node.js 20+ and run npm ci", err)
		}
		t.Skipf("SKIP: MSAL Node cannot run (%v); install Node.js 20+ and run npm ci to run the MSAL Node conformance test", err)
	}
	s := start(t)
	desktop := Token{Version: "1.0", Audience: apiIDURI, AMR: []string{"pwd"}}
	scenarios := map[string]map[string]string{}
	add := func(name string, o Outcome, assertion func(User) string, claims string) User {
		u := user()
		s.Script(u.ObjectID, o)
		scenarios[name] = map[string]string{"assertion": assertion(u), "claims": claims}
		return u
	}
	plain := func(u User) string { return s.Issue(u, apiClientID, Token{}) }

	success := add("success", Outcome{}, plain, "")
	add("consent", Outcome{Kind: ConsentMissing}, plain, "")
	add("expired", Outcome{Kind: AssertionExpired}, plain, "")
	throttled := add("throttled", Outcome{Kind: Throttled, RetryAfter: 7 * time.Second}, plain, "")
	outage := add("outage", Outcome{Kind: Unavailable, RetryAfter: 7 * time.Second}, plain, "")
	// MSAL Node honours Retry-After: asked again at once, it answers without calling.
	scenarios["throttled"]["again"], scenarios["outage"]["again"] = "1", "1"
	add("blocked", Outcome{Kind: BlockedByPolicy}, plain, "")
	// MFA: the desktop token has no MFA; Entra's challenge, answered by the
	// pane (IssueFor), gives a new assertion with MFA. The same old assertion
	// with the challenge's claims still fails: claims on OBO are no MFA.
	bob := add("mfa", Outcome{Kind: MFARequired}, func(u User) string { return s.Issue(u, apiClientID, desktop) }, "")
	if a := exchange(t, s, scenarios["mfa"]["assertion"], ""); a.code() != 50076 {
		t.Fatalf("the MFA challenge: %v", a.body)
	}
	scenarios["mfa same assertion with claims"] = map[string]string{"assertion": scenarios["mfa"]["assertion"], "claims": DefaultMFAClaims}
	scenarios["mfa new assertion"] = map[string]string{"assertion": s.IssueFor(bob, apiClientID, desktop, DefaultMFAClaims), "claims": DefaultMFAClaims}

	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := s.CA.WriteFile(caFile); err != nil {
		t.Fatal(err)
	}
	arg, _ := json.Marshal(map[string]any{
		"authority": s.URL + "/" + tenant, "clientId": apiClientID, "secret": apiSecret,
		"scopes": []string{"https://graph.microsoft.com/User.Read"}, "scenarios": scenarios,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("testdata", "msal.mjs"), string(arg))
	cmd.Env = append(os.Environ(), "NODE_EXTRA_CA_CERTS="+caFile)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("MSAL Node failed: %v\n%s%s", err, out, stderr.String())
	}
	var got map[string]msalResult
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("MSAL Node's report: %v\n%s", err, out)
	}
	t.Logf("MSAL Node: %s\n%s", out, stderr.String())
	if s.Count("discovery") == 0 {
		t.Error("MSAL Node never read the emulator's OpenID Connect discovery document")
	}

	for _, name := range []string{"success", "mfa new assertion"} {
		r := got[name]
		if r.Error != nil || r.TokenType != "Bearer" || !slices.Contains(r.Scopes, "https://graph.microsoft.com/User.Read") {
			t.Errorf("%s: %+v %+v", name, r, r.Error)
			continue
		}
		// CP1 declared: a CAE-capable Graph token, long-lived, whose lifetime MSAL Node read from expires_in.
		c := payload(t, r.AccessToken)
		if cc, _ := c["xms_cc"].([]any); len(cc) != 1 || cc[0] != "cp1" {
			t.Errorf("%s: xms_cc %v", name, c["xms_cc"])
		}
		if want := int64(caeLifetime / time.Second); r.ExpiresInSeconds < want-60 || r.ExpiresInSeconds > want {
			t.Errorf("%s: MSAL Node says the token expires in %d s, want about %d", name, r.ExpiresInSeconds, want)
		}
	}
	if c := payload(t, got["success"].AccessToken); c["oid"] != success.ObjectID {
		t.Errorf("success: oid %v", c["oid"])
	}
	if amr := strs(payload(t, got["mfa new assertion"].AccessToken)["amr"]); !slices.Contains(amr, "mfa") {
		t.Errorf("mfa new assertion: amr %v", amr)
	}

	// How MSAL Node surfaces each documented error.
	for name, want := range map[string]struct{ class, code, sub, claims string }{
		"consent":                        {"InteractionRequiredAuthError", "invalid_grant", "consent_required", ""},
		"mfa":                            {"InteractionRequiredAuthError", "interaction_required", "", DefaultMFAClaims},
		"mfa same assertion with claims": {"InteractionRequiredAuthError", "interaction_required", "", DefaultMFAClaims},
		"blocked":                        {"InteractionRequiredAuthError", "interaction_required", "message_only", ""},
		"expired":                        {"ServerError", "invalid_grant", "", ""},
		"throttled":                      {"ServerError", "temporarily_unavailable", "", ""},
		"outage":                         {"ServerError", "temporarily_unavailable", "", ""},
	} {
		e := got[name].Error
		if e == nil {
			t.Errorf("%s: MSAL Node succeeded", name)
			continue
		}
		if e.Name != want.class || e.ErrorCode != want.code || e.SubError != want.sub || e.Claims != want.claims {
			t.Errorf("%s: MSAL Node reports %s %q sub %q claims %q, want %s %q sub %q claims %q (%s)",
				name, e.Name, e.ErrorCode, e.SubError, e.Claims, want.class, want.code, want.sub, want.claims, e.ErrorMessage)
		}
	}
	for name, code := range map[string]string{"consent": "65001", "mfa": "50076", "expired": "500133", "throttled": "90055", "outage": "90033", "blocked": "53003"} {
		if e := got[name].Error; e != nil && (e.ErrorNo.String() != code || !strings.Contains(e.ErrorMessage, "AADSTS"+code)) {
			t.Errorf("%s: errorNo %s, message %q, want AADSTS%s", name, e.ErrorNo, e.ErrorMessage, code)
		}
	}
	for _, u := range []User{throttled, outage} {
		if n := s.TokenRequests(u.ObjectID); n != 1 {
			t.Errorf("MSAL Node sent %d requests within Retry-After, want 1 (it did not read Retry-After)", n)
		}
	}
	// The replayed answer names the codes of the one Entra gave.
	for name, code := range map[string]string{"throttled": "90055", "outage": "90033"} {
		if a := got[name].Again; a == nil || a.Error == nil || a.Error.Name != "ServerError" || a.Error.ErrorCode != code {
			t.Errorf("%s again: %+v", name, a)
		}
	}
}
