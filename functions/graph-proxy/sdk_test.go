package graphproxy_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/addinsso/addinsso/dev/graph"
	"github.com/addinsso/addinsso/dev/stack"
)

// TestGraphSDK drives graph-proxy with Microsoft's Graph JavaScript SDK
// (@microsoft/microsoft-graph-client, testdata/sdk.mjs) as a task pane would:
// /me, the photo, a list paged by PageIterator, a batch with a refused inner
// request, a 429 recovered by the SDK's retry handler, a claims challenge read
// from GraphError. The real binary runs behind an HTTPS front that forwards
// like Static Web Apps. Node.js is required: missing, it fails under CI=true.
func TestGraphSDK(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("node is not installed; install Node.js 20+")
		}
		t.Skip("SKIP: node is not installed; install Node.js 20+ to run the Graph SDK test")
	}
	s := stack.New(t)
	h := s.Start(t, map[string]string{
		"GRAPH_ALLOWED_ROUTES": "GET /v1.0/me, GET /v1.0/me/messages, GET /v1.0/me/photo/$value",
	})

	target, _ := url.Parse(h.URL)
	front := httptest.NewUnstartedServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.SetXForwarded()
	}})
	tlsConfig, err := s.Entra.CA.ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	front.TLS = tlsConfig
	front.StartTLS()
	defer front.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := s.Entra.CA.WriteFile(caFile); err != nil {
		t.Fatal(err)
	}

	type session struct {
		Token    string `json:"token"`
		OID      string `json:"oid"`
		Messages int    `json:"messages"`
	}
	sessions := map[string]session{}
	for _, name := range []string{"alice", "throttled", "cae"} {
		u := stack.NewUser(name)
		sessions[name] = session{Token: s.Token(u), OID: u.ObjectID, Messages: graph.MessagesPerUser}
	}
	// Longer than the 2 s graph-proxy waits out itself: the SDK's retry
	// handler gets the 429 and its Retry-After.
	s.Graph.Script(sessions["throttled"].OID, graph.Throttled(3*time.Second))
	s.Graph.Script(sessions["cae"].OID, graph.ClaimsChallenge(`{"access_token":{"nbf":{"essential":true,"value":"1700000000"}}}`))
	arg, _ := json.Marshal(sessions)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("testdata", "sdk.mjs"), "https://localhost:"+port(t, front.URL), string(arg))
	cmd.Env = append(os.Environ(), "NODE_EXTRA_CA_CERTS="+caFile)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the Graph SDK failed against graph-proxy: %v\n%s", err, out)
	}
	t.Logf("Graph SDK scenarios (ms): %s", out)
	if n := s.Graph.Count(sessions["throttled"].OID); n != 2 {
		t.Errorf("the throttled user's Graph requests = %d, want 2 (the 429, then the SDK's retry)", n)
	}
}

func port(t *testing.T, raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Port()
}
