// Package graphproxy is the graph-proxy Function: /api/graph/{*path} forwards
// an allow-listed Microsoft Graph request for the verified caller and streams
// Graph's answer back, never the token.
//
// Each request is checked cheapest first, like a verifier: the method and path
// against GRAPH_ALLOWED_ROUTES (so a forbidden request costs no token work),
// then the caller's add-in token, then the Graph token (Tokens: the cache or
// On-Behalf-Of). The upstream URL is GRAPH_BASE_URL plus the validated,
// re-assembled path and the caller's query; nothing the caller sends can
// change its scheme or host. Like httputil.ReverseProxy it streams both
// bodies, but it forwards only listed headers each way, so hop-by-hop headers,
// cookies and the caller's credentials never pass.
//
// Graph's failures the task pane must act on become problems (DESIGN.md
// section 4), the task pane acting on action alone: a 401 without a challenge
// gets one fresh Graph token and one retry; a continuous access evaluation or
// Conditional Access claims challenge (401 or 403) is claims_challenge with
// the decoded claims; 429, 503 and 504 are upstream_unavailable (retry_later)
// with Graph's status and Retry-After (500 and 502 become 503), after a GET has waited out
// a Retry-After of up to 2 s once itself; Graph unreachable or too slow is
// upstream_unavailable (503). Other answers, errors such as 400, 403 and 404
// included, are Graph's data and pass through as they are.
package graphproxy

import (
	"bytes"
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/addinsso/addinsso/handler/config"
	"github.com/addinsso/addinsso/handler/function"
	"github.com/addinsso/addinsso/handler/problem"
	"github.com/addinsso/addinsso/handler/token"
	"github.com/addinsso/addinsso/handler/web"
)

// FunctionJSON is this Function's binding, served as declared.
//
//go:embed function.json
var FunctionJSON []byte

const (
	// MaxBodyBytes bounds a request body.
	MaxBodyBytes = 4 << 20
	// replayableBodyBytes is the largest body kept in memory so the request can
	// be sent again after Graph refuses a cached token; larger bodies stream.
	replayableBodyBytes = 64 << 10
	// shortRetryAfter is the longest Retry-After a GET waits out itself, once.
	shortRetryAfter = 2 * time.Second
	// defaultRetryAfter is what the task pane is told to wait when Graph said nothing.
	defaultRetryAfter = 5 * time.Second
	// errorBodyBytes bounds what is read of an error answer Graph's code is taken from.
	errorBodyBytes = 64 << 10
	// maxHeaderValueBytes bounds each forwarded request header.
	maxHeaderValueBytes = 1 << 10
)

// Tokens gives graph-proxy a Graph token for the verified caller: from the
// cache or by On-Behalf-Of with assertion, the caller's add-in token. fresh
// bypasses and replaces a cached token (Graph has just refused it). Errors are
// *problem.Error and are answered as they are.
type Tokens interface {
	GraphToken(ctx context.Context, id *token.Identity, assertion string, fresh bool) (string, error)
}

// Forgetter is implemented by Tokens that can drop the caller's cached Graph
// token. graph-proxy calls it when Graph answers with a claims challenge: the
// cached token cannot satisfy the claims, and after the user has (say) done
// MFA the task pane's next call must get a token exchanged from its new
// assertion, not the cached one, which Graph would challenge again.
type Forgetter interface {
	ForgetGraphToken(ctx context.Context, id *token.Identity)
}

// Options tunes a Proxy.
type Options struct {
	// HTTPClient's Transport calls Graph; nil uses a transport with dial, TLS
	// handshake and response-header timeouts. Redirects are never followed
	// (requests go straight to the Transport, so CheckRedirect and Jar are not
	// used); Timeout, if set, bounds each whole exchange, body included.
	HTTPClient *http.Client
}

// Proxy is the graph-proxy Function.
type Proxy struct {
	verifier *token.Verifier
	tokens   Tokens
	rt       http.RoundTripper
	timeout  time.Duration // 0: only the request's context bounds an exchange
	base     *url.URL
	prefix   string // the Function's route up to the catch-all: /api/graph/
	routes   []route
}

// New compiles GRAPH_ALLOWED_ROUTES and returns the Function. It makes no
// network call.
func New(cfg *config.Config, v *token.Verifier, tokens Tokens, opts Options) (*Proxy, error) {
	if cfg == nil || v == nil || tokens == nil {
		return nil, errors.New("graph-proxy: a configuration, a token verifier and a Graph token source are required")
	}
	def, err := function.Parse("graph-proxy", FunctionJSON)
	if err != nil {
		return nil, err
	}
	path, err := def.Path()
	if err != nil {
		return nil, err
	}
	prefix, ok := strings.CutSuffix(path, "*")
	if !ok || !strings.HasSuffix(prefix, "/") {
		return nil, fmt.Errorf("graph-proxy/function.json: route %q must end in a {*path} catch-all", def.Route)
	}
	routes, err := compile(cfg.GraphRoutes, def.Methods)
	if err != nil {
		return nil, err
	}
	base, err := url.Parse(cfg.GraphBaseURL)
	if err != nil || base.Scheme != "https" || base.Host == "" || base.User != nil || base.RawQuery != "" || base.Fragment != "" || base.Opaque != "" {
		return nil, fmt.Errorf("GRAPH_BASE_URL: %q is not an https URL (https://host[:port][/path])", cfg.GraphBaseURL)
	}
	base.Path = strings.TrimRight(base.Path, "/")
	base.RawPath = ""

	p := &Proxy{verifier: v, tokens: tokens, rt: defaultTransport(), base: base, prefix: prefix, routes: routes}
	if c := opts.HTTPClient; c != nil {
		p.rt, p.timeout = c.Transport, c.Timeout
		if p.rt == nil {
			p.rt = http.DefaultTransport
		}
	}
	return p, nil
}

// defaultTransport bounds each step of reaching Graph; the request's context
// (45 s behind Static Web Apps) bounds the whole exchange.
func defaultTransport() http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 10 * time.Second
	t.ResponseHeaderTimeout = 30 * time.Second
	t.MaxIdleConnsPerHost = 64
	return t
}

// Handler serves the Function's route.
func (p *Proxy) Handler() echo.HandlerFunc { return p.serve }

// exchange is one proxied request.
type exchange struct {
	c          echo.Context
	ctx        context.Context // the request's, bounded by Options.HTTPClient.Timeout if set
	route      *route
	target     string
	header     http.Header // to Graph, without Authorization
	body       *body       // nil: none
	id         *token.Identity
	assertion  string
	graphToken string
	crid       string // client-request-id sent to Graph
	attempts   int
}

func (p *Proxy) serve(c echo.Context) error {
	r := c.Request()
	rt, target, err := p.allowed(r)
	if err != nil {
		return err
	}
	if r.ContentLength > MaxBodyBytes {
		return tooLarge()
	}
	header, crid, err := outboundHeader(r.Header)
	if err != nil {
		return err
	}

	id, raw, err := web.Authenticate(r, p.verifier)
	if err != nil {
		return err
	}
	ctx := r.Context()
	graphToken, err := p.tokens.GraphToken(ctx, id, raw, false)
	if err != nil {
		return err
	}
	b, err := readBody(r)
	if err != nil {
		return err
	}

	if p.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.timeout)
		defer cancel() // after relay: the timeout covers the body too
	}
	x := &exchange{c: c, ctx: ctx, route: rt, target: target, header: header, body: b, id: id, assertion: raw, graphToken: graphToken, crid: crid}
	c.Response().Header().Set("client-request-id", crid)
	start := time.Now()
	resp, err := p.call(x)
	p.log(x, resp, err, time.Since(start))
	if err != nil {
		return err
	}
	return p.relay(x, resp)
}

// allowed checks the request against the allow-list and returns the route and
// the upstream URL, built only from GRAPH_BASE_URL, the decoded segments (which
// hold only characters that need no escaping) and the checked query.
func (p *Proxy) allowed(r *http.Request) (*route, string, error) {
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), p.prefix)
	if !ok {
		return nil, "", forbidden("the path is not under %s", p.prefix)
	}
	segs, err := splitPath(rest)
	if err != nil {
		return nil, "", forbidden("%v", err)
	}
	if err := checkQuery(r.URL.RawQuery); err != nil {
		return nil, "", forbidden("%v", err)
	}
	path := "/" + strings.Join(segs, "/")
	rt := match(p.routes, r.Method, segs)
	if rt == nil {
		return nil, "", forbidden("%s %s is not in GRAPH_ALLOWED_ROUTES", r.Method, path)
	}
	u := *p.base
	u.Path += path
	u.RawQuery = r.URL.RawQuery
	return rt, u.String(), nil
}

func forbidden(format string, args ...any) *problem.Error {
	return problem.New(problem.GraphPathForbidden, format, args...)
}

func tooLarge() *problem.Error {
	return problem.New(problem.RequestTooLarge, "the request body is larger than %d bytes", MaxBodyBytes)
}

// forwarded are the request headers Graph may see from the caller; everything
// else (cookies, Authorization, X-Addin-Authorization, hop-by-hop and
// X-Forwarded-* headers) stays here.
var forwarded = []string{"Accept", "Content-Type", "Prefer", "Consistencylevel", "If-Match", "If-None-Match"}

// relayed are the response headers the caller may see from Graph.
var relayed = []string{"Content-Type", "Content-Disposition", "Etag", "Retry-After", "Preference-Applied", "Request-Id", "Client-Request-Id"}

var guidPattern = regexp.MustCompile(`^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$`)

// outboundHeader copies the forwarded headers, refusing malformed ones rather
// than dropping them (dropping If-Match would turn a conditional write into an
// unconditional one), and picks the client-request-id: the caller's when it is
// a GUID, else a new one.
func outboundHeader(in http.Header) (http.Header, string, error) {
	out := make(http.Header, len(forwarded)+3)
	for _, name := range forwarded {
		vs := in[name]
		if len(vs) == 0 {
			continue
		}
		if len(vs) > 4 {
			return nil, "", problem.New(problem.BadRequest, "the %s header is repeated too often", name)
		}
		for _, v := range vs {
			if len(v) > maxHeaderValueBytes || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }) {
				return nil, "", problem.New(problem.BadRequest, "the %s header is longer than %d bytes or has control characters", name, maxHeaderValueBytes)
			}
		}
		out[name] = append([]string(nil), vs...)
	}
	crid := in.Get("client-request-id")
	if !guidPattern.MatchString(crid) {
		crid = newGUID()
	}
	out.Set("client-request-id", crid)
	// Graph's bytes pass through unchanged, with their length: no transparent
	// decompression, no Content-Encoding to relay.
	out.Set("Accept-Encoding", "identity")
	return out, crid, nil
}

// body is the caller's request body on its way to Graph.
type body struct {
	kept   []byte // the whole body, when small enough to send again
	stream *limitedReader
	length int64 // -1: unknown
}

func readBody(r *http.Request) (*body, error) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return nil, nil
	}
	head, err := io.ReadAll(io.LimitReader(r.Body, replayableBodyBytes+1))
	if err != nil {
		return nil, problem.New(problem.BadRequest, "the request body could not be read").WithCause(err)
	}
	if len(head) <= replayableBodyBytes {
		return &body{kept: head, length: int64(len(head))}, nil
	}
	return &body{
		stream: &limitedReader{r: io.MultiReader(bytes.NewReader(head), r.Body), left: MaxBodyBytes},
		length: r.ContentLength,
	}, nil
}

func (b *body) replayable() bool { return b == nil || b.stream == nil }

func (b *body) exceeded() bool { return b != nil && b.stream != nil && b.stream.exceeded.Load() }

var errBodyTooLarge = errors.New("request body too large")

// limitedReader fails once more than left bytes are read, and remembers it.
type limitedReader struct {
	r        io.Reader
	left     int64
	exceeded atomic.Bool // read by the handler while the transport reads
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, errBodyTooLarge
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	if l.left -= int64(n); l.left < 0 {
		l.exceeded.Store(true)
		return n, errBodyTooLarge
	}
	return n, err
}

// send makes one attempt.
func (p *Proxy) send(x *exchange) (*http.Response, error) {
	x.attempts++
	var rd io.Reader
	if x.body != nil {
		if x.body.stream != nil {
			rd = x.body.stream
		} else {
			rd = bytes.NewReader(x.body.kept)
		}
	}
	req, err := http.NewRequestWithContext(x.ctx, x.c.Request().Method, x.target, rd)
	if err != nil {
		return nil, err
	}
	if x.body != nil {
		req.ContentLength = x.body.length
		if x.body.stream != nil {
			req.GetBody = nil // never replayed: it has been read
		}
	}
	// Attempts are sequential and an answered attempt's headers are written,
	// so each attempt can reuse the map with its own token.
	req.Header = x.header
	req.Header.Set("Authorization", "Bearer "+x.graphToken)
	// Straight to the transport, like httputil.ReverseProxy: a redirect is
	// Graph's answer to relay, never a request to make.
	return p.rt.RoundTrip(req)
}

// call sends the request, retrying once with a fresh Graph token after Graph
// refuses the cached one and, for a GET, once after a short Retry-After.
func (p *Proxy) call(x *exchange) (*http.Response, error) {
	ctx := x.ctx
	refreshed, waited := false, false
	for {
		resp, err := p.send(x)
		if err != nil {
			return nil, p.sendError(x, err)
		}
		status := resp.StatusCode
		switch {
		case status == http.StatusUnauthorized || status == http.StatusForbidden:
			if claims, ok := claimsChallenge(resp.Header); ok {
				discard(resp)
				x.relayIDs(resp)
				if f, ok := p.tokens.(Forgetter); ok {
					f.ForgetGraphToken(ctx, x.id)
				}
				e := problem.New(problem.ClaimsChallenge, "Microsoft Graph asks for more claims (continuous access evaluation or Conditional Access); get a token again with these claims and retry")
				e.Claims = claims
				return nil, e.WithCause(fmt.Errorf("graph %s: %d insufficient_claims", x.route.text, status))
			}
			if status == http.StatusForbidden {
				return resp, nil // Graph's own answer: missing permission, license, ...
			}
			code := graphErrorCode(resp)
			x.relayIDs(resp)
			if refreshed {
				return nil, problem.New(problem.ServerMisconfigured, "Microsoft Graph refused a freshly issued Graph token; check that GRAPH_BASE_URL is the Graph endpoint of the cloud Entra ID issues the tokens for").
					WithCause(fmt.Errorf("graph %s: 401 %s after a fresh token", x.route.text, code))
			}
			refreshed = true
			tok, err := p.tokens.GraphToken(ctx, x.id, x.assertion, true)
			if err != nil {
				return nil, err
			}
			x.graphToken = tok
			if x.body.replayable() {
				continue
			}
			e := problem.New(problem.UpstreamUnavailable, "Microsoft Graph refused the cached Graph token and the request body was too large to send again; a fresh token is cached now: retry")
			e.RetryAfter = time.Second
			return nil, e.WithCause(fmt.Errorf("graph %s: 401 %s", x.route.text, code))

		case status == http.StatusTooManyRequests || status == http.StatusInternalServerError ||
			status == http.StatusBadGateway || status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout:
			after, known := retryAfter(resp.Header, time.Now())
			if !waited && known && after <= shortRetryAfter && x.c.Request().Method == http.MethodGet && x.body.replayable() && fits(ctx, after) {
				discard(resp)
				waited = true
				if err := sleep(ctx, after); err != nil {
					return nil, p.sendError(x, err)
				}
				continue
			}
			code := graphErrorCode(resp)
			x.relayIDs(resp)
			if !known {
				after = defaultRetryAfter
			}
			after = max(after, time.Second)
			detail := "is throttling this user or app"
			if status != http.StatusTooManyRequests {
				detail = "is unavailable"
			}
			e := problem.New(problem.UpstreamUnavailable, "Microsoft Graph %s (%d %s); retry after %d s", detail, status, code, int((after+time.Second-1)/time.Second))
			e.Status, e.RetryAfter = status, after
			if status == http.StatusInternalServerError || status == http.StatusBadGateway {
				e.Status = http.StatusServiceUnavailable // our 500 means a misconfiguration: keep them apart
			}
			return nil, e.WithCause(fmt.Errorf("graph %s: %d %s", x.route.text, status, code))
		}
		return resp, nil
	}
}

// sendError maps a failed attempt to a problem.
func (p *Proxy) sendError(x *exchange, err error) error {
	if x.body.exceeded() || errors.Is(err, errBodyTooLarge) {
		return tooLarge()
	}
	e := problem.New(problem.UpstreamUnavailable, "Microsoft Graph cannot be reached right now")
	if errors.Is(err, context.DeadlineExceeded) {
		e.Detail = "Microsoft Graph did not answer within the request's time limit"
	}
	e.RetryAfter = defaultRetryAfter
	return e.WithCause(err)
}

// relay writes Graph's answer: the relayed headers, Location only when it
// stays on Graph (rewritten to this Function's path), then the body, streamed.
func (p *Proxy) relay(x *exchange, resp *http.Response) error {
	defer resp.Body.Close()
	w := x.c.Response()
	h := w.Header()
	for _, name := range relayed {
		if vs := resp.Header[name]; len(vs) > 0 {
			h[name] = vs
		}
	}
	if loc := resp.Header.Get("Location"); loc != "" {
		if rewritten, ok := p.location(resp.Request.URL, loc); ok {
			h.Set("Location", rewritten)
		}
	}
	hasBody := resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusNotModified && resp.StatusCode >= 200
	if hasBody && resp.ContentLength >= 0 {
		h.Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
	}
	if hasBody && resp.ContentLength != 0 && h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/octet-stream") // never let net/http sniff Graph's bytes into HTML
	}
	// The caller's data, served from the task pane's own origin: never cached
	// by shared caches, never sniffed, never rendered as an active document.
	h.Set("Cache-Control", "private, no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	w.WriteHeader(resp.StatusCode)
	if !hasBody {
		return nil
	}

	readErr, writeErr := stream(w, resp.Body, resp.ContentLength)
	switch {
	case writeErr != nil:
		web.Logger(x.c).Info("graph body not delivered: the caller went away", "cause", writeErr.Error())
		return nil
	case readErr != nil:
		// The status is sent; all that is left is to make sure the caller sees a
		// truncated body as an error, not as a complete answer.
		msg := "graph body cut short"
		if x.ctx.Err() != nil {
			msg = "graph body cut short: the request's time ran out or the caller went away"
		}
		web.Logger(x.c).Warn(msg, "route", x.route.text, "cause", readErr.Error())
		panic(http.ErrAbortHandler)
	}
	return nil
}

var buffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// stream copies Graph's body to the caller in bounded memory. Each chunk is
// flushed as it arrives, so a slow or large body reaches the caller as Graph
// sends it; only the chunk that completes a body of known length is left to
// the handler's return, which sends it anyway (as httputil.ReverseProxy does).
func stream(w *echo.Response, src io.Reader, length int64) (readErr, writeErr error) {
	bp := buffers.Get().(*[]byte)
	defer buffers.Put(bp)
	buf := *bp
	rc := http.NewResponseController(w.Writer)
	var written int64
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return nil, werr
			}
			if written += int64(n); written != length {
				if ferr := rc.Flush(); ferr != nil && !errors.Is(ferr, http.ErrNotSupported) {
					return nil, ferr
				}
			}
		}
		if err == io.EOF {
			return nil, nil
		}
		if err != nil {
			return err, nil
		}
	}
}

// location rewrites a Location on Graph's host and under its base path to this
// Function's path; any other Location is dropped.
func (p *Proxy) location(reqURL *url.URL, loc string) (string, bool) {
	u, err := reqURL.Parse(loc)
	if err != nil || u.Scheme != p.base.Scheme || !strings.EqualFold(u.Host, p.base.Host) || u.User != nil {
		return "", false
	}
	rest, ok := strings.CutPrefix(u.EscapedPath(), p.base.Path+"/")
	if !ok || rest == "" {
		return "", false
	}
	out := p.prefix + rest
	if u.RawQuery != "" {
		out += "?" + u.RawQuery
	}
	return out, true
}

// relayIDs passes Graph's request IDs on with a problem, for support cases.
func (x *exchange) relayIDs(resp *http.Response) {
	h := x.c.Response().Header()
	for _, name := range []string{"Request-Id", "Client-Request-Id"} {
		if v := resp.Header.Get(name); v != "" {
			h.Set(name, v)
		}
	}
}

func (p *Proxy) log(x *exchange, resp *http.Response, err error, d time.Duration) {
	attrs := []slog.Attr{
		slog.String("route", x.route.text),
		slog.String("clientRequestId", x.crid),
		slog.Int("attempts", x.attempts),
		slog.Float64("graphMs", float64(d.Microseconds())/1000),
	}
	if resp != nil {
		attrs = append(attrs, slog.Int("graphStatus", resp.StatusCode), slog.String("graphRequestId", resp.Header.Get("Request-Id")))
	}
	level := slog.LevelInfo
	if err != nil {
		level = slog.LevelWarn
		if p, ok := err.(*problem.Error); ok {
			attrs = append(attrs, slog.String("code", string(p.Code)))
		}
	}
	// One line per proxied request, on the hot path: built without the
	// caller's source position (the message names it).
	ctx, h := x.ctx, web.Logger(x.c).Handler()
	if h.Enabled(ctx, level) {
		rec := slog.NewRecord(time.Now(), level, "graph", 0)
		rec.AddAttrs(attrs...)
		_ = h.Handle(ctx, rec)
	}
}

// claimsChallenge finds a Bearer challenge with error="insufficient_claims"
// (continuous access evaluation, Conditional Access) and returns its claims,
// decoded from base64 to JSON ("" when they cannot be decoded).
func claimsChallenge(h http.Header) (string, bool) {
	for _, v := range h.Values("WWW-Authenticate") {
		params := bearerParams(v)
		if params["error"] != "insufficient_claims" {
			continue
		}
		return decodeClaims(params["claims"]), true
	}
	return "", false
}

// bearerParams parses the auth-params of a Bearer challenge (RFC 9110 section
// 11.6.1): comma-separated name=token or name="quoted string".
func bearerParams(v string) map[string]string {
	scheme, rest, _ := strings.Cut(strings.TrimSpace(v), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return nil
	}
	out := make(map[string]string)
	for {
		rest = strings.TrimLeft(rest, " \t,")
		eq := strings.IndexByte(rest, '=')
		if eq <= 0 {
			return out
		}
		name := strings.ToLower(strings.TrimSpace(rest[:eq]))
		if strings.ContainsAny(name, " \t,\"") {
			return out // another challenge's scheme
		}
		rest = strings.TrimLeft(rest[eq+1:], " \t")
		var val strings.Builder
		if strings.HasPrefix(rest, `"`) {
			i := 1
			for ; i < len(rest) && rest[i] != '"'; i++ {
				if rest[i] == '\\' && i+1 < len(rest) {
					i++
				}
				val.WriteByte(rest[i])
			}
			rest = rest[min(i+1, len(rest)):]
		} else {
			end := strings.IndexAny(rest, ", \t")
			if end < 0 {
				end = len(rest)
			}
			val.WriteString(rest[:end])
			rest = rest[end:]
		}
		out[name] = val.String()
	}
}

const maxClaimsBytes = 16 << 10

func decodeClaims(v string) string {
	if len(v) > maxClaimsBytes {
		return ""
	}
	if json.Valid([]byte(v)) && strings.HasPrefix(v, "{") {
		return v
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(v); err == nil && json.Valid(b) && bytes.HasPrefix(bytes.TrimSpace(b), []byte("{")) {
			return string(b)
		}
	}
	return ""
}

// retryAfter reads Retry-After: delay-seconds or an HTTP-date.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil && secs >= 0 {
		return time.Duration(min(secs, 24*3600)) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// graphErrorCode reads error.code from Graph's OData error body (bounded) and
// closes the body. The code is Graph's data; the message is left out of the
// problem, which the task pane shows.
func graphErrorCode(resp *http.Response) string {
	defer resp.Body.Close()
	var doc struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, errorBodyBytes))
	if json.Unmarshal(b, &doc) != nil || doc.Error.Code == "" {
		return http.StatusText(resp.StatusCode)
	}
	return doc.Error.Code
}

// discard drains a little of a body we will not relay, so the connection can be
// reused, and closes it.
func discard(resp *http.Response) {
	_, _ = io.CopyN(io.Discard, resp.Body, errorBodyBytes)
	resp.Body.Close()
}

// fits reports whether waiting d leaves time for another attempt.
func fits(ctx context.Context, d time.Duration) bool {
	deadline, ok := ctx.Deadline()
	return !ok || time.Until(deadline) > d+time.Second
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// newGUID returns a random (version 4) GUID.
func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	hex.Encode(s[9:13], b[4:6])
	hex.Encode(s[14:18], b[6:8])
	hex.Encode(s[19:23], b[8:10])
	hex.Encode(s[24:], b[10:])
	s[8], s[13], s[18], s[23] = '-', '-', '-', '-'
	return string(s[:])
}
