package graph

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// JSON batching follows "Combine multiple HTTP requests using JSON batching"
// (json-batching) and the batching entries of "Known issues":
//
//   - POST /v1.0/$batch or /beta/$batch; "A JSON batch request body consists of
//     a single JSON object with one required property: requests."
//   - id: "Required. String. [...] Not case-sensitive. Must be unique in the
//     batch, otherwise, the batch request fails with a 400 error code."
//   - url: "The relative resource URL for the individual request. Therefore,
//     while the absolute URL is https://graph.microsoft.com/v1.0/users, this
//     url is /users." The doc's own example also has "users?$select=...",
//     without the slash. Known issues: "URIs must be relative."
//   - headers: "Optional but required when the body is specified." body:
//     "Might be a JSON object or a base64 URL-encoded value, for example, when
//     the body is an image. When a body is included with the request, the
//     headers object must contain a value for Content-Type." Graph answers a
//     write without one 400 "Write request id : 1 does not contain
//     Content-Type header or body." for the whole batch, and the doc says of a
//     write whose target needs no body that "you must still specify the
//     headers and body parameters where only body can be an empty object."
//   - "JSON batch requests are currently limited to 20 individual requests."
//   - dependsOn: "If an individual request fails, any request that depends on
//     that request fails with status code 424 (Failed Dependency)." Known
//     issues: "requests can only depend on a single other request, and must
//     follow one of these three patterns: Parallel [...] Serial [...] Same";
//     the doc: "Batch should be either fully sequential or fully parallel."
//   - The answer: "If the batch request itself is malformed, the status code
//     is 400. If the batch request is parseable, the status code is 200."
//     "Individual responses might appear in a different order than the
//     requests": the emulator always answers in an order other than the
//     requests' (the reverse of the order it ran them in), so a caller that
//     pairs answers by position fails here, not in production. Each response
//     has id, status, headers ("the headers returned by the server, for
//     example, Cache-Control and Content-Type") and body: JSON as JSON, any
//     other content base64-encoded in a string, as Graph sends photos.
//   - Throttling ("Throttling and batching"): "Requests in a batch are
//     evaluated individually against throttling limits and if any request
//     exceeds the limits, it fails with a status of 429 [...] You should retry
//     each failed request from the batch using the value provided in the
//     retry-after response header from the JSON content." That page's "The
//     batch itself fails with a status code of 424" contradicts the batching
//     page and Graph's behaviour (microsoft-graph-docs-contrib#8883): the batch
//     is 200.
//
// Each inner request is served by the same handlers as a request sent alone,
// with the batch's Authorization (an Authorization among its own headers is
// replaced), and counts as one request of the user. The emulator runs the
// requests whose dependency has run at once, as Graph runs independent
// requests in parallel; each takes the user's next scripted failure in the
// order given, so a scripted 429 is that request's
// status with Retry-After in its headers, and a claims challenge (to a
// CAE-capable token only, cae.go) is its 401 with WWW-Authenticate in its
// headers. A token revoked by RevokeSessions is refused for the whole batch,
// as the batch carries it. A scripted Cut inside a batch drops the
// batch's connection.

// MaxBatchRequests is how many requests one JSON batch may hold.
const MaxBatchRequests = 20

// maxBatchBody bounds the batch request's body.
const maxBatchBody = 4 << 20

type batchRequest struct {
	ID        string            `json:"id"`
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers"`
	Body      json.RawMessage   `json:"body"`
	DependsOn []string          `json:"dependsOn"`

	header  http.Header
	body    []byte
	hasBody bool
}

type batchResponse struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body,omitempty"`
}

// batchPath reports whether r is a JSON batch, and for which version.
func batchPath(r *http.Request) (string, bool) {
	if r.Method != http.MethodPost {
		return "", false
	}
	for _, v := range versions {
		if r.URL.Path == "/"+v+"/$batch" {
			return v, true
		}
	}
	return "", false
}

// batch serves POST /{version}/$batch for c.user.
func (c *call) batch(w http.ResponseWriter, r *http.Request, version string) {
	bad := func(msg string) { c.error(w, http.StatusBadRequest, "BadRequest", msg) }
	const unreadable = "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format."
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		bad(unreadable)
		return
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxBatchBody+1))
	if err != nil {
		bad(unreadable)
		return
	}
	if len(raw) > maxBatchBody {
		c.error(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "The batch request is too large.")
		return
	}
	var payload struct {
		Requests []batchRequest `json:"requests"`
	}
	if json.Unmarshal(raw, &payload) != nil {
		bad(unreadable)
		return
	}
	reqs := payload.Requests
	switch {
	case len(reqs) == 0:
		bad("Invalid batch payload format: 'requests' must hold at least one request.")
		return
	case len(reqs) > MaxBatchRequests:
		bad("Number of requests inside batch exceeds the limit.")
		return
	}
	if msg := validateBatch(reqs); msg != "" {
		bad(msg)
		return
	}

	// Run in waves, as Graph runs the requests that do not depend on each
	// other in parallel: each wave is every request whose dependency has run.
	// The wave's scripted failures are taken in the order given, so a script
	// still meets the request it was written for; then the wave runs at once.
	// validateBatch ruled out cycles.
	statuses := make(map[string]int, len(reqs)) // by lower-cased id
	ran := func(id string) bool { _, ok := statuses[strings.ToLower(id)]; return ok }
	failed := func(id string) bool { return statuses[strings.ToLower(id)] >= 400 }
	var out []batchResponse
	for len(out) < len(reqs) {
		if r.Context().Err() != nil {
			return
		}
		var wave []*inner
		for i := range reqs {
			q := &reqs[i]
			if ran(q.ID) || !all(q.DependsOn, ran) || slices.ContainsFunc(wave, func(in *inner) bool { return in.q == q }) {
				continue
			}
			in := &inner{q: q}
			if slices.ContainsFunc(q.DependsOn, failed) {
				in.resp = c.failedDependency(q.ID)
			} else {
				c.prepareInner(r, version, in)
			}
			wave = append(wave, in)
		}
		if len(wave) == 0 {
			break
		}
		var wg sync.WaitGroup
		for _, in := range wave {
			if in.req == nil {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.server.serveScripted(in.call, in.rec, in.req, in.failure, in.scripted)
				in.resp = responseOf(in.q.ID, in.rec)
			}()
		}
		wg.Wait()
		for _, in := range wave {
			statuses[strings.ToLower(in.q.ID)] = in.resp.Status
			out = append(out, in.resp)
		}
	}
	slices.Reverse(out)
	writeJSON(w, http.StatusOK, map[string][]batchResponse{"responses": out})
}

// validateBatch checks what makes the whole batch malformed, and decodes the
// requests' headers and bodies. It returns the error message (Graph's own
// where one is known), or "".
func validateBatch(reqs []batchRequest) string {
	ids := make(map[string]bool, len(reqs))
	for i := range reqs {
		q := &reqs[i]
		if q.ID == "" {
			return "Invalid batch payload format: every request needs an 'id'."
		}
		if ids[strings.ToLower(q.ID)] {
			return "Request Id " + q.ID + " has to be unique in a batch."
		}
		ids[strings.ToLower(q.ID)] = true
		q.Method = strings.ToUpper(q.Method)
		switch q.Method {
		case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		default:
			return fmt.Sprintf("Invalid method '%s' in request id : %s.", q.Method, q.ID)
		}
		if q.URL == "" {
			return "Invalid batch payload format: request id : " + q.ID + " has no 'url'."
		}
		if u, err := url.Parse(strings.ReplaceAll(q.URL, " ", "%20")); err != nil || u.IsAbs() || u.Host != "" || strings.HasPrefix(q.URL, "//") {
			return "Invalid request URL in request id : " + q.ID + ": it must be relative to the version, such as /me."
		}
		q.header = make(http.Header, len(q.Headers))
		for k, v := range q.Headers {
			q.header.Set(k, v)
		}
		q.hasBody = len(q.Body) > 0 && string(q.Body) != "null"
		write := q.Method == http.MethodPost || q.Method == http.MethodPut || q.Method == http.MethodPatch
		if (write && !q.hasBody) || (q.hasBody && q.header.Get("Content-Type") == "") {
			return "Write request id : " + q.ID + " does not contain Content-Type header or body."
		}
		if q.hasBody && !write {
			// OData JSON Format 4.01, 19.1: "A body MUST NOT be specified if the
			// method is get or delete."
			return "Request id : " + q.ID + " has a body, which a " + q.Method + " must not have."
		}
		if q.hasBody {
			b, ok := decodeBody(q.header.Get("Content-Type"), q.Body)
			if !ok {
				return "Request id : " + q.ID + " has a body that is not valid for its Content-Type: JSON for JSON, otherwise a base64 string."
			}
			q.body = b
		}
	}
	// Dependencies: each names one request of the batch, not itself, and the
	// batch is parallel, serial or "same".
	var deps []string
	serial := true
	for i, q := range reqs {
		if len(q.DependsOn) > 1 {
			return "Request id : " + q.ID + " depends on more than one request; requests can only depend on a single other request."
		}
		if len(q.DependsOn) == 1 {
			d := q.DependsOn[0]
			if !ids[strings.ToLower(d)] {
				return "Request id : " + q.ID + " depends on id " + d + ", which is not in the batch."
			}
			if strings.EqualFold(d, q.ID) {
				return "Request id : " + q.ID + " depends on itself."
			}
			deps = append(deps, strings.ToLower(d))
		}
		if want := i > 0; want != (len(q.DependsOn) == 1) || (want && !strings.EqualFold(q.DependsOn[0], reqs[i-1].ID)) {
			serial = false
		}
	}
	if len(deps) > 0 && !serial && slices.ContainsFunc(deps, func(d string) bool { return d != deps[0] }) {
		return "Invalid dependsOn: a batch must be parallel, serial (each request depends on the one before), or depend on one same request."
	}
	return ""
}

// decodeBody turns a batch request's body into the bytes it stands for.
func decodeBody(contentType string, body json.RawMessage) ([]byte, bool) {
	if isJSON(contentType) {
		var v any
		if json.Unmarshal(body, &v) != nil {
			return nil, false
		}
		b, _ := json.Marshal(v)
		return b, true
	}
	var s string
	if json.Unmarshal(body, &s) != nil {
		return nil, false
	}
	s = strings.TrimRight(s, "=")
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.RawStdEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, true
		}
	}
	return nil, false
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// failedDependency is the answer to a request whose dependency failed.
func (c *call) failedDependency(id string) batchResponse {
	rec := newRecorder()
	inner := c.server.newCall(c.crid)
	inner.error(rec, http.StatusFailedDependency, "FailedDependency", "The request was not run: a request it depends on failed.")
	return responseOf(id, rec)
}

// runInner serves one request of the batch as if it came alone, with the
// batch's token and client-request-id unless it names its own.
// inner is one request of a batch on its way: prepared (req set, its
// scripted failure taken) or answered already (resp set).
type inner struct {
	q        *batchRequest
	call     *call
	rec      *recorder
	req      *http.Request
	failure  Failure
	scripted bool
	resp     batchResponse
}

// prepareInner builds in's request as a server would see it, or its answer
// when the request is malformed, and takes its scripted failure.
func (c *call) prepareInner(outer *http.Request, version string, in *inner) {
	q := in.q
	target := "/" + version + "/" + strings.TrimPrefix(strings.ReplaceAll(q.URL, " ", "%20"), "/")
	u, err := url.Parse(target)
	in.call = c.server.newCall(q.header.Get("client-request-id"))
	if in.call.crid == in.call.reqID {
		in.call.crid = c.crid
	}
	in.call.user = c.user
	in.rec = newRecorder()
	if err != nil || u.Path != cleanPath(u.Path) {
		in.call.error(in.rec, http.StatusBadRequest, "BadRequest", "Invalid request URL.")
		in.resp = responseOf(q.ID, in.rec)
		return
	}
	if _, isBatch := batchPath(&http.Request{Method: http.MethodPost, URL: u}); isBatch {
		in.call.error(in.rec, http.StatusBadRequest, "BadRequest", "A batch request cannot hold another batch.")
		in.resp = responseOf(q.ID, in.rec)
		return
	}
	req, err := http.NewRequestWithContext(outer.Context(), q.Method, c.server.URL+u.RequestURI(), bytes.NewReader(q.body))
	if err != nil {
		in.call.error(in.rec, http.StatusBadRequest, "BadRequest", "Invalid request URL.")
		in.resp = responseOf(q.ID, in.rec)
		return
	}
	req.URL = &url.URL{Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery} // as a server sees it
	req.RequestURI = u.RequestURI()
	req.Host, req.RemoteAddr, req.TLS, req.Proto = outer.Host, outer.RemoteAddr, outer.TLS, outer.Proto
	req.Header = q.header.Clone()
	req.Header.Set("Authorization", outer.Header.Get("Authorization")) // the batch's, whatever the request says
	in.req = req
	in.failure, in.scripted = c.server.next(c.user.oid)
}

func all(xs []string, f func(string) bool) bool {
	return !slices.ContainsFunc(xs, func(x string) bool { return !f(x) })
}

// cleanPath is p, or "" when p has an empty, "." or ".." segment.
func cleanPath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs[1:] {
		if (s == "" && i < len(segs)-2) || s == "." || s == ".." {
			return ""
		}
	}
	return p
}

// graphHeaderNames spells headers as Graph does where Go's canonical form
// differs.
var graphHeaderNames = map[string]string{"Odata-Version": "OData-Version", "Www-Authenticate": "WWW-Authenticate", "Etag": "ETag"}

// recorder keeps what a handler writes for one request of a batch.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newRecorder() *recorder { return &recorder{header: make(http.Header)} }

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
		r.header = r.header.Clone() // as sent: later changes do not count
	}
}

func (r *recorder) Write(p []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(p)
}

func (r *recorder) Flush() {}

// responseOf turns what a handler wrote into a batch response.
func responseOf(id string, rec *recorder) batchResponse {
	rec.WriteHeader(http.StatusOK)
	out := batchResponse{ID: id, Status: rec.status, Headers: make(map[string]string)}
	for k, vs := range rec.header {
		if k == "Content-Length" {
			continue
		}
		if n, ok := graphHeaderNames[k]; ok {
			k = n
		}
		out.Headers[k] = strings.Join(vs, ", ")
	}
	body := rec.body.Bytes()
	switch {
	case len(body) == 0:
	case isJSON(rec.header.Get("Content-Type")) && json.Valid(body):
		out.Body = json.RawMessage(body)
	default:
		out.Body, _ = json.Marshal(base64.StdEncoding.EncodeToString(body))
	}
	return out
}
