package graphproxy_test

// End to end through the real handler binary, as the Functions host drives it,
// against the Entra ID and Graph emulators and real Azurite: the production
// Graph-token path (cache, single flight, On-Behalf-Of) behind graph-proxy.

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/addinsso/addinsso/dev/entra"
	"github.com/addinsso/addinsso/dev/funchost"
	"github.com/addinsso/addinsso/dev/graph"
	"github.com/addinsso/addinsso/dev/stack"
	"github.com/addinsso/addinsso/handler/problem"
)

func get(t *testing.T, h *funchost.Handler, path, tok string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", h.URL+path, nil)
	req.Header.Set("X-Addin-Authorization", "Bearer "+tok)
	req.Header.Set("Cookie", "session=caller-cookie")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestGraphProxyEndToEnd(t *testing.T) {
	s := stack.New(t)
	h := s.Start(t, nil)
	alice, bob := stack.NewUser("alice"), stack.NewUser("bob")
	// One bootstrap token per user: the task pane's session.
	session := map[string]string{alice.ObjectID: s.Token(alice), bob.ObjectID: s.Token(bob)}

	t.Run("each caller sees their own /me; the repeat costs no exchange", func(t *testing.T) {
		for _, u := range []entra.User{alice, bob, alice} {
			resp, b := get(t, h, "/api/graph/v1.0/me", session[u.ObjectID])
			var me struct{ ID, UserPrincipalName string }
			if json.Unmarshal(b, &me); resp.StatusCode != 200 || me.ID != u.ObjectID || me.UserPrincipalName != u.Username {
				t.Fatalf("%s: %d %s", u.Name, resp.StatusCode, b)
			}
			if sent, ok := s.Graph.LastRequest(u.ObjectID); !ok || sent.Header.Get("Cookie") != "" || sent.Header.Get("X-Addin-Authorization") != "" {
				t.Errorf("the caller's cookie or token reached Graph: %v", sent.Header)
			}
		}
		if n := s.Entra.TokenRequests(alice.ObjectID); n != 1 {
			t.Errorf("alice's OBO requests = %d, want 1", n)
		}
	})

	t.Run("photo bytes pass through", func(t *testing.T) {
		resp, b := get(t, h, "/api/graph/v1.0/me/photo/$value", session[alice.ObjectID])
		if resp.StatusCode != 200 || !bytes.Equal(b, graph.Photo(alice.ObjectID)) || resp.Header.Get("Content-Type") == "" {
			t.Fatalf("%d, %d bytes", resp.StatusCode, len(b))
		}
	})

	t.Run("a revoked Graph token is replaced once and the call retried", func(t *testing.T) {
		before, graphBefore := s.Entra.TokenRequests(alice.ObjectID), s.Graph.Count(alice.ObjectID)
		s.Graph.Script(alice.ObjectID, graph.Revoked())
		if resp, b := get(t, h, "/api/graph/v1.0/me", session[alice.ObjectID]); resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
		if s.Entra.TokenRequests(alice.ObjectID) != before+1 || s.Graph.Count(alice.ObjectID) != graphBefore+2 {
			t.Errorf("OBO +%d, Graph +%d; want +1, +2", s.Entra.TokenRequests(alice.ObjectID)-before, s.Graph.Count(alice.ObjectID)-graphBefore)
		}
	})

	tests := []struct {
		name       string
		failure    graph.Failure
		status     int
		code       problem.Code
		retryAfter string
	}{
		{"continuous access evaluation challenge", graph.ClaimsChallenge(`{"access_token":{"nbf":{"essential":true,"value":"1700000000"}}}`), 401, problem.ClaimsChallenge, ""},
		{"throttled", graph.Throttled(9 * time.Second), 429, problem.UpstreamUnavailable, "9"},
		{"unavailable", graph.Unavailable(20 * time.Second), 503, problem.UpstreamUnavailable, "20"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := stack.NewUser("u")
			s.Graph.Script(u.ObjectID, tt.failure)
			resp, b := get(t, h, "/api/graph/v1.0/me", s.Token(u))
			var p problem.Body
			json.Unmarshal(b, &p)
			if resp.StatusCode != tt.status || p.Code != tt.code || resp.Header.Get("Retry-After") != tt.retryAfter {
				t.Fatalf("%d Retry-After %q: %s", resp.StatusCode, resp.Header.Get("Retry-After"), b)
			}
			if tt.code == problem.ClaimsChallenge && p.Claims == "" {
				t.Error("no claims")
			}
		})
	}

	t.Run("a forbidden path costs no exchange and no Graph call", func(t *testing.T) {
		u := stack.NewUser("mallory")
		for _, path := range []string{"/api/graph/v1.0/users", "/api/graph/v1.0/me/../users", "/api/graph/v1.0/me/messages/delta"} {
			resp, b := get(t, h, path, s.Token(u))
			var p problem.Body
			if json.Unmarshal(b, &p); resp.StatusCode != 403 || p.Code != problem.GraphPathForbidden {
				t.Errorf("%s: %d %s", path, resp.StatusCode, b)
			}
		}
		if s.Entra.TokenRequests(u.ObjectID) != 0 || s.Graph.Count(u.ObjectID) != 0 {
			t.Error("a forbidden request reached Entra or Graph")
		}
	})

	// Continuous access evaluation across instances: once Graph has refused a
	// revoked token on one instance, no instance sends it again for that
	// session; the session goes back to Entra, and a stepped-up token works.
	t.Run("a token Graph revoked is never sent again, by any instance", func(t *testing.T) {
		h2 := s.Start(t, nil)
		dora := stack.NewUser("dora")
		tok := s.Token(dora)
		for _, inst := range []*funchost.Handler{h, h2} {
			if resp, b := get(t, inst, "/api/graph/v1.0/me", tok); resp.StatusCode != 200 {
				t.Fatalf("before the revocation: %d %s", resp.StatusCode, b)
			}
		}
		if n := s.Entra.TokenRequests(dora.ObjectID); n != 1 {
			t.Fatalf("OBO requests = %d, want 1 (the second instance reads the table)", n)
		}
		at := time.Now().Truncate(time.Second).Add(time.Second)
		s.Entra.RevokeSessions(dora.ObjectID, at)
		s.Graph.RevokeSessions(dora.ObjectID, at)

		resp, b := get(t, h, "/api/graph/v1.0/me", tok)
		var p problem.Body
		if json.Unmarshal(b, &p); resp.StatusCode != 401 || p.Code != problem.ClaimsChallenge || p.Claims == "" {
			t.Fatalf("the revoked token: %d %s", resp.StatusCode, b)
		}
		graphBefore := s.Graph.Total()
		resp, b = get(t, h2, "/api/graph/v1.0/me", tok)
		var again problem.Body
		if json.Unmarshal(b, &again); resp.StatusCode != 401 || again.Code != problem.InteractionRequired {
			t.Fatalf("the same session on the other instance: %d %s (want Entra's refusal of the revoked session)", resp.StatusCode, b)
		}
		if n := s.Graph.Total() - graphBefore; n != 0 {
			t.Fatalf("the other instance sent %d requests to Graph with the revoked session's token", n)
		}
		stepped := s.Entra.IssueFor(dora, stack.ClientID, entra.Token{}, p.Claims)
		if resp, b := get(t, h2, "/api/graph/v1.0/me", stepped); resp.StatusCode != 200 {
			t.Fatalf("after the step-up: %d %s", resp.StatusCode, b)
		}
	})

	t.Run("with Table Storage gone the proxy keeps answering", func(t *testing.T) {
		if err := s.Table.Stop(); err != nil {
			t.Fatal(err)
		}
		carol := stack.NewUser("carol")
		tok := s.Token(carol)
		for range 2 {
			if resp, b := get(t, h, "/api/graph/v1.0/me", tok); resp.StatusCode != 200 {
				t.Fatalf("%d %s", resp.StatusCode, b)
			}
		}
		if n := s.Entra.TokenRequests(carol.ObjectID); n != 1 {
			t.Errorf("OBO requests = %d, want 1 (the second from memory)", n)
		}
	})
}
