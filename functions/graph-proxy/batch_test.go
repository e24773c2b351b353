package graphproxy

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/addinsso/addinsso/dev/graph"
	"github.com/addinsso/addinsso/handler/function"
	"github.com/addinsso/addinsso/handler/problem"
)

// fakeBatchGraph is Graph's $batch endpoint, scripted by the test: it records
// every batch that reaches it and answers each inner request with answer
// (default: 200 and a JSON body naming the request). Batch-level statuses in
// first are answered, in turn, before any batch is served.
type fakeBatchGraph struct {
	mu      sync.Mutex
	seen    []seenBatch
	first   []int
	answer  func(q batchRequest) batchResponse
	failure error // the transport fails: Graph unreachable
}

type seenBatch struct {
	method, path, query string
	header              http.Header
	requests            []batchRequest
}

func (f *fakeBatchGraph) RoundTrip(r *http.Request) (*http.Response, error) {
	defer r.Body.Close()
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	var in batchRequests
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields() // nothing but Graph's members reaches Graph
	if err := dec.Decode(&in); err != nil {
		return nil, fmt.Errorf("graph received a batch it cannot read: %v: %s", err, raw)
	}
	f.mu.Lock()
	f.seen = append(f.seen, seenBatch{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Clone(), in.Requests})
	fail := f.failure
	status := 0
	if len(f.first) > 0 {
		status, f.first = f.first[0], f.first[1:]
	}
	answer := f.answer
	f.mu.Unlock()
	if fail != nil {
		return nil, fail
	}

	rec := httptest.NewRecorder()
	rec.Header().Set("request-id", "batch-request-id")
	rec.Header().Set("client-request-id", r.Header.Get("client-request-id"))
	switch status {
	case 0:
	case http.StatusUnauthorized:
		rec.Header().Set("WWW-Authenticate", `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`)
		fallthrough
	default:
		if status == http.StatusTooManyRequests {
			rec.Header().Set("Retry-After", "9")
		}
		rec.Header().Set("Content-Type", "application/json")
		rec.WriteHeader(status)
		fmt.Fprintf(rec, `{"error":{"code":"Scripted%d","message":"scripted"}}`, status)
		return withRequest(rec, r), nil
	}
	if answer == nil {
		answer = okAnswer
	}
	var out batchResponses
	for _, q := range in.Requests {
		out.Responses = append(out.Responses, answer(q))
	}
	slices.Reverse(out.Responses) // Graph answers in any order
	rec.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(rec).Encode(out)
	return withRequest(rec, r), nil
}

func withRequest(rec *httptest.ResponseRecorder, r *http.Request) *http.Response {
	resp := rec.Result()
	resp.Request = r
	return resp
}

// okAnswer is Graph's 200, its body naming the request it answers.
func okAnswer(q batchRequest) batchResponse {
	body, _ := json.Marshal(map[string]string{"answered": q.Method + " " + q.URL})
	return batchResponse{ID: q.ID, Status: 200, Headers: map[string]string{
		"Content-Type": "application/json;odata.metadata=minimal;charset=utf-8", "OData-Version": "4.0", "Set-Cookie": "graph=1", "X-Backend-Secret": "s3cr3t",
	}, Body: body}
}

// batches is what reached Graph.
func (f *fakeBatchGraph) batches() []seenBatch {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.seen)
}

// sentIDs lists the inner ids of every batch that reached Graph.
func (f *fakeBatchGraph) sentIDs() []string {
	var ids []string
	for _, b := range f.batches() {
		for _, q := range b.requests {
			ids = append(ids, q.ID)
		}
	}
	return ids
}

// fakeGraph points the harness's proxy at a new fakeBatchGraph.
func fakeGraph(h *harness) *fakeBatchGraph {
	f := &fakeBatchGraph{}
	h.proxy.rt = f
	return f
}

// req is one inner request.
type req = map[string]any

func getReq(id, url string) req { return req{"id": id, "method": "GET", "url": url} }

// postBatch sends a batch (a value to encode, or raw bytes) and returns the
// answer and its body.
func postBatch(t testing.TB, h *harness, tok, path string, batch any, header http.Header) (*http.Response, []byte) {
	t.Helper()
	var body []byte
	switch b := batch.(type) {
	case []byte:
		body = b
	case []req:
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false) // as JSON.stringify sends it
		if err := enc.Encode(map[string]any{"requests": b}); err != nil {
			t.Fatal(err)
		}
		body = buf.Bytes()
	default:
		t.Fatalf("postBatch: %T", batch)
	}
	if header == nil {
		header = http.Header{}
	}
	if header.Get("Content-Type") == "" {
		header.Set("Content-Type", "application/json")
	}
	resp := h.do(t, "POST", path, tok, header, bytes.NewReader(body))
	return resp, readAll(t, resp)
}

// answers decodes a 200 batch answer into its responses, by id, checking
// they come in order.
func answers(t testing.TB, resp *http.Response, b []byte, order ...string) map[string]batchResponse {
	t.Helper()
	if resp.StatusCode != 200 {
		t.Fatalf("batch status %d: %s", resp.StatusCode, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var out batchResponses
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	got := map[string]batchResponse{}
	var ids []string
	for _, r := range out.Responses {
		got[r.ID] = r
		ids = append(ids, r.ID)
	}
	if order != nil && !slices.Equal(ids, order) {
		t.Errorf("responses in order %v, want the caller's %v", ids, order)
	}
	return got
}

// innerProblem decodes an inner response that must be our problem.
func innerProblem(t testing.TB, r batchResponse, status int, code problem.Code) problem.Body {
	t.Helper()
	if r.Status != status {
		t.Fatalf("inner %s: status %d, want %d: %s", r.ID, r.Status, status, r.Body)
	}
	if ct := r.Headers["Content-Type"]; ct != "application/json" {
		t.Errorf("inner %s: Content-Type %q, want application/json (the JavaScript SDK reads only that)", r.ID, ct)
	}
	var p problem.Body
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Fatalf("inner %s: %v: %s", r.ID, err, r.Body)
	}
	if p.Status != status || p.Code != code || p.Error.Code != string(code) || p.Type != problem.TypeBase+string(code) || p.Detail == "" || p.CorrelationID == "" {
		t.Errorf("inner %s: problem %+v, want %d %s", r.ID, p, status, code)
	}
	return p
}

// TestBatchAllowedAndRefused: the allowed requests reach Graph in one batch,
// with the Graph token, as relative urls rebuilt from the checked path; the
// refused one never does, and is answered with our problem inside the batch;
// the answer keeps the caller's order and ids, and Graph's headers are
// filtered.
func TestBatchAllowedAndRefused(t *testing.T) {
	h := newHarness(t)
	f := fakeGraph(h)
	u := newUser("Bea Batch")
	tok := addinToken(u)
	resp, b := postBatch(t, h, tok, "/api/graph/v1.0/$batch", []req{
		getReq("1", "/me"),
		getReq("2", "/users"),
		getReq("3", "/me/messages?$top=5"),
		getReq("4", "me"),
		getReq("5", "/v1.0/me/messages/AAMkAGI2THVSAAA="),
		getReq("6", "/api/graph/v1.0/me/photo/$value"),
		{"id": "7", "method": "delete", "url": "/me/messages/AAMk"},
	}, nil)
	got := answers(t, resp, b, "1", "2", "3", "4", "5", "6", "7")

	batches := f.batches()
	if len(batches) != 1 {
		t.Fatalf("%d batches reached Graph, want one", len(batches))
	}
	sent := batches[0]
	if sent.method != "POST" || sent.path != "/v1.0/$batch" || sent.query != "" {
		t.Errorf("Graph received %s %s?%s", sent.method, sent.path, sent.query)
	}
	if got, want := sent.header.Get("Authorization"), "Bearer "+h.tokens.cached(u.ObjectID); got != want {
		t.Errorf("Graph received Authorization %.30q, want the Graph token", got)
	}
	if sent.header.Get("Content-Type") != "application/json" || sent.header.Get(function.AddinAuthorization) != "" {
		t.Errorf("Graph received headers %v", sent.header)
	}
	var urls []string
	for _, q := range sent.requests {
		urls = append(urls, q.ID+" "+q.Method+" "+q.URL)
	}
	want := []string{"1 GET /me", "3 GET /me/messages?$top=5", "4 GET /me", "5 GET /me/messages/AAMkAGI2THVSAAA=", "6 GET /me/photo/$value"}
	if !slices.Equal(urls, want) {
		t.Errorf("Graph received %q, want %q", urls, want)
	}
	if h.tokens.calls.Load() != 1 {
		t.Errorf("%d Graph token requests, want 1", h.tokens.calls.Load())
	}

	for _, id := range []string{"1", "3", "4", "5", "6"} {
		r := got[id]
		if r.Status != 200 || !strings.Contains(string(r.Body), `"answered"`) {
			t.Errorf("inner %s: %d %s", id, r.Status, r.Body)
		}
		if r.Headers["Content-Type"] == "" || r.Headers["Set-Cookie"] != "" || r.Headers["X-Backend-Secret"] != "" || r.Headers["OData-Version"] != "" {
			t.Errorf("inner %s: headers %v", id, r.Headers)
		}
	}
	p := innerProblem(t, got["2"], 403, problem.GraphPathForbidden)
	if p.Action != problem.Fatal || !strings.Contains(p.Detail, "GET /v1.0/users") {
		t.Errorf("refusal %+v", p)
	}
	if p.CorrelationID != resp.Header.Get("X-Correlation-Id") {
		t.Errorf("problem correlation ID %q, the batch's %q", p.CorrelationID, resp.Header.Get("X-Correlation-Id"))
	}
	innerProblem(t, got["7"], 403, problem.GraphPathForbidden)

	for name, want := range map[string]string{"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff", "Request-Id": "batch-request-id"} {
		if got := resp.Header.Get(name); got != want {
			t.Errorf("batch answer %s %q, want %q", name, got, want)
		}
	}
	if resp.Header.Get("Client-Request-Id") == "" || resp.Header.Get("Client-Request-Id") != sent.header.Get("Client-Request-Id") {
		t.Errorf("client-request-id %q, Graph saw %q", resp.Header.Get("Client-Request-Id"), sent.header.Get("Client-Request-Id"))
	}
	logs := h.logs.String()
	for _, s := range []string{`"msg":"graph batch"`, `"route":"$batch"`, `"requests":7`, `"refused":2`, `"graphStatus":200`} {
		if !strings.Contains(logs, s) {
			t.Errorf("the batch log line lacks %s: %s", s, logs)
		}
	}
	if strings.Contains(logs, "/users") || strings.Contains(logs, "AAMk") {
		t.Errorf("an inner url reached the logs: %s", logs)
	}
}

// TestBatchAllRefused: a batch with nothing allowed costs no Graph token and
// no call to Graph, and still answers every request.
func TestBatchAllRefused(t *testing.T) {
	h := newHarness(t)
	f := fakeGraph(h)
	resp, b := postBatch(t, h, addinToken(newUser("Al Refused")), "/api/graph/v1.0/$batch", []req{getReq("a", "/users"), getReq("b", "/groups")}, nil)
	got := answers(t, resp, b, "a", "b")
	innerProblem(t, got["a"], 403, problem.GraphPathForbidden)
	innerProblem(t, got["b"], 403, problem.GraphPathForbidden)
	if len(f.batches()) != 0 || h.tokens.calls.Load() != 0 {
		t.Errorf("%d batches sent, %d token requests; want none", len(f.batches()), h.tokens.calls.Load())
	}
}

// TestBatchTooManyRequests: over Graph's 20, the whole batch is refused and
// nothing is sent.
func TestBatchTooManyRequests(t *testing.T) {
	h := newHarness(t)
	f := fakeGraph(h)
	var reqs []req
	for i := range MaxBatchRequests + 1 {
		reqs = append(reqs, getReq(strconv.Itoa(i), "/me"))
	}
	resp, b := postBatch(t, h, addinToken(newUser("Tom Many")), "/api/graph/v1.0/$batch", reqs, nil)
	p := problemOf(t, 400, resp.Header, b)
	if p.Code != problem.BadRequest || !strings.Contains(p.Detail, "21 requests") || !strings.Contains(p.Detail, "at most 20") {
		t.Errorf("problem %+v", p)
	}
	if len(f.batches()) != 0 || h.tokens.calls.Load() != 0 {
		t.Errorf("%d batches sent, %d token requests; want none", len(f.batches()), h.tokens.calls.Load())
	}

	resp, b = postBatch(t, h, addinToken(newUser("Tom Twenty")), "/api/graph/v1.0/$batch", reqs[:MaxBatchRequests], nil)
	answers(t, resp, b)
	if n := len(f.sentIDs()); n != MaxBatchRequests {
		t.Errorf("%d requests sent, want %d", n, MaxBatchRequests)
	}
}

// TestBatchDependsOnRefused: a request that depends on a refused one, directly
// or through another, is answered 424 and never sent; dependsOn among allowed
// requests reaches Graph as the caller wrote it.
func TestBatchDependsOnRefused(t *testing.T) {
	h := newHarness(t)
	f := fakeGraph(h)
	resp, b := postBatch(t, h, addinToken(newUser("Dee Pends")), "/api/graph/v1.0/$batch", []req{
		{"id": "3", "method": "GET", "url": "/me", "dependsOn": []string{"2"}},
		getReq("1", "/users"),
		{"id": "2", "method": "GET", "url": "/me/messages", "dependsOn": []string{"1"}},
		getReq("4", "/me"),
		{"id": "5", "method": "GET", "url": "/me/messages", "dependsOn": []string{"4"}},
		{"id": "6", "method": "GET", "url": "/users/x", "dependsOn": []string{"4"}},
	}, nil)
	got := answers(t, resp, b, "3", "1", "2", "4", "5", "6")
	innerProblem(t, got["1"], 403, problem.GraphPathForbidden)
	for _, id := range []string{"2", "3"} {
		p := innerProblem(t, got[id], http.StatusFailedDependency, problem.GraphPathForbidden)
		if !strings.Contains(p.Detail, "depends on request") {
			t.Errorf("inner %s: %s", id, p.Detail)
		}
	}
	innerProblem(t, got["6"], 403, problem.GraphPathForbidden)
	if got["4"].Status != 200 || got["5"].Status != 200 {
		t.Errorf("allowed requests: %+v %+v", got["4"], got["5"])
	}
	batches := f.batches()
	if ids := f.sentIDs(); !slices.Equal(ids, []string{"4", "5"}) {
		t.Fatalf("Graph received %v, want [4 5]", ids)
	}
	if deps := batches[0].requests[1].DependsOn; !slices.Equal(deps, []string{"4"}) {
		t.Errorf("request 5 reached Graph with dependsOn %v", deps)
	}
}

// TestBatchLevelFailures: Graph's answers to the batch as a whole are handled
// as a direct call's: a refused token is replaced once and the batch sent
// again; a challenge, throttling or an outage is our problem.
func TestBatchLevelFailures(t *testing.T) {
	cases := []struct {
		name      string
		first     []int
		failure   error
		status    int
		code      problem.Code
		batches   int
		fresh     int64
		forgotten int64
	}{
		{name: "revoked token: one fresh token, one retry", first: []int{401}, status: 200, batches: 2, fresh: 1},
		{name: "fresh token refused too", first: []int{401, 401}, status: 500, code: problem.ServerMisconfigured, batches: 2, fresh: 1},
		{name: "throttled as a whole", first: []int{429}, status: 429, code: problem.UpstreamUnavailable, batches: 1},
		{name: "Graph's 500", first: []int{500}, status: 503, code: problem.UpstreamUnavailable, batches: 1},
		{name: "Graph refuses the batch: passed on", first: []int{400}, status: 400, batches: 1},
		{name: "unreachable", failure: errors.New("connection refused"), status: 503, code: problem.UpstreamUnavailable, batches: 1},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			f := fakeGraph(h)
			f.first, f.failure = tt.first, tt.failure
			u := newUser("Lev Batch")
			resp, b := postBatch(t, h, addinToken(u), "/api/graph/v1.0/$batch", []req{getReq("1", "/me"), getReq("2", "/users")}, nil)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, b)
			}
			switch {
			case tt.code != "":
				if p := problemOf(t, tt.status, resp.Header, b); p.Code != tt.code {
					t.Errorf("code %s, want %s", p.Code, tt.code)
				}
			case tt.status == 200:
				got := answers(t, resp, b, "1", "2")
				if got["1"].Status != 200 {
					t.Errorf("inner 1: %d", got["1"].Status)
				}
				innerProblem(t, got["2"], 403, problem.GraphPathForbidden)
			default:
				if !strings.Contains(string(b), "Scripted400") {
					t.Errorf("Graph's answer not passed on: %s", b)
				}
			}
			batches := f.batches()
			if len(batches) != tt.batches {
				t.Fatalf("%d batches reached Graph, want %d", len(batches), tt.batches)
			}
			if got := h.tokens.fresh.Load(); got != tt.fresh {
				t.Errorf("%d fresh tokens, want %d", got, tt.fresh)
			}
			if tt.fresh > 0 {
				first, second := batches[0].header.Get("Authorization"), batches[1].header.Get("Authorization")
				if first == second || second != "Bearer "+h.tokens.cached(u.ObjectID) {
					t.Error("the batch was not sent again with the fresh token")
				}
				if !slices.Equal(ids(batches[0].requests), ids(batches[1].requests)) {
					t.Errorf("the retry sent %v, the first %v", ids(batches[1].requests), ids(batches[0].requests))
				}
			}
		})
	}
}

func ids(reqs []batchRequest) []string {
	var out []string
	for _, q := range reqs {
		out = append(out, q.ID)
	}
	return out
}

// TestBatchHostileInnerURLs: every trick a direct call's path could try is
// refused inside a batch too, and so are the batch's own: absolute URLs,
// another API version, a batch inside the batch. None reaches Graph.
func TestBatchHostileInnerURLs(t *testing.T) {
	h := newHarness(t)
	f := fakeGraph(h)
	tok := addinToken(newUser("Mallory Batch"))
	hostile := map[string]int{
		"https://graph.microsoft.com/v1.0/users":    403,
		"https://evil.example/v1.0/me":              403,
		"//evil.example/v1.0/me":                    403,
		"http:/evil.example/me":                     403,
		"/me/../users":                              403,
		"../users":                                  403,
		"/me/./messages":                            403,
		"/me/%2e%2e/users":                          403,
		"/me/..%2fusers":                            403,
		"/me/messages/a%2fb":                        403,
		"/me/messages/a%252fb":                      403,
		"/me/messages/%2e%2e":                       403,
		"/me/messages/delta":                        403,
		"/me/messages/microsoft.graph.eventMessage": 403,
		`/me\..\users`:                              403,
		"/me%5c..%5cusers":                          403,
		"/me%0d%0aHost:%20evil.example":             403,
		"/me\r\nHost: evil.example":                 403,
		"/me?$top=1#fragment":                       403,
		"/me?$filter=a%00":                          403,
		"/me;x=1":                                   403,
		"/me/":                                      403,
		"/me//":                                     403,
		"/":                                         403,
		"/$batch":                                   403,
		"$batch":                                    403,
		"/%24batch":                                 403,
		"/v1.0/$batch":                              403,
		"/api/graph/v1.0/$batch":                    403,
		"/beta/me":                                  403,
		"beta/me":                                   403,
		"/BETA/me":                                  403,
		"/V1.0/me":                                  403,
		"/v1.0/v1.0/me":                             403,
		"/v1.0/beta/me":                             403,
		"/%761.0/me":                                403,
		"/api/graph/beta/me":                        403,
		"/api/graph/me":                             403,
		"/api/validate":                             403,
		"/users":                                    403,
		"/ME":                                       403,
		"/me@evil.example":                          403,
		"":                                          400,
	}
	var reqs []req
	var order []string
	i := 0
	flush := func() {
		if len(reqs) == 0 {
			return
		}
		resp, b := postBatch(t, h, tok, "/api/graph/v1.0/$batch", reqs, nil)
		got := answers(t, resp, b, order...)
		for j, q := range reqs {
			url := q["url"].(string)
			status := hostile[url]
			code := problem.GraphPathForbidden
			if status == 400 {
				code = problem.BadRequest
			}
			if r := got[order[j]]; r.Status != status {
				t.Errorf("%q: inner status %d, want %d: %s", url, r.Status, status, r.Body)
			} else {
				innerProblem(t, r, status, code)
			}
		}
		reqs, order = nil, nil
	}
	for url := range hostile {
		id := strconv.Itoa(i)
		reqs, order = append(reqs, getReq(id, url)), append(order, id)
		if i++; len(reqs) == MaxBatchRequests {
			flush()
		}
	}
	flush()
	if sent := f.sentIDs(); len(sent) != 0 {
		t.Errorf("Graph received %v", sent)
	}
	if h.tokens.calls.Load() != 0 {
		t.Errorf("%d Graph token requests for refused batches", h.tokens.calls.Load())
	}

	// What a direct call may send, a batch may send the same way.
	resp, b := postBatch(t, h, tok, "/api/graph/v1.0/$batch", []req{
		getReq("q", "/me/messages?$filter=subject eq 'Café'&$top=2"),
		getReq("e", "/me/messages/AAMk%2DAAA%3D"),
	}, nil)
	answers(t, resp, b, "q", "e")
	var urls []string
	for _, q := range f.batches()[0].requests {
		urls = append(urls, q.URL)
	}
	if want := []string{"/me/messages?$filter=subject%20eq%20'Caf%C3%A9'&$top=2", "/me/messages/AAMk-AAA="}; !slices.Equal(urls, want) {
		t.Errorf("Graph received %q, want %q", urls, want)
	}
}

// TestBatchRoutes: only POST to the two versions' $batch is a batch; anything
// else on $batch is an ordinary request, which no allow-list entry can match.
func TestBatchRoutes(t *testing.T) {
	h := newHarness(t, func(s *setup) { s.routes = allowedRoutes + ", GET /beta/me" })
	f := fakeGraph(h)
	tok := addinToken(newUser("Ray Routes"))
	resp, b := postBatch(t, h, tok, "/api/graph/beta/$batch", []req{getReq("1", "/me"), getReq("2", "/me/messages")}, nil)
	got := answers(t, resp, b, "1", "2")
	if got["1"].Status != 200 || f.batches()[0].path != "/beta/$batch" {
		t.Errorf("beta batch: %+v, sent to %s", got["1"], f.batches()[0].path)
	}
	innerProblem(t, got["2"], 403, problem.GraphPathForbidden) // only /v1.0/me/messages is allowed

	for _, tt := range []struct{ method, path string }{
		{"GET", "/api/graph/v1.0/$batch"},
		{"PUT", "/api/graph/v1.0/$batch"},
		{"POST", "/api/graph/v2.0/$batch"},
		{"POST", "/api/graph/v1.0/me/$batch"},
		{"POST", "/api/graph/v1.0/$BATCH"},
		{"POST", "/api/graph/v1.0/%24batch"},
		{"POST", "/api/graph/$batch"},
	} {
		resp := h.do(t, tt.method, tt.path, tok, http.Header{"Content-Type": {"application/json"}}, strings.NewReader(`{"requests":[{"id":"1","method":"GET","url":"/me"}]}`))
		p := problemOf(t, 403, resp.Header, readAll(t, resp))
		if p.Code != problem.GraphPathForbidden {
			t.Errorf("%s %s: %s", tt.method, tt.path, p.Code)
		}
	}
	if len(f.batches()) != 1 {
		t.Errorf("%d batches reached Graph, want 1", len(f.batches()))
	}
}

// TestBatchInnerHeaders: only the headers a direct call forwards reach Graph
// from an inner request, whatever case they are sent in; malformed ones are
// refused, not dropped.
func TestBatchInnerHeaders(t *testing.T) {
	h := newHarness(t)
	f := fakeGraph(h)
	tok := addinToken(newUser("Hal Headers"))
	crid := "0f0e0d0c-0b0a-4908-8706-050403020100"
	resp, b := postBatch(t, h, tok, "/api/graph/v1.0/$batch", []req{
		{"id": "1", "method": "GET", "url": "/me/messages", "headers": map[string]string{
			"Authorization":         "Bearer stolen",
			"authorization":         "Bearer stolen-too",
			"Cookie":                "StaticWebAppsAuthCookie=abc",
			"X-Addin-Authorization": "Bearer " + tok,
			"X-Forwarded-For":       "203.0.113.9",
			"Host":                  "evil.example",
			"Connection":            "close",
			"accept":                "application/json",
			"consistencylevel":      "eventual",
			"Prefer":                `outlook.body-content-type="text"`,
			"If-None-Match":         `W/"1"`,
			"client-request-id":     crid,
		}},
		{"id": "2", "method": "GET", "url": "/me", "headers": map[string]string{"Prefer": "a\r\nX-Injected: 1"}},
		{"id": "3", "method": "GET", "url": "/me", "headers": map[string]string{"Prefer": strings.Repeat("x", maxHeaderValueBytes+1)}},
		{"id": "4", "method": "GET", "url": "/me", "headers": map[string]string{"Accept": "a", "ACCEPT": "b"}},
		{"id": "5", "method": "GET", "url": "/me"},
	}, http.Header{"Cookie": {"outer=1"}, "Prefer": {"outer"}})
	got := answers(t, resp, b, "1", "2", "3", "4", "5")
	for _, id := range []string{"2", "3", "4"} {
		innerProblem(t, got[id], 400, problem.BadRequest)
	}
	batches := f.batches()
	if ids := f.sentIDs(); !slices.Equal(ids, []string{"1", "5"}) {
		t.Fatalf("Graph received %v", ids)
	}
	if batches[0].header.Get("Cookie") != "" || batches[0].header.Get("Prefer") != "" || batches[0].header.Get("X-Addin-Authorization") != "" {
		t.Errorf("the caller's outer headers reached Graph: %v", batches[0].header)
	}
	want := map[string]string{"Accept": "application/json", "Consistencylevel": "eventual", "Prefer": `outlook.body-content-type="text"`, "If-None-Match": `W/"1"`, "Client-Request-Id": crid}
	if sent := batches[0].requests[0].Headers; !maps.Equal(sent, want) {
		t.Errorf("inner headers reaching Graph %v, want %v", sent, want)
	}
	if sent := batches[0].requests[1].Headers; len(sent) != 0 {
		t.Errorf("an inner request without headers reached Graph with %v", sent)
	}
}

// TestBatchBodies: inner bodies are bounded one by one and as a batch, carry
// the Content-Type Graph requires, and reach Graph as sent.
func TestBatchBodies(t *testing.T) {
	h := newHarness(t)
	f := fakeGraph(h)
	tok := addinToken(newUser("Bo Bodies"))
	mail := json.RawMessage(`{"message":{"subject":"Hi <b>&</b>","body":{"contentType":"Text","content":"x"}}}`)
	big := strings.Repeat("A", maxInnerBodyBytes)
	jsonCT := map[string]string{"Content-Type": "application/json"}
	resp, b := postBatch(t, h, tok, "/api/graph/v1.0/$batch", []req{
		{"id": "mail", "method": "POST", "url": "/me/sendMail", "headers": jsonCT, "body": mail},
		{"id": "upload", "method": "PUT", "url": "/me/drive/items/01EMU3/content", "headers": map[string]string{"content-type": "application/octet-stream"}, "body": base64.StdEncoding.EncodeToString([]byte("abc"))},
		{"id": "big", "method": "PUT", "url": "/me/drive/items/01EMU3/content", "headers": map[string]string{"Content-Type": "application/octet-stream"}, "body": big},
		{"id": "no-type", "method": "POST", "url": "/me/sendMail", "body": mail},
		{"id": "object-as-binary", "method": "PUT", "url": "/me/drive/items/01EMU3/content", "headers": map[string]string{"Content-Type": "application/octet-stream"}, "body": mail},
		{"id": "bad-type", "method": "POST", "url": "/me/sendMail", "headers": map[string]string{"Content-Type": "application/json; ="}, "body": mail},
		{"id": "null", "method": "GET", "url": "/me", "body": nil},
	}, nil)
	got := answers(t, resp, b, "mail", "upload", "big", "no-type", "object-as-binary", "bad-type", "null")
	p := innerProblem(t, got["big"], 413, problem.RequestTooLarge)
	if !strings.Contains(p.Detail, strconv.Itoa(maxInnerBodyBytes)) {
		t.Errorf("the refusal does not name the bound: %s", p.Detail)
	}
	for _, id := range []string{"no-type", "object-as-binary", "bad-type"} {
		innerProblem(t, got[id], 400, problem.BadRequest)
	}
	sent := f.batches()[0].requests
	if ids := ids(sent); !slices.Equal(ids, []string{"mail", "upload", "null"}) {
		t.Fatalf("Graph received %v", ids)
	}
	if !bytes.Equal(sent[0].Body, mail) || sent[0].Headers["Content-Type"] != "application/json" {
		t.Errorf("the mail reached Graph as %s %v", sent[0].Body, sent[0].Headers)
	}
	if string(sent[1].Body) != `"YWJj"` || sent[1].Headers["Content-Type"] != "application/octet-stream" {
		t.Errorf("the upload reached Graph as %s %v", sent[1].Body, sent[1].Headers)
	}
	if sent[2].Body != nil {
		t.Errorf("a null body reached Graph as %s", sent[2].Body)
	}

	// Over MaxBodyBytes in all, the batch is refused whole, before it is read.
	var reqs []req
	for i := range 5 {
		reqs = append(reqs, req{"id": strconv.Itoa(i), "method": "PUT", "url": "/me/drive/items/01EMU3/content", "headers": map[string]string{"Content-Type": "application/octet-stream"}, "body": big[:maxInnerBodyBytes-10]})
	}
	resp, b = postBatch(t, h, tok, "/api/graph/v1.0/$batch", reqs, nil)
	if p := problemOf(t, 413, resp.Header, b); p.Code != problem.RequestTooLarge {
		t.Errorf("code %s", p.Code)
	}
	if len(f.batches()) != 1 {
		t.Errorf("%d batches reached Graph, want 1", len(f.batches()))
	}
}

// TestBatchMalformed: what Graph would refuse as a whole is refused as a
// whole, after the caller is authenticated, and nothing is sent.
func TestBatchMalformed(t *testing.T) {
	h := newHarness(t)
	f := fakeGraph(h)
	tok := addinToken(newUser("Mal Formed"))
	tests := []struct {
		name   string
		body   string
		header http.Header
		path   string
		tok    string
		status int
		code   problem.Code
	}{
		{name: "not JSON", body: `{"requests":[`, status: 400, code: problem.BadRequest},
		{name: "empty", body: ``, status: 400, code: problem.BadRequest},
		{name: "an array", body: `[{"id":"1","method":"GET","url":"/me"}]`, status: 400, code: problem.BadRequest},
		{name: "no requests", body: `{}`, status: 400, code: problem.BadRequest},
		{name: "empty requests", body: `{"requests":[]}`, status: 400, code: problem.BadRequest},
		{name: "requests not an array", body: `{"requests":{"id":"1"}}`, status: 400, code: problem.BadRequest},
		{name: "a null request", body: `{"requests":[null]}`, status: 400, code: problem.BadRequest},
		{name: "no id", body: `{"requests":[{"method":"GET","url":"/me"}]}`, status: 400, code: problem.BadRequest},
		{name: "numeric id", body: `{"requests":[{"id":1,"method":"GET","url":"/me"}]}`, status: 400, code: problem.BadRequest},
		{name: "header not a string", body: `{"requests":[{"id":"1","method":"GET","url":"/me","headers":{"Accept":1}}]}`, status: 400, code: problem.BadRequest},
		{name: "id with a control character", body: `{"requests":[{"id":"a\nb","method":"GET","url":"/me"}]}`, status: 400, code: problem.BadRequest},
		{name: "overlong id", body: `{"requests":[{"id":"` + strings.Repeat("i", maxBatchIDBytes+1) + `","method":"GET","url":"/me"}]}`, status: 400, code: problem.BadRequest},
		{name: "duplicate ids, whatever their case", body: `{"requests":[{"id":"a","method":"GET","url":"/me"},{"id":"A","method":"GET","url":"/me"}]}`, status: 400, code: problem.BadRequest},
		{name: "dependsOn an unknown id", body: `{"requests":[{"id":"1","method":"GET","url":"/me","dependsOn":["9"]}]}`, status: 400, code: problem.BadRequest},
		{name: "dependsOn itself", body: `{"requests":[{"id":"1","method":"GET","url":"/me","dependsOn":["1"]}]}`, status: 400, code: problem.BadRequest},
		{name: "a dependsOn cycle", body: `{"requests":[{"id":"1","method":"GET","url":"/me","dependsOn":["3"]},{"id":"2","method":"GET","url":"/me","dependsOn":["1"]},{"id":"3","method":"GET","url":"/me","dependsOn":["2"]}]}`, status: 400, code: problem.BadRequest},
		{name: "two JSON values", body: `{"requests":[{"id":"1","method":"GET","url":"/me"}]} {}`, status: 400, code: problem.BadRequest},
		{name: "not application/json", body: `{"requests":[{"id":"1","method":"GET","url":"/me"}]}`, header: http.Header{"Content-Type": {"text/plain"}}, status: 415, code: problem.UnsupportedMediaType},
		{name: "a query string", path: "/api/graph/v1.0/$batch?$top=1", body: `{"requests":[{"id":"1","method":"GET","url":"/me"}]}`, status: 400, code: problem.BadRequest},
		{name: "no token, a malformed body", tok: "-", body: `{"requests":[`, status: 401, code: problem.MissingToken},
		{name: "a bad token", tok: "not-a-token", body: `{"requests":[{"id":"1","method":"GET","url":"/me"}]}`, status: 401, code: problem.InvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, tk := tt.path, tt.tok
			if path == "" {
				path = "/api/graph/v1.0/$batch"
			}
			switch tk {
			case "":
				tk = tok
			case "-":
				tk = ""
			}
			resp, b := postBatch(t, h, tk, path, []byte(tt.body), tt.header)
			if p := problemOf(t, tt.status, resp.Header, b); p.Code != tt.code {
				t.Errorf("code %s, want %s: %s", p.Code, tt.code, p.Detail)
			}
		})
	}
	// An unknown member is not Graph's: ignored, and never sent on.
	resp, b := postBatch(t, h, tok, "/api/graph/v1.0/$batch", []byte(`{"requests":[{"id":"1","method":"GET","url":"/me","atomicityGroup":"g","x":{}}],"extra":1}`), nil)
	answers(t, resp, b, "1")
	if n := len(f.batches()); n != 1 {
		t.Errorf("%d batches reached Graph, want 1", n)
	}
	if h.tokens.calls.Load() != 1 {
		t.Errorf("%d Graph token requests, want 1", h.tokens.calls.Load())
	}
}

// TestBatchInnerLocation: an inner Location on Graph is rewritten to this
// Function's path, as a direct call's; any other is dropped.
func TestBatchInnerLocation(t *testing.T) {
	h := newHarness(t)
	f := fakeGraph(h)
	f.answer = func(q batchRequest) batchResponse {
		loc := map[string]string{"on": graphEmu.URL + "/v1.0/me/messages/AAMk", "off": "https://evil.example/v1.0/me", "rel": "/v1.0/me/photo/$value"}[q.ID]
		return batchResponse{ID: q.ID, Status: 302, Headers: map[string]string{"Location": loc}}
	}
	resp, b := postBatch(t, h, addinToken(newUser("Lou Location")), "/api/graph/v1.0/$batch", []req{getReq("on", "/me"), getReq("off", "/me"), getReq("rel", "/me")}, nil)
	got := answers(t, resp, b, "on", "off", "rel")
	for id, want := range map[string]string{"on": "/api/graph/v1.0/me/messages/AAMk", "off": "", "rel": "/api/graph/v1.0/me/photo/$value"} {
		if loc := got[id].Headers["Location"]; got[id].Status != 302 || loc != want {
			t.Errorf("inner %s: %d Location %q, want %q", id, got[id].Status, loc, want)
		}
	}
}

// TestBatchThroughGraphEmulator: a batch as a task pane sends it, against the
// Graph emulator's $batch: the allowed requests run in one batch, the refused
// one and its dependent never reach Graph, each answer comes back under its
// id in the caller's order (the emulator answers in another), a photo comes
// base64, a page's @odata.nextLink leads back through this Function, and an
// inner request's credentials stay here.
func TestBatchThroughGraphEmulator(t *testing.T) {
	h := newHarness(t)
	u := newUser("Emma Batch")
	tok := addinToken(u)
	batches := graphEmu.Batches()
	resp, b := postBatch(t, h, tok, "/api/graph/v1.0/$batch", []req{
		getReq("me", "/me"),
		getReq("users", "/users"),
		{"id": "after-users", "method": "GET", "url": "/me", "dependsOn": []string{"users"}},
		getReq("photo", "/v1.0/me/photo/$value"),
		{"id": "list", "method": "GET", "url": "me/messages?$top=2", "headers": map[string]string{
			"Prefer": `outlook.body-content-type="text"`, "Cookie": "StaticWebAppsAuthCookie=abc", "Authorization": "Bearer stolen", "X-Addin-Authorization": "Bearer " + tok,
		}},
	}, nil)
	got := answers(t, resp, b, "me", "users", "after-users", "photo", "list")
	if n := graphEmu.Batches() - batches; n != 1 {
		t.Errorf("%d batches reached Graph, want 1", n)
	}
	if n := graphEmu.Count(u.ObjectID); n != 3 {
		t.Errorf("Graph ran %d requests of the user, want the 3 allowed", n)
	}

	var me struct{ ID string }
	if err := json.Unmarshal(got["me"].Body, &me); err != nil || got["me"].Status != 200 || me.ID != u.ObjectID {
		t.Errorf("/me: %d %s", got["me"].Status, got["me"].Body)
	}
	innerProblem(t, got["users"], 403, problem.GraphPathForbidden)
	innerProblem(t, got["after-users"], http.StatusFailedDependency, problem.GraphPathForbidden)

	var photo string
	if err := json.Unmarshal(got["photo"].Body, &photo); err != nil || got["photo"].Headers["Content-Type"] != "image/jpeg" {
		t.Fatalf("photo: %v %v %.80s", err, got["photo"].Headers, got["photo"].Body)
	}
	if raw, err := base64.StdEncoding.DecodeString(photo); err != nil || !bytes.Equal(raw, graph.Photo(u.ObjectID)) {
		t.Errorf("the photo is not the user's: %v", err)
	}

	var page struct {
		Value    []json.RawMessage
		NextLink string `json:"@odata.nextLink"`
	}
	if err := json.Unmarshal(got["list"].Body, &page); err != nil || len(page.Value) != 2 {
		t.Fatalf("list: %v %s", err, got["list"].Body)
	}
	if !strings.HasPrefix(page.NextLink, "/api/graph/v1.0/me/messages?") {
		t.Errorf("@odata.nextLink %q does not lead back through graph-proxy", page.NextLink)
	}
	if got["list"].Headers["Preference-Applied"] == "" {
		t.Errorf("list headers %v", got["list"].Headers)
	}
	// The emulator runs independent requests at once, as Graph does: what
	// reached Graph is checked on a batch of the list alone.
	resp, b = postBatch(t, h, tok, "/api/graph/v1.0/$batch", []req{
		{"id": "list", "method": "GET", "url": "me/messages?$top=2", "headers": map[string]string{
			"Prefer": `outlook.body-content-type="text"`, "Cookie": "StaticWebAppsAuthCookie=abc", "Authorization": "Bearer stolen", "X-Addin-Authorization": "Bearer " + tok,
		}},
	}, nil)
	if got := answers(t, resp, b, "list"); got["list"].Status != 200 {
		t.Fatalf("list alone: %d %s", got["list"].Status, got["list"].Body)
	}
	seen, _ := graphEmu.LastRequest(u.ObjectID)
	if seen.Path != "/v1.0/me/messages" || seen.RawQuery != "$top=2" {
		t.Errorf("Graph ran %s?%s", seen.Path, seen.RawQuery)
	}
	if got, want := seen.Header.Get("Authorization"), "Bearer "+h.tokens.cached(u.ObjectID); got != want {
		t.Errorf("Graph received Authorization %.30q, want the Graph token", got)
	}
	for _, name := range []string{"Cookie", "X-Addin-Authorization"} {
		if v := seen.Header.Get(name); v != "" {
			t.Errorf("Graph received %s in an inner request", name)
		}
	}
	if seen.Header.Get("Prefer") != `outlook.body-content-type="text"` {
		t.Errorf("Prefer %q", seen.Header.Get("Prefer"))
	}
}

// TestBatchGraphEmulatorFailures: what the Graph emulator scripts for a user
// applies to the requests inside a batch one by one: throttling keeps its
// status and Retry-After inside the batch; a claims challenge becomes our
// claims_challenge there and forgets the user's tokens, once. A token Graph
// refuses fails the batch as a whole: one fresh token, one retry.
func TestBatchGraphEmulatorFailures(t *testing.T) {
	cae := `{"access_token":{"nbf":{"essential":true,"value":"1602707700"}}}`
	t.Run("throttled and unavailable inside", func(t *testing.T) {
		h := newHarness(t)
		u := newUser("Thea Throttled")
		graphEmu.Script(u.ObjectID, graph.Throttled(7*time.Second), graph.Unavailable(7*time.Second), graph.Failure{Status: 504, RetryAfter: 7 * time.Second})
		resp, b := postBatch(t, h, addinToken(u), "/api/graph/v1.0/$batch", []req{getReq("t", "/me"), getReq("u", "/me/messages"), getReq("g", "/me"), getReq("ok", "/me")}, nil)
		got := answers(t, resp, b, "t", "u", "g", "ok")
		for id, status := range map[string]int{"t": 429, "u": 503, "g": 504} {
			r := got[id]
			if r.Status != status || r.Headers["Retry-After"] != "7" || !strings.Contains(string(r.Body), `"error"`) {
				t.Errorf("inner %s: %d %v %s", id, r.Status, r.Headers, r.Body)
			}
		}
		if got["ok"].Status != 200 {
			t.Errorf("inner ok: %d", got["ok"].Status)
		}
	})
	t.Run("claims challenge inside", func(t *testing.T) {
		h := newHarness(t)
		u := newUser("Cae Inner")
		graphEmu.Script(u.ObjectID, graph.ClaimsChallenge(cae), graph.ClaimsChallenge(cae))
		resp, b := postBatch(t, h, addinToken(u), "/api/graph/v1.0/$batch", []req{getReq("c1", "/me"), getReq("c2", "/me/messages"), getReq("ok", "/me")}, nil)
		got := answers(t, resp, b, "c1", "c2", "ok")
		for _, id := range []string{"c1", "c2"} {
			p := innerProblem(t, got[id], 401, problem.ClaimsChallenge)
			if p.Claims != cae || p.Action != problem.AuthChallenge {
				t.Errorf("inner %s: %+v %v", id, p, got[id].Headers)
			}
		}
		if got["ok"].Status != 200 {
			t.Errorf("inner ok: %d", got["ok"].Status)
		}
		if n := h.tokens.forgotten.Load(); n != 1 {
			t.Errorf("tokens forgotten %d times, want once", n)
		}
		if h.tokens.cached(u.ObjectID) != "" {
			t.Error("the caller's Graph token is still cached")
		}
		if !strings.Contains(h.logs.String(), `"challenged":2`) {
			t.Errorf("the log line does not count the challenges: %s", h.logs.String())
		}
	})
	t.Run("revoked token", func(t *testing.T) {
		h := newHarness(t)
		u := newUser("Rev Oked")
		h.tokens.mu.Lock()
		h.tokens.cache[u.ObjectID] = "eyJhbGciOiJub25lIn0.eyJyZXZva2VkIjp0cnVlfQ.revoked" // Graph no longer accepts it
		h.tokens.mu.Unlock()
		batches, total := graphEmu.Batches(), graphEmu.Total()
		resp, b := postBatch(t, h, addinToken(u), "/api/graph/v1.0/$batch", []req{getReq("1", "/me"), getReq("2", "/users")}, nil)
		got := answers(t, resp, b, "1", "2")
		if got["1"].Status != 200 {
			t.Errorf("inner 1: %d %s", got["1"].Status, got["1"].Body)
		}
		innerProblem(t, got["2"], 403, problem.GraphPathForbidden)
		if n := h.tokens.fresh.Load(); n != 1 {
			t.Errorf("%d fresh tokens, want 1", n)
		}
		if graphEmu.Batches()-batches != 1 || graphEmu.Total()-total != 2 {
			t.Errorf("%d batches accepted of %d sent; want 1 of 2", graphEmu.Batches()-batches, graphEmu.Total()-total)
		}
	})
}

// BenchmarkBatchVsSeparate: five allowed GETs as one batch through graph-proxy
// against the same five as separate proxied calls, one after another and all
// at once, in the same loop, with every Graph request of the user taking
// graphLatency in the emulator (a scripted graph.Failure{Delay}). ns/op is one
// set of five of each kind; the metrics split it. The emulator runs a batch's
// requests one after another, where Graph runs independent ones in parallel,
// so against the emulator a batch saves round trips and per-call work only.
func BenchmarkBatchVsSeparate(b *testing.B) {
	const graphLatency = 20 * time.Millisecond
	h := newHarness(b, func(s *setup) { s.discardLogs = true })
	u := newUser("Bench Batch")
	tok := addinToken(u)
	graphEmu.Script(u.ObjectID, graph.Failure{Delay: graphLatency, Times: 1 << 30})
	paths := []string{"/me", "/me/messages?$top=3", "/me/messages/" + graph.MessageID(u.ObjectID, 0), "/me/photo/$value", "/me/messages?$top=1&$skip=4"}
	var reqs []req
	for i, p := range paths {
		reqs = append(reqs, getReq(strconv.Itoa(i+1), p))
	}
	batchBody, _ := json.Marshal(map[string]any{"requests": reqs})

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	do := func(method, path string, body []byte) {
		req, _ := http.NewRequest(method, h.server.URL+path, bytes.NewReader(body))
		req.Header.Set(function.AddinAuthorization, "Bearer "+tok)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, out)
		}
		if body != nil && bytes.Count(out, []byte(`"status":200`)) != len(paths) {
			b.Fatalf("batch: %s", out)
		}
	}
	batch := func() time.Duration {
		start := time.Now()
		do("POST", "/api/graph/v1.0/$batch", batchBody)
		return time.Since(start)
	}
	separate := func() time.Duration {
		start := time.Now()
		for _, p := range paths {
			do("GET", "/api/graph/v1.0"+p, nil)
		}
		return time.Since(start)
	}
	concurrent := func() time.Duration {
		start := time.Now()
		var wg sync.WaitGroup
		for _, p := range paths {
			wg.Go(func() { do("GET", "/api/graph/v1.0"+p, nil) })
		}
		wg.Wait()
		return time.Since(start)
	}
	batch() // warm: the verified-token memo and the Graph token

	var batchTimes, separateTimes, concurrentTimes []time.Duration
	for i := 0; b.Loop(); i++ {
		// Rotate the order so each kind sees the same machine load.
		kinds := []func(){
			func() { batchTimes = append(batchTimes, batch()) },
			func() { separateTimes = append(separateTimes, separate()) },
			func() { concurrentTimes = append(concurrentTimes, concurrent()) },
		}
		for j := range kinds {
			kinds[(i+j)%len(kinds)]()
		}
	}
	ms := func(ds []time.Duration) float64 { return median(ds) / float64(time.Millisecond) }
	b.ReportMetric(ms(batchTimes), "batch-ms/set")
	b.ReportMetric(ms(separateTimes), "separate-ms/set")
	b.ReportMetric(ms(concurrentTimes), "concurrent-ms/set")
	b.ReportMetric(median(batchTimes)/median(separateTimes), "batch/separate")
	b.ReportMetric(graphLatency.Seconds()*1000, "graph-latency-ms")
}
