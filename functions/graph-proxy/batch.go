package graphproxy

// JSON batching: POST /api/graph/v1.0/$batch (and beta) carries up to 20 Graph
// requests in one round trip. Graph runs whatever a batch lists, so a batch is
// never forwarded as sent: each inner request is checked exactly like a direct
// call (method, path and query against GRAPH_ALLOWED_ROUTES, the same header
// filter, a bounded body), and Graph receives one batch re-encoded from the
// checked fields of the allowed requests only. A refused request is answered
// inside the batch with our problem, and never reaches Graph; a request that
// depends on a refused one is answered 424 Failed Dependency, as Graph does.
// The endpoint needs no GRAPH_ALLOWED_ROUTES entry (config refuses one): it
// allows exactly the union of the routes.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/addinsso/addinsso/handler/entra"
	"github.com/addinsso/addinsso/handler/graphroute"
	"github.com/addinsso/addinsso/handler/graphtoken"
	"github.com/addinsso/addinsso/handler/problem"
	"github.com/addinsso/addinsso/handler/web"
)

const (
	// MaxBatchRequests is Graph's limit on the requests in one JSON batch.
	MaxBatchRequests = 20
	// maxInnerBodyBytes bounds one inner request's body as the batch carries
	// it (base64 included); larger bodies go as direct calls, which stream.
	// The whole batch is bounded by MaxBodyBytes.
	maxInnerBodyBytes = 1 << 20
	// maxBatchIDBytes bounds an inner request's id; SDKs send "1" or a GUID.
	maxBatchIDBytes = 128
	// maxBatchAnswerBytes bounds Graph's answer to a batch, which is held in
	// memory to be merged; large reads stream as direct calls instead.
	maxBatchAnswerBytes = 16 << 20
)

// batchRequests is a JSON batch as Graph documents it. Members Graph does not
// document are ignored: the batch Graph receives is encoded again from these
// checked fields alone, so nothing unchecked, and no second reading of a
// duplicated member, reaches it.
type batchRequests struct {
	Requests []batchRequest `json:"requests"`
}

// batchRequest is one request of a batch. Body is a JSON value for a JSON
// Content-Type, else a base64 string.
type batchRequest struct {
	ID        string            `json:"id"`
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers,omitempty"`
	Body      json.RawMessage   `json:"body,omitempty"`
	DependsOn []string          `json:"dependsOn,omitempty"`
}

// batchResponses is Graph's answer to a batch, and ours.
type batchResponses struct {
	Responses []batchResponse `json:"responses"`
}

type batchResponse struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    json.RawMessage   `json:"body,omitempty"`
}

// inner is one request of the caller's batch, checked.
type inner struct {
	in      batchRequest
	out     *batchRequest // what Graph receives; nil when refused
	route   *graphroute.Route
	target  *url.URL       // its URL on Graph, which a Location is resolved against
	refusal *problem.Error // why it was refused, answered inside the batch
}

// batchVersion reports whether r is POST <prefix>v1.0/$batch or beta/$batch,
// and which version; serve hands such a request to serveBatch before the
// allow-list, which can never name $batch.
func (p *Proxy) batchVersion(r *http.Request) (string, bool) {
	if r.Method != http.MethodPost {
		return "", false
	}
	switch strings.TrimPrefix(r.URL.EscapedPath(), p.prefix) {
	case "v1.0/$batch":
		return "v1.0", true
	case "beta/$batch":
		return "beta", true
	}
	return "", false
}

// serveBatch checks the batch's shape, then the caller, then each inner
// request; sends the allowed ones to Graph in one batch; and answers Graph's
// responses merged with the refusals, in the caller's order.
func (p *Proxy) serveBatch(c echo.Context, version string) error {
	r := c.Request()
	if r.URL.RawQuery != "" {
		return problem.New(problem.BadRequest, "The $batch endpoint takes no query string; each inner request carries its own.")
	}
	if r.ContentLength > MaxBodyBytes {
		return tooLarge()
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		return problem.New(problem.UnsupportedMediaType, `Send the batch as application/json: {"requests": [{"id", "method", "url", ...}]}.`)
	}
	crid := r.Header.Get("client-request-id")
	if !entra.IsGUID(crid) {
		crid = entra.NewGUID()
	}

	id, raw, err := p.s.Authenticate(r)
	if err != nil {
		return err
	}
	reqs, err := readBatch(r)
	if err != nil {
		return err
	}
	items := make([]inner, len(reqs))
	sent := make([]batchRequest, 0, len(reqs))
	for i, q := range reqs {
		items[i] = p.checkInner(version, q)
	}
	failDependents(items)
	refused := 0
	for _, it := range items {
		if it.out == nil {
			refused++
		} else {
			sent = append(sent, *it.out)
		}
	}

	c.Response().Header().Set("client-request-id", crid)
	b := &batch{c: c, version: version, items: items, refused: refused, crid: crid}
	if len(sent) == 0 {
		// Nothing to send: no token work, no call to Graph.
		out := p.mergeBatch(b, nil)
		p.logBatch(b, nil, nil, 0)
		return writeBatch(b, out)
	}

	ctx := r.Context()
	caller := graphtoken.Request{Identity: id, Assertion: raw}
	grant, err := p.s.Tokens.Get(ctx, caller)
	if err != nil {
		return err
	}
	var payload bytes.Buffer
	if err := encodeJSON(&payload, batchRequests{Requests: sent}); err != nil {
		return err
	}
	if p.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.timeout)
		defer cancel()
	}
	u := *p.base
	u.Path += "/" + version + "/$batch"
	b.x = &exchange{
		c: c, ctx: ctx,
		route:  &graphroute.Route{Method: http.MethodPost, Path: "/" + version + "/$batch"},
		target: u.String(),
		header: http.Header{
			"Content-Type":      {"application/json"},
			"Accept":            {"application/json"},
			"Client-Request-Id": {crid},
			"Accept-Encoding":   {"identity"},
		},
		body:       &body{kept: payload.Bytes(), length: int64(payload.Len())},
		caller:     caller,
		graphToken: grant.AccessToken,
		crid:       crid,
	}
	// call refreshes a refused token once and retries; answers a batch-level
	// claims challenge, throttling or outage as a direct call's; and passes
	// any other answer on.
	start := time.Now()
	resp, err := p.call(b.x)
	var answer []byte
	if err == nil {
		answer, err = p.readAnswer(b.x, resp)
	}
	d := time.Since(start)
	if err != nil {
		p.logBatch(b, resp, err, d)
		return err
	}
	if resp.StatusCode != http.StatusOK {
		p.logBatch(b, resp, nil, d)
		return passBatch(b, resp, answer)
	}
	var graph batchResponses
	if err := json.Unmarshal(answer, &graph); err != nil {
		e := problem.New(problem.UpstreamUnavailable, "Microsoft Graph's answer to the batch could not be read.").
			WithRetryAfter(defaultRetryAfter).WithCause(err)
		p.logBatch(b, resp, e, d)
		return e
	}
	out := p.mergeBatch(b, graph.Responses)
	p.logBatch(b, resp, nil, d)
	b.x.relayIDs(resp)
	return writeBatch(b, out)
}

// batch is one batch on its way.
type batch struct {
	c          echo.Context
	version    string
	items      []inner
	refused    int
	challenged int
	crid       string
	x          *exchange // the call to Graph; nil when nothing was sent
}

// readBatch reads and decodes the body, bounded, and checks what makes the
// whole batch malformed: Graph refuses such a batch as a whole too.
func readBatch(r *http.Request) ([]batchRequest, error) {
	b, err := web.ReadBody(r, MaxBodyBytes)
	if err != nil {
		return nil, err
	}
	var in batchRequests
	if err := web.DecodeJSON(b, &in, false, `a JSON batch, {"requests": [{"id", "method", "url", "headers", "body", "dependsOn"}]}`); err != nil {
		return nil, err
	}
	switch n := len(in.Requests); {
	case n == 0:
		return nil, problem.New(problem.BadRequest, "The batch holds no requests.")
	case n > MaxBatchRequests:
		return nil, problem.New(problem.BadRequest, "The batch holds %d requests; Microsoft Graph takes at most %d in one batch, so none was sent.", n, MaxBatchRequests)
	}
	ids := make(map[string]int, len(in.Requests))
	for i, q := range in.Requests {
		switch {
		case q.ID == "":
			return nil, problem.New(problem.BadRequest, "Request %d of the batch has no id.", i+1)
		case len(q.ID) > maxBatchIDBytes || strings.ContainsFunc(q.ID, isControl):
			return nil, problem.New(problem.BadRequest, "Request %d of the batch has an id longer than %d bytes or with control characters.", i+1, maxBatchIDBytes)
		}
		key := strings.ToLower(q.ID)
		if _, dup := ids[key]; dup {
			return nil, problem.New(problem.BadRequest, "The id %q is used twice in the batch; ids are unique, whatever their case.", q.ID)
		}
		ids[key] = i
	}
	for _, q := range in.Requests {
		for _, d := range q.DependsOn {
			if _, ok := ids[strings.ToLower(d)]; !ok {
				return nil, problem.New(problem.BadRequest, "Request %q depends on %.*q, which is not in the batch.", q.ID, maxBatchIDBytes, d)
			}
		}
	}
	if id, ok := cycle(in.Requests, ids); ok {
		return nil, problem.New(problem.BadRequest, "The dependsOn members of the batch form a cycle through request %q.", id)
	}
	return in.Requests, nil
}

// cycle finds a request on a dependsOn cycle (a request depending on itself
// included).
func cycle(reqs []batchRequest, ids map[string]int) (string, bool) {
	const (
		unseen = iota
		visiting
		done
	)
	state := make([]int, len(reqs))
	on := -1 // a request found on a cycle
	var visit func(i int) bool
	visit = func(i int) bool {
		switch state[i] {
		case visiting:
			on = i
			return true
		case done:
			return false
		}
		state[i] = visiting
		for _, d := range reqs[i].DependsOn {
			if visit(ids[strings.ToLower(d)]) {
				return true
			}
		}
		state[i] = done
		return false
	}
	for i := range reqs {
		if state[i] == unseen && visit(i) {
			return reqs[on].ID, true
		}
	}
	return "", false
}

// checkInner checks one inner request as serve checks a direct call, and
// builds what Graph receives from the checked parts only.
func (p *Proxy) checkInner(version string, q batchRequest) inner {
	it := inner{in: q}
	refuse := func(e *problem.Error) inner { it.refusal = e; return it }

	method := strings.ToUpper(q.Method)
	if method == "" || len(method) > 16 || strings.ContainsFunc(method, func(r rune) bool { return r < 'A' || r > 'Z' }) {
		return refuse(problem.New(problem.BadRequest, "The inner request has no method, or one that is not an HTTP method."))
	}
	path, query, e := p.innerTarget(version, q.URL)
	if e != nil {
		return refuse(e)
	}
	segs, err := graphroute.Split(path)
	if err != nil {
		return refuse(forbidden("This Graph request is refused: %v.", err))
	}
	if err := graphroute.Query(query); err != nil {
		return refuse(forbidden("This Graph request is refused: %v.", err))
	}
	if slices.ContainsFunc(segs, func(s string) bool { return strings.EqualFold(s, "$batch") }) {
		return refuse(forbidden("A batch cannot hold another $batch request."))
	}
	if len(segs) > 1 && graphroute.IsVersion(segs[1]) {
		return refuse(forbidden("The inner url names the API version twice; write /me or /%s/me.", version))
	}
	rt := graphroute.Match(p.routes, method, segs)
	if rt == nil {
		return refuse(forbidden("The request %s /%s is not in GRAPH_ALLOWED_ROUTES.", method, strings.Join(segs, "/")))
	}

	in := make(http.Header, len(q.Headers))
	for name, v := range q.Headers {
		in.Add(name, v)
	}
	header, _, err := outboundHeader(in)
	if err != nil {
		var pe *problem.Error
		if errors.As(err, &pe) {
			return refuse(pe)
		}
		return refuse(problem.New(problem.BadRequest, "The inner request's headers are malformed."))
	}
	for name, vs := range header {
		if len(vs) > 1 { // "Accept" and "accept": an inner request's headers hold one value each
			return refuse(problem.New(problem.BadRequest, "The inner request names the %s header twice.", name))
		}
	}
	// The batch's own request carries these; an inner request keeps only a
	// client-request-id its caller chose.
	header.Del("Accept-Encoding")
	if header.Get("Client-Request-Id") != in.Get("Client-Request-Id") {
		header.Del("Client-Request-Id")
	}

	var payload json.RawMessage
	if len(q.Body) > 0 && string(q.Body) != "null" {
		if len(q.Body) > maxInnerBodyBytes {
			return refuse(problem.New(problem.RequestTooLarge, "The inner request's body is larger than %d bytes; send it on its own, outside the batch.", maxInnerBodyBytes))
		}
		mt, _, err := mime.ParseMediaType(header.Get("Content-Type"))
		switch {
		case header.Get("Content-Type") == "":
			return refuse(problem.New(problem.BadRequest, "An inner request with a body needs a Content-Type header, as Microsoft Graph requires."))
		case err != nil:
			return refuse(problem.New(problem.BadRequest, "The inner request's Content-Type header is malformed."))
		case !isJSON(mt) && q.Body[0] != '"':
			return refuse(problem.New(problem.BadRequest, "An inner request whose Content-Type is not JSON carries its body as a base64 string, as Microsoft Graph requires."))
		}
		payload = q.Body
	}

	out := &batchRequest{ID: q.ID, Method: method, URL: "/" + strings.Join(segs[1:], "/"), Body: payload, DependsOn: q.DependsOn}
	if query != "" {
		out.URL += "?" + query
	}
	if len(header) > 0 {
		out.Headers = make(map[string]string, len(header))
		for name, vs := range header {
			out.Headers[name] = vs[0]
		}
	}
	target := *p.base
	target.Path += "/" + strings.Join(segs, "/")
	target.RawQuery = query
	it.out, it.route, it.target = out, rt, &target
	return it
}

// innerTarget turns an inner url into the still-encoded path and query a
// direct call to the same resource has after the Function's prefix
// (v1.0/me/messages, $top=5). Graph reads inner urls relative to the batch's
// version: /me and me are v1.0/me in a v1.0 batch. Graph's SDKs also write the
// version (/v1.0/me: the JavaScript SDK strips only the scheme and host of a
// request URL, which makes /api/graph/v1.0/me of one aimed at this Function).
// An absolute URL, or another version than the batch's, is refused.
func (p *Proxy) innerTarget(version, raw string) (string, string, *problem.Error) {
	if raw == "" {
		return "", "", problem.New(problem.BadRequest, "The inner request has no url.")
	}
	if strings.HasPrefix(raw, "//") || strings.Contains(raw, "://") {
		return "", "", forbidden("An inner url is relative to the batch's version, e.g. /me; an absolute URL is refused.")
	}
	path, query, _ := strings.Cut(raw, "?")
	path = strings.TrimPrefix(path, "/")
	if rest, ok := strings.CutPrefix(path, strings.TrimPrefix(p.prefix, "/")); ok {
		path = rest // this Function's own path: a direct call's, version included
	} else if first, _, _ := strings.Cut(path, "/"); !graphroute.IsVersion(first) {
		path = version + "/" + path
	}
	if first, _, _ := strings.Cut(path, "/"); first != version {
		return "", "", forbidden("The inner url is not under /%s, the batch's version; send a request for another version in a batch of its own.", version)
	}
	return path, encodeQuery(query), nil
}

// encodeQuery percent-encodes what a browser encodes in a query and a JSON
// string may hold raw (Graph's own examples write $filter=city eq null):
// spaces and non-ASCII bytes. Everything else is left for graphroute.Query.
func encodeQuery(q string) string {
	if !strings.ContainsFunc(q, func(r rune) bool { return r == ' ' || r >= 0x80 }) {
		return q
	}
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(q); i++ {
		if c := q[i]; c == ' ' || c >= 0x80 {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0xf])
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

func isJSON(mediaType string) bool {
	return mediaType == "application/json" || strings.HasSuffix(mediaType, "+json")
}

// failDependents refuses, with 424 Failed Dependency, every allowed request
// that depends (directly or through others) on a refused one: Graph never
// sees the request it waits for. readBatch has ruled out cycles.
func failDependents(items []inner) {
	ids := make(map[string]int, len(items))
	for i, it := range items {
		ids[strings.ToLower(it.in.ID)] = i
	}
	checked := make([]bool, len(items))
	var check func(i int) *problem.Error
	check = func(i int) *problem.Error {
		it := &items[i]
		if checked[i] {
			return it.refusal
		}
		checked[i] = true
		if it.refusal != nil {
			return it.refusal
		}
		for _, d := range it.in.DependsOn {
			j := ids[strings.ToLower(d)]
			if e := check(j); e != nil {
				it.refusal = problem.New(e.Code, "This request depends on request %q, which was refused, so neither reached Microsoft Graph.", items[j].in.ID).
					WithStatus(http.StatusFailedDependency)
				it.out = nil
				return it.refusal
			}
		}
		return nil
	}
	for i := range items {
		check(i)
	}
}

// readAnswer reads Graph's answer to the batch, bounded, and closes it.
func (p *Proxy) readAnswer(x *exchange, resp *http.Response) ([]byte, error) {
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBatchAnswerBytes+1))
	if err != nil {
		return nil, p.sendError(x, err)
	}
	if len(b) > maxBatchAnswerBytes {
		return nil, problem.New(problem.BadRequest, "Microsoft Graph's answers to this batch are larger than %d bytes together: Graph ran its requests, but the answers cannot be passed on; send large reads on their own, where answers stream.", maxBatchAnswerBytes)
	}
	return b, nil
}

// passBatch relays a batch-level answer other than 200 (Graph refusing the
// batch as a whole) as a direct call's: its status, the relayed headers, its body.
func passBatch(b *batch, resp *http.Response, body []byte) error {
	w := b.c.Response()
	h := w.Header()
	for _, name := range relayed {
		if vs := resp.Header[name]; len(vs) > 0 {
			h[name] = vs
		}
	}
	if len(body) > 0 && h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/octet-stream")
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	noStore(h)
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(body)
	return nil
}

// mergeBatch is the answer: Graph's response for each allowed request, our
// problem for each refused or challenged one, in the caller's order.
func (p *Proxy) mergeBatch(b *batch, graph []batchResponse) batchResponses {
	byID := make(map[string]*batchResponse, len(graph))
	for i := range graph {
		key := strings.ToLower(graph[i].ID)
		if _, dup := byID[key]; !dup {
			byID[key] = &graph[i]
		}
	}
	correlationID := web.CorrelationID(b.c)
	out := batchResponses{Responses: make([]batchResponse, len(b.items))}
	forgotten := false
	for i, it := range b.items {
		switch r := byID[strings.ToLower(it.in.ID)]; {
		case it.refusal != nil:
			out.Responses[i] = problemResponse(it, it.refusal, correlationID, nil)
		case r == nil:
			out.Responses[i] = problemResponse(it, problem.New(problem.UpstreamUnavailable, "Microsoft Graph's answer to the batch has no response for this request.").
				WithRetryAfter(defaultRetryAfter), correlationID, nil)
		default:
			in := make(http.Header, len(r.Headers))
			for name, v := range r.Headers {
				in.Add(name, v)
			}
			if claims, ok := claimsChallenge(in); ok && (r.Status == http.StatusUnauthorized || r.Status == http.StatusForbidden) {
				// Continuous access evaluation concerns the user, not this
				// request: the cached tokens go, and the task pane gets the
				// claims to answer, as for a direct call.
				b.challenged++
				if !forgotten {
					forgotten = true
					if err := p.s.Tokens.Forget(b.x.ctx, b.x.caller.Identity); err != nil {
						web.Logger(b.c).Warn("graph claims challenge in a batch: the user's cached Graph tokens could not all be removed", "cause", err.Error())
					}
				}
				e := problem.New(problem.ClaimsChallenge, "Microsoft Graph asks for more claims (continuous access evaluation or Conditional Access); get a token again with these claims and retry.").
					WithClaims(claims)
				out.Responses[i] = problemResponse(it, e, correlationID, in)
				continue
			}
			out.Responses[i] = p.innerAnswer(it, r, in)
		}
	}
	return out
}

// writeBatch answers 200 with the merged responses.
func writeBatch(b *batch, out batchResponses) error {
	w := b.c.Response()
	h := w.Header()
	h.Set("Content-Type", "application/json")
	noStore(h)
	w.WriteHeader(http.StatusOK)
	return encodeJSON(w, out)
}

// innerAnswer passes one of Graph's inner responses on: its id as the caller
// spelled it, its status (429, 503 and 504 with their Retry-After: Graph's
// SDKs retry inner requests themselves), the headers a client needs, and its
// body.
func (p *Proxy) innerAnswer(it inner, r *batchResponse, in http.Header) batchResponse {
	out := batchResponse{ID: it.in.ID, Status: r.Status, Body: r.Body}
	for name, v := range r.Headers {
		if slices.Contains(relayed, textproto.CanonicalMIMEHeaderKey(name)) {
			if out.Headers == nil {
				out.Headers = make(map[string]string, len(relayed))
			}
			out.Headers[name] = v // as Graph spells it: the JavaScript SDK reads "Content-Type" so
		}
	}
	if loc := in.Get("Location"); loc != "" {
		if rewritten, ok := p.location(it.target, loc); ok {
			if out.Headers == nil {
				out.Headers = map[string]string{}
			}
			out.Headers["Location"] = rewritten
		}
	}
	// Paging links lead back through this Function, as in a direct call's
	// JSON answer (links.go); a media resource's bytes are the user's data.
	if len(out.Body) > 0 && jsonAnswer(in.Get("Content-Type")) && !mediaRoute(it.route.Path) {
		out.Body = p.rewriteLinks(out.Body)
	}
	return out
}

// problemResponse answers a refused (or challenged) inner request with our
// problem document, labelled application/json as Graph labels its own inner
// errors: Graph's JavaScript SDK hands a batch's inner body back as JSON only
// under that Content-Type. from carries Graph's request IDs, when it answered.
func problemResponse(it inner, e *problem.Error, correlationID string, from http.Header) batchResponse {
	body := problem.BodyOf(e, correlationID)
	if crid := it.in.headerValue("Client-Request-Id"); entra.IsGUID(crid) {
		body.Error.InnerError.ClientRequestID = crid
	}
	raw, err := json.Marshal(body)
	if err != nil {
		panic(err) // a Body always encodes
	}
	h := map[string]string{"Content-Type": problem.JSONMediaType}
	if body.RetryAfter > 0 {
		h["Retry-After"] = strconv.Itoa(body.RetryAfter)
	}
	for _, name := range []string{"Request-Id", "Client-Request-Id"} {
		if v := from.Get(name); v != "" {
			h[name] = v
		}
	}
	return batchResponse{ID: it.in.ID, Status: body.Status, Headers: h, Body: raw}
}

// headerValue is the inner request's header, whatever case its name is sent in.
func (q batchRequest) headerValue(name string) string {
	for k, v := range q.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// encodeJSON writes v without HTML escaping: Graph's bytes stay as they are.
func encodeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// logBatch writes one line per batch: never a token, a body, an inner url or id.
func (p *Proxy) logBatch(b *batch, resp *http.Response, err error, d time.Duration) {
	attrs := []slog.Attr{
		slog.String("route", "$batch"),
		slog.String("version", b.version),
		slog.Int("requests", len(b.items)),
		slog.Int("refused", b.refused),
		slog.Int("challenged", b.challenged),
		slog.String("clientRequestId", b.crid),
	}
	if b.x != nil {
		attrs = append(attrs, slog.Int("attempts", b.x.attempts), slog.Float64("graphMs", float64(d.Microseconds())/1000))
	}
	if resp != nil {
		attrs = append(attrs, slog.Int("graphStatus", resp.StatusCode), slog.String("graphRequestId", resp.Header.Get("Request-Id")))
	}
	level := slog.LevelInfo
	if err != nil {
		level = slog.LevelWarn
		var pe *problem.Error
		if errors.As(err, &pe) {
			attrs = append(attrs, slog.String("code", string(pe.Code)))
		}
	}
	web.Logger(b.c).LogAttrs(b.c.Request().Context(), level, "graph batch", attrs...)
}
