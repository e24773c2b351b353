package graph_test

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/addinsso/addinsso/dev/entra"
	"github.com/addinsso/addinsso/dev/graph"
)

// caeCapable are the claims of a Graph token whose client declared cp1.
var caeCapable = map[string]any{"xms_cc": []string{"cp1"}}

func issuedAt(u entra.User, at time.Time, claims map[string]any) string {
	return idp.Issue(u, graph.ResourceURL, entra.Token{Scopes: "User.Read", IssuedAt: at, Claims: claims})
}

func TestNoClaimsChallengeWithoutCP1(t *testing.T) {
	kim := newUser("Kim Plain")
	emu.Script(kim.ObjectID, graph.ClaimsChallenge(""))
	if resp, b := get(t, "/v1.0/me", graphToken(kim, "User.Read", nil), nil); resp.StatusCode != 200 {
		t.Fatalf("a token without xms_cc got %d: %s", resp.StatusCode, b)
	}
	// The script was used up by that request: Graph never meant it for this client.
	if resp, _ := get(t, "/v1.0/me", graphToken(kim, "User.Read", caeCapable), nil); resp.StatusCode != 200 {
		t.Errorf("next request: %d", resp.StatusCode)
	}
}

func TestRevokeSessions(t *testing.T) {
	lea := newUser("Lea Revoked")
	at := time.Now().Truncate(time.Second)
	before, after := at.Add(-time.Minute), at.Add(time.Second)
	emu.RevokeSessions(lea.ObjectID, at)

	resp, b := get(t, "/v1.0/me", issuedAt(lea, before, caeCapable), nil)
	claims := `{"access_token":{"nbf":{"essential":true,"value":"` + strconv.FormatInt(at.Unix(), 10) + `"}}}`
	if resp.StatusCode != 401 || decodeError(t, b).Error.Code != "InvalidAuthenticationToken" ||
		resp.Header.Get("WWW-Authenticate") != `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="insufficient_claims", claims="`+
			base64.StdEncoding.EncodeToString([]byte(claims))+`"` {
		t.Errorf("revoked CAE token: %d %v %s", resp.StatusCode, resp.Header, b)
	}
	// A $batch carries the same token: refused as a whole.
	if resp, b := postBatch(t, issuedAt(lea, before, caeCapable), req{"requests": []req{{"id": "1", "method": "GET", "url": "/me"}}}); resp.StatusCode != 401 ||
		!strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="insufficient_claims"`) {
		t.Errorf("revoked CAE token in a batch: %d %s", resp.StatusCode, b)
	}
	if n := emu.Count(lea.ObjectID); n != 0 {
		t.Errorf("a revoked token's requests counted: %d", n)
	}
	if resp, _ := get(t, "/v1.0/me", issuedAt(lea, at, caeCapable), nil); resp.StatusCode != 200 {
		t.Errorf("token issued at the revocation: %d", resp.StatusCode)
	}
	if resp, _ := get(t, "/v1.0/me", issuedAt(lea, after, caeCapable), nil); resp.StatusCode != 200 {
		t.Errorf("token issued after: %d", resp.StatusCode)
	}
	// Graph cannot evaluate a token without cp1: it serves it until it expires.
	if resp, _ := get(t, "/v1.0/me", issuedAt(lea, before, nil), nil); resp.StatusCode != 200 {
		t.Errorf("non-CAE token issued before: %d", resp.StatusCode)
	}
}

func TestAfterRequests(t *testing.T) {
	mo := newUser("Mo Hooked")
	tok := graphToken(mo, "User.Read", caeCapable)
	var ran atomic.Int32
	emu.AfterRequests(mo.ObjectID, 2, func() { ran.Add(1) })
	for i, want := range []int32{0, 1, 1} {
		if resp, _ := get(t, "/v1.0/me", tok, nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: %d", i, resp.StatusCode)
		}
		if n := ran.Load(); n != want {
			t.Errorf("after request %d the hook ran %d times, want %d", i+1, n, want)
		}
	}
}
