package graphproxy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/addinsso/addinsso/dev/graph"
	hentra "github.com/addinsso/addinsso/handler/entra"
	"github.com/addinsso/addinsso/handler/function"
	"github.com/addinsso/addinsso/handler/problem"
	"github.com/addinsso/addinsso/handler/web"
)

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestMeShowsTheCaller(t *testing.T) {
	h := newHarness(t)
	alice := newUser("Alice Smith")
	tok := addinToken(alice)
	resp := h.do(t, "GET", "/api/graph/v1.0/me", tok, nil, nil)
	b := readAll(t, resp)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	var me struct {
		ID, DisplayName, UserPrincipalName string
	}
	if err := json.Unmarshal(b, &me); err != nil {
		t.Fatal(err)
	}
	if me.ID != alice.ObjectID || me.DisplayName != alice.Name || me.UserPrincipalName != alice.Username {
		t.Errorf("/me = %+v, want %+v", me, alice)
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || resp.Header.Get("Content-Length") != strconv.Itoa(len(b)) {
		t.Errorf("headers %v", resp.Header)
	}
	if !strings.Contains(h.logs.String(), `"msg":"graph"`) || !strings.Contains(h.logs.String(), `"clientRequestId":"`+resp.Header.Get("client-request-id")+`"`) {
		t.Errorf("no graph log line with the client-request-id: %s", h.logs.String())
	}
}

// TestHeaderFiltering: cookies and the caller's credentials never reach Graph,
// only the listed headers come back.
func TestHeaderFiltering(t *testing.T) {
	h := newHarness(t)
	bob := newUser("Bob Jones")
	tok := addinToken(bob)
	graphEmu.Script(bob.ObjectID, graph.Failure{Header: http.Header{
		"Set-Cookie": {"session=graph"}, "X-Backend-Secret": {"s3cr3t"}, "Access-Control-Allow-Origin": {"*"}, "Connection": {"X-Other"},
	}})
	in := http.Header{
		"Authorization":         {"Bearer swa-platform-token"},
		"Cookie":                {"StaticWebAppsAuthCookie=abc"},
		"X-Forwarded-For":       {"203.0.113.9"},
		"X-Forwarded-Host":      {"evil.example"},
		"X-Ms-Client-Principal": {"eyJ1c2VySWQiOiJ4In0="},
		"Connection":            {"X-Hop"},
		"X-Hop":                 {"1"},
		"Accept":                {"application/json"},
		"Prefer":                {`outlook.body-content-type="text"`},
		"Consistencylevel":      {"eventual"},
		"Client-Request-Id":     {"0f0e0d0c-0b0a-4908-8706-050403020100"},
	}
	resp := h.do(t, "GET", "/api/graph/v1.0/me/messages?$top=2", tok, in, nil)
	b := readAll(t, resp)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}

	seen, _ := graphEmu.LastRequest(bob.ObjectID)
	for _, name := range []string{"Cookie", "X-Addin-Authorization", "X-Forwarded-For", "X-Forwarded-Host", "X-Ms-Client-Principal", "X-Hop"} {
		if v := seen.Header.Get(name); v != "" {
			t.Errorf("Graph received %s: %q", name, v)
		}
	}
	if got, want := seen.Header.Get("Authorization"), "Bearer "+h.tokens.cached(bob.ObjectID); got != want {
		t.Errorf("Graph received Authorization %.30q, want the Graph token", got)
	}
	for name, want := range map[string]string{"Accept": "application/json", "Prefer": `outlook.body-content-type="text"`,
		"Consistencylevel": "eventual", "Client-Request-Id": "0f0e0d0c-0b0a-4908-8706-050403020100"} {
		if got := seen.Header.Get(name); got != want {
			t.Errorf("Graph received %s %q, want %q", name, got, want)
		}
	}
	if seen.RawQuery != "$top=2" {
		t.Errorf("Graph received query %q", seen.RawQuery)
	}

	for _, name := range []string{"Set-Cookie", "X-Backend-Secret", "Access-Control-Allow-Origin", "X-Ms-Ags-Diagnostic", "Strict-Transport-Security", "Odata-Version", "X-Other"} {
		if v := resp.Header.Get(name); v != "" {
			t.Errorf("the caller received %s: %q", name, v)
		}
	}
	for name, want := range map[string]string{"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff",
		"Client-Request-Id": "0f0e0d0c-0b0a-4908-8706-050403020100", "Preference-Applied": `outlook.body-content-type="text"`} {
		if got := resp.Header.Get(name); got != want {
			t.Errorf("the caller received %s %q, want %q", name, got, want)
		}
	}
	if resp.Header.Get("Request-Id") == "" || resp.Header.Get(web.CorrelationHeader) == "" {
		t.Errorf("request-id or correlation ID missing: %v", resp.Header)
	}
}

func TestClientRequestID(t *testing.T) {
	h := newHarness(t)
	carol := newUser("Carol Diaz")
	tok := addinToken(carol)
	for _, sent := range []string{"", "not-a-guid", strings.Repeat("a", 5000), "0f0e0d0c-0b0a-4908-8706-05040302010"} {
		resp := h.do(t, "GET", "/api/graph/v1.0/me", tok, http.Header{"Client-Request-Id": {sent}}, nil)
		readAll(t, resp)
		seen, _ := graphEmu.LastRequest(carol.ObjectID)
		got := seen.Header.Get("Client-Request-Id")
		if !hentra.IsGUID(got) || got == sent || resp.Header.Get("Client-Request-Id") != got {
			t.Errorf("sent %.20q: Graph got %q, the caller got %q; want a new GUID", sent, got, resp.Header.Get("Client-Request-Id"))
		}
	}
}

func TestMessagesAndConditionalGet(t *testing.T) {
	h := newHarness(t)
	dave := newUser("Dave Ng")
	tok := addinToken(dave)
	resp := h.do(t, "GET", "/api/graph/v1.0/me/messages?$top=3&$select=subject", tok, nil, nil)
	var page struct {
		NextLink string `json:"@odata.nextLink"`
		Value    []struct{ ID, Subject string }
	}
	if err := json.Unmarshal(readAll(t, resp), &page); err != nil || resp.StatusCode != 200 {
		t.Fatalf("status %d, %v", resp.StatusCode, err)
	}
	if len(page.Value) != 3 || !strings.Contains(page.Value[2].Subject, "Dave Ng") || page.NextLink == "" {
		t.Fatalf("page %+v", page)
	}

	// encodeURIComponent writes the ID's '=' as %3D.
	id := page.Value[1].ID
	path := "/api/graph/v1.0/me/messages/" + strings.ReplaceAll(id, "=", "%3D")
	resp = h.do(t, "GET", path, tok, nil, nil)
	b := readAll(t, resp)
	if resp.StatusCode != 200 || !strings.Contains(string(b), page.Value[1].Subject) || resp.Header.Get("ETag") == "" {
		t.Fatalf("message: %d %v %s", resp.StatusCode, resp.Header, b)
	}
	resp = h.do(t, "GET", path, tok, http.Header{"If-None-Match": {resp.Header.Get("ETag")}}, nil)
	if b := readAll(t, resp); resp.StatusCode != http.StatusNotModified || len(b) != 0 {
		t.Errorf("If-None-Match: %d %q, want 304", resp.StatusCode, b)
	}

	// Graph's own errors are Graph's data and pass through.
	resp = h.do(t, "GET", "/api/graph/v1.0/me/messages/AAMkUNKNOWN", tok, nil, nil)
	b = readAll(t, resp)
	if resp.StatusCode != 404 || !strings.Contains(string(b), `"code":"ErrorItemNotFound"`) {
		t.Errorf("unknown message: %d %s", resp.StatusCode, b)
	}
	erin := newUser("Erin Noscope")
	h.tokens.scope(erin.ObjectID, "User.Read")
	resp = h.do(t, "GET", "/api/graph/v1.0/me/messages", addinToken(erin), nil, nil)
	b = readAll(t, resp)
	if resp.StatusCode != 403 || !strings.Contains(string(b), `"code":"ErrorAccessDenied"`) {
		t.Errorf("missing Mail.Read: %d %s", resp.StatusCode, b)
	}
}

func TestPhotoIsByteExact(t *testing.T) {
	h := newHarness(t)
	frank := newUser("Frank Ode")
	resp := h.do(t, "GET", "/api/graph/v1.0/me/photo/$value", addinToken(frank), nil, nil)
	b := readAll(t, resp)
	if resp.StatusCode != 200 || !bytes.Equal(b, graph.Photo(frank.ObjectID)) {
		t.Fatalf("status %d, %d bytes, want the user's %d-byte photo", resp.StatusCode, len(b), len(graph.Photo(frank.ObjectID)))
	}
	if resp.Header.Get("Content-Type") != "image/jpeg" || resp.Header.Get("Content-Length") != strconv.Itoa(len(b)) {
		t.Errorf("headers %v", resp.Header)
	}
}

func TestCallerErrors(t *testing.T) {
	h := newHarness(t)
	gina := newUser("Gina Consent")
	h.tokens.fail(gina.ObjectID, problem.New(problem.ConsentRequired, "consent to Mail.Read is missing"))
	tests := []struct {
		name   string
		tok    string
		status int
		code   problem.Code
	}{
		{"no token", "", 401, problem.MissingToken},
		{"not a token", "abc.def.ghi", 401, problem.InvalidToken},
		{"Tokens' problem as it is", addinToken(gina), 403, problem.ConsentRequired},
	}
	for _, tt := range tests {
		before := graphEmu.Total()
		resp := h.do(t, "GET", "/api/graph/v1.0/me", tt.tok, nil, nil)
		p := problemOf(t, tt.status, resp.Header, readAll(t, resp))
		if p.Code != tt.code || graphEmu.Total() != before {
			t.Errorf("%s: code %s (Graph calls %d), want %s and no call", tt.name, p.Code, graphEmu.Total()-before, tt.code)
		}
	}
}

func TestRequestBodies(t *testing.T) {
	h := newHarness(t)
	hank := newUser("Hank Upload")
	tok := addinToken(hank)
	mail := []byte(`{"message":{"subject":"Hi","toRecipients":[{"emailAddress":{"address":"a@contoso.example"}}]}}`)
	resp := h.do(t, "POST", "/api/graph/v1.0/me/sendMail", tok, http.Header{"Content-Type": {"application/json"}}, bytes.NewReader(mail))
	if b := readAll(t, resp); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("sendMail: %d %s", resp.StatusCode, b)
	}
	if seen, _ := graphEmu.LastRequest(hank.ObjectID); seen.BodySHA256 != sha(mail) {
		t.Error("sendMail body changed on the way")
	}

	// Larger than the replay buffer, sent chunked: streamed to Graph.
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	resp = h.do(t, "PUT", "/api/graph/v1.0/me/drive/items/"+graph.ItemID(1)+"/content", tok, nil, io.MultiReader(bytes.NewReader(big)))
	b := readAll(t, resp)
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"size":1048576`) {
		t.Fatalf("upload: %d %s", resp.StatusCode, b)
	}
	if seen, _ := graphEmu.LastRequest(hank.ObjectID); seen.BodySHA256 != sha(big) {
		t.Error("uploaded body changed on the way")
	}

	tooBig := bytes.Repeat([]byte{'x'}, MaxBodyBytes+1)
	t.Run("declared too large", func(t *testing.T) {
		calls, before := h.tokens.calls.Load(), graphEmu.Total()
		resp := h.do(t, "PUT", "/api/graph/v1.0/me/drive/items/"+graph.ItemID(1)+"/content", tok, nil, bytes.NewReader(tooBig))
		p := problemOf(t, 413, resp.Header, readAll(t, resp))
		if p.Code != problem.RequestTooLarge || h.tokens.calls.Load() != calls || graphEmu.Total() != before {
			t.Errorf("code %s; token calls %d, Graph calls %d: want none", p.Code, h.tokens.calls.Load()-calls, graphEmu.Total()-before)
		}
	})
	t.Run("chunked too large", func(t *testing.T) {
		resp := h.do(t, "PUT", "/api/graph/v1.0/me/drive/items/"+graph.ItemID(1)+"/content", tok, nil, io.MultiReader(bytes.NewReader(tooBig)))
		if p := problemOf(t, 413, resp.Header, readAll(t, resp)); p.Code != problem.RequestTooLarge {
			t.Errorf("code %s", p.Code)
		}
	})
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestGraphFailures: what the task pane receives for each of Graph's failures,
// and how many times Graph and Tokens were asked.
func TestGraphFailures(t *testing.T) {
	h := newHarness(t)
	cae := `{"access_token":{"nbf":{"essential":true,"value":"1602707700"}}}`
	twoShort := graph.Throttled(time.Second)
	twoShort.Times = 2
	twice := graph.Revoked()
	twice.Times = 2
	mail := `{"message":{"subject":"Hi"}}`
	tests := []struct {
		name       string
		script     []graph.Failure
		method     string
		path       string
		body       string
		status     int
		code       problem.Code // "" means Graph's answer passes through
		action     problem.Action
		retryAfter string
		graphCalls int64
		fresh      int64
		forgotten  int64
		minTime    time.Duration
	}{
		{name: "revoked token: one fresh token, one retry", script: []graph.Failure{graph.Revoked()},
			status: 200, graphCalls: 2, fresh: 1},
		{name: "revoked token: a small body is sent again", script: []graph.Failure{graph.Revoked()},
			method: "POST", path: "/api/graph/v1.0/me/sendMail", body: mail, status: 202, graphCalls: 2, fresh: 1},
		{name: "revoked token: a large body is not sent again", script: []graph.Failure{graph.Revoked()},
			method: "PUT", path: "/api/graph/v1.0/me/drive/items/" + graph.ItemID(1) + "/content", body: strings.Repeat("x", replayableBodyBytes+1),
			status: 503, code: problem.UpstreamUnavailable, action: problem.RetryLater, retryAfter: "1", graphCalls: 1, fresh: 1},
		{name: "fresh token refused too", script: []graph.Failure{twice},
			status: 500, code: problem.ServerMisconfigured, action: problem.Fatal, graphCalls: 2, fresh: 1},
		{name: "CAE claims challenge", script: []graph.Failure{graph.ClaimsChallenge(cae)},
			status: 401, code: problem.ClaimsChallenge, action: problem.AuthChallenge, graphCalls: 1, forgotten: 1},
		{name: "Conditional Access 403 challenge", script: []graph.Failure{{Status: 403, Claims: cae}},
			status: 401, code: problem.ClaimsChallenge, action: problem.AuthChallenge, graphCalls: 1, forgotten: 1},
		{name: "throttled", script: []graph.Failure{graph.Throttled(7 * time.Second)},
			status: 429, code: problem.UpstreamUnavailable, action: problem.RetryLater, retryAfter: "7", graphCalls: 1},
		{name: "unavailable", script: []graph.Failure{graph.Unavailable(30 * time.Second)},
			status: 503, code: problem.UpstreamUnavailable, action: problem.RetryLater, retryAfter: "30", graphCalls: 1},
		{name: "Graph's 500 is 503 here: our 500 means misconfiguration", script: []graph.Failure{{Status: 500}},
			method: "POST", path: "/api/graph/v1.0/me/sendMail", body: mail, status: 503, code: problem.UpstreamUnavailable, action: problem.RetryLater, retryAfter: "5", graphCalls: 1},
		{name: "gateway timeout without Retry-After", script: []graph.Failure{{Status: 504}},
			status: 504, code: problem.UpstreamUnavailable, action: problem.RetryLater, retryAfter: "5", graphCalls: 1},
		{name: "GET waits out a short Retry-After once", script: []graph.Failure{graph.Throttled(time.Second)},
			status: 200, graphCalls: 2, minTime: time.Second},
		{name: "GET waits once only", script: []graph.Failure{twoShort},
			status: 429, code: problem.UpstreamUnavailable, action: problem.RetryLater, retryAfter: "1", graphCalls: 2, minTime: time.Second},
		{name: "POST is not retried", script: []graph.Failure{graph.Throttled(time.Second)},
			method: "POST", path: "/api/graph/v1.0/me/sendMail", body: mail, status: 429, code: problem.UpstreamUnavailable, action: problem.RetryLater, graphCalls: 1},
		{name: "redirect to another host is not followed", script: []graph.Failure{graph.Redirect("https://evil.example/steal")},
			status: 302, graphCalls: 1},
		{name: "Graph's 403 passes through", script: []graph.Failure{{Status: 403}},
			status: 403, graphCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUser("Ivy Failure")
			tok := addinToken(u)
			graphEmu.Script(u.ObjectID, tt.script...)
			method, path := tt.method, tt.path
			if method == "" {
				method, path = "GET", "/api/graph/v1.0/me"
			}
			var body io.Reader
			if tt.body != "" {
				// A reader of unknown length, so the caller's request is chunked.
				body = io.MultiReader(strings.NewReader(tt.body))
			}
			start := time.Now()
			resp := h.do(t, method, path, tok, http.Header{"Content-Type": {"application/json"}}, body)
			b := readAll(t, resp)
			elapsed := time.Since(start)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, b)
			}
			if tt.code != "" {
				p := problemOf(t, tt.status, resp.Header, b)
				if p.Code != tt.code || p.Action != tt.action {
					t.Errorf("code %s action %s, want %s %s", p.Code, p.Action, tt.code, tt.action)
				}
				if tt.code == problem.ClaimsChallenge {
					if p.Claims != cae || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="insufficient_claims"`) {
						t.Errorf("claims %q, WWW-Authenticate %q", p.Claims, resp.Header.Get("WWW-Authenticate"))
					}
				}
				if resp.Header.Get("Request-Id") == "" {
					t.Error("Graph's request-id is not passed on with the problem")
				}
			}
			if tt.retryAfter != "" && resp.Header.Get("Retry-After") != tt.retryAfter {
				t.Errorf("Retry-After %q, want %q", resp.Header.Get("Retry-After"), tt.retryAfter)
			}
			if tt.status == 302 && resp.Header.Get("Location") != "" {
				t.Errorf("Location %q passed on", resp.Header.Get("Location"))
			}
			if got := graphEmu.Count(u.ObjectID); got != tt.graphCalls {
				t.Errorf("Graph called %d times, want %d", got, tt.graphCalls)
			}
			if got := h.tokens.fresh.Load(); got != tt.fresh {
				t.Errorf("%d fresh tokens, want %d", got, tt.fresh)
			}
			if got := h.tokens.forgotten.Load(); got != tt.forgotten {
				t.Errorf("%d forgotten tokens, want %d", got, tt.forgotten)
			}
			if elapsed < tt.minTime {
				t.Errorf("answered after %v, before Retry-After passed", elapsed)
			}
			h.tokens.fresh.Store(0)
			h.tokens.forgotten.Store(0)
		})
	}
}

func TestLocationStaysOnGraph(t *testing.T) {
	h := newHarness(t)
	u := newUser("Jack Location")
	graphEmu.Script(u.ObjectID, graph.Redirect(graphEmu.URL+"/v1.0/me/messages?$skip=2"), graph.Redirect("/v1.0/me/photo/$value"),
		graph.Redirect(strings.Replace(graphEmu.URL, "127.0.0.1", "localhost", 1)+"/v1.0/me"))
	tok := addinToken(u)
	for _, want := range []string{"/api/graph/v1.0/me/messages?$skip=2", "/api/graph/v1.0/me/photo/$value", ""} {
		resp := h.do(t, "GET", "/api/graph/v1.0/me", tok, nil, nil)
		readAll(t, resp)
		if resp.StatusCode != 302 || resp.Header.Get("Location") != want {
			t.Errorf("status %d Location %q, want 302 %q", resp.StatusCode, resp.Header.Get("Location"), want)
		}
	}
}

func TestGraphUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "https://" + ln.Addr().String()
	ln.Close()
	h := newHarness(t, func(s *setup) { s.graphURL = dead })
	resp := h.do(t, "GET", "/api/graph/v1.0/me", addinToken(newUser("Kim Down")), nil, nil)
	p := problemOf(t, 503, resp.Header, readAll(t, resp))
	if p.Code != problem.UpstreamUnavailable || p.Action != problem.RetryLater || resp.Header.Get("Retry-After") == "" {
		t.Errorf("problem %+v, Retry-After %q", p, resp.Header.Get("Retry-After"))
	}
}

func TestSlowGraphIsBounded(t *testing.T) {
	tests := []struct {
		name  string
		setup func(*setup)
	}{
		{"by the request's context", func(s *setup) { s.timeout = 500 * time.Millisecond }},
		{"by the HTTP client's Timeout", func(s *setup) { s.graphTimeout = 500 * time.Millisecond }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.setup)
			u := newUser("Liam Slow")
			tok := addinToken(u)
			readAll(t, h.do(t, "GET", "/api/graph/v1.0/me", tok, nil, nil)) // verifies and caches outside the timed call
			graphEmu.Script(u.ObjectID, graph.Failure{Delay: 20 * time.Second})
			start := time.Now()
			resp := h.do(t, "GET", "/api/graph/v1.0/me", tok, nil, nil)
			p := problemOf(t, 503, resp.Header, readAll(t, resp))
			if p.Code != problem.UpstreamUnavailable || time.Since(start) > 5*time.Second {
				t.Errorf("code %s after %v, want upstream_unavailable soon after 500ms", p.Code, time.Since(start))
			}
		})
	}
}

// TestGraphBodyCutShort: when Graph drops the connection mid-body, the caller
// sees a failed transfer, never a short body that looks complete.
func TestGraphBodyCutShort(t *testing.T) {
	h := newHarness(t)
	u := newUser("Olga Cut")
	graphEmu.Script(u.ObjectID, graph.Failure{Cut: 100 << 10})
	resp := h.do(t, "GET", "/api/graph/v1.0/me/drive/items/"+graph.ItemID(256<<10)+"/content", addinToken(u), nil, nil)
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != 200 || err == nil || n >= 256<<10 {
		t.Errorf("status %d, read %d bytes, error %v; want a failed read", resp.StatusCode, n, err)
	}
	if !strings.Contains(h.logs.String(), "graph body cut short") {
		t.Error("the cut is not logged")
	}
}

// TestStreamingTimeToFirstByte: Graph sends 1 KiB, then pauses; the caller has
// those bytes long before Graph finishes, so nothing buffers the whole body.
func TestStreamingTimeToFirstByte(t *testing.T) {
	h := newHarness(t)
	u := newUser("Mia Stream")
	tok := addinToken(u)
	const size, pause = 256 << 10, 2 * time.Second
	graphEmu.Script(u.ObjectID, graph.Failure{Stall: pause})
	start := time.Now()
	resp := h.do(t, "GET", "/api/graph/v1.0/me/drive/items/"+graph.ItemID(size)+"/content", tok, nil, nil)
	defer resp.Body.Close()
	first := make([]byte, 1)
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatal(err)
	}
	ttfb := time.Since(start)
	rest, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	total := time.Since(start)
	want, _ := io.ReadAll(graph.Content(u.ObjectID, size))
	if !bytes.Equal(append(first, rest...), want) {
		t.Fatal("body differs from Graph's")
	}
	if ttfb > pause/2 || total < pause {
		t.Errorf("first byte after %v, whole body after %v; want the first byte well before the %v pause ends", ttfb, total, pause)
	}
}

// TestLargeBodyBoundedMemory: a 64 MiB download streams through while the
// live heap of the whole process (emulator, proxy and client) stays far below
// the body's size, so no layer holds it whole.
func TestLargeBodyBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("64 MiB transfer")
	}
	h := newHarness(t)
	u := newUser("Noah Large")
	tok := addinToken(u)
	const size = 64 << 20
	readAll(t, h.do(t, "GET", "/api/graph/v1.0/me", tok, nil, nil)) // warm connections, keys and caches

	// Collect garbage eagerly while measuring, so the peak reflects what is
	// held, not what the collector has yet to reclaim.
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	var base runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&base)
	peak := make(chan uint64)
	stop := make(chan struct{})
	go func() {
		var max uint64
		var m runtime.MemStats
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				peak <- max
				return
			case <-tick.C:
				runtime.ReadMemStats(&m)
				if m.HeapAlloc > max {
					max = m.HeapAlloc
				}
			}
		}
	}()
	resp := h.do(t, "GET", "/api/graph/v1.0/me/drive/items/"+graph.ItemID(size)+"/content", tok, nil, nil)
	got := sha256.New()
	n, err := io.CopyBuffer(got, resp.Body, make([]byte, 32<<10))
	resp.Body.Close()
	close(stop)
	max := <-peak
	if err != nil || n != size {
		t.Fatalf("read %d bytes, %v", n, err)
	}
	want := sha256.New()
	_, _ = io.Copy(want, graph.Content(u.ObjectID, size))
	if !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Fatal("body differs from Graph's")
	}
	grew := int64(max) - int64(base.HeapAlloc)
	if grew > size/2 {
		t.Errorf("the heap grew by %d MiB while %d MiB streamed", grew>>20, size>>20)
	}
	t.Logf("heap: %.1f MiB before, peak %.1f MiB while %d MiB streamed", float64(base.HeapAlloc)/(1<<20), float64(max)/(1<<20), size>>20)
}

// TestIsolationUnderLoad: 200 users, 10 calls each, 32 at a time; every /me
// answer shows its own caller.
func TestIsolationUnderLoad(t *testing.T) {
	h := newHarness(t)
	const users, calls, workers = 200, 10, 32
	type job struct {
		oid, tok string
	}
	jobs := make(chan job)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				req, _ := http.NewRequest("GET", h.server.URL+"/api/graph/v1.0/me", nil)
				req.Header.Set(function.AddinAuthorization, "Bearer "+j.tok)
				resp, err := h.client.Do(req)
				if err != nil {
					mu.Lock()
					failures = append(failures, err.Error())
					mu.Unlock()
					continue
				}
				var me struct{ ID string }
				err = json.NewDecoder(resp.Body).Decode(&me)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 || me.ID != j.oid {
					mu.Lock()
					failures = append(failures, "caller "+j.oid+" got "+me.ID+" ("+resp.Status+")")
					mu.Unlock()
				}
			}
		}()
	}
	tokens := make([]job, users)
	for i := range tokens {
		u := newUser("Load User" + strconv.Itoa(i))
		tokens[i] = job{u.ObjectID, addinToken(u)}
	}
	for c := range calls {
		for i := range tokens {
			jobs <- tokens[(i+c*7)%users] // interleave users
		}
	}
	close(jobs)
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d of %d calls failed, first: %s", len(failures), users*calls, failures[0])
	}
	for _, j := range tokens {
		if n := graphEmu.Count(j.oid); n != calls {
			t.Errorf("Graph saw %d calls for %s, want %d", n, j.oid, calls)
		}
	}
}
