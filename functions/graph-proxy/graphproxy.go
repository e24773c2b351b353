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
// cookies and the caller's credentials never pass. In Graph's JSON answers the
// paging links (@odata.nextLink, @odata.deltaLink) are rewritten to this
// Function's path as they stream (links.go), and a download Graph redirects to
// one of Microsoft's download hosts is fetched here, once, with no token,
// cookie or caller header but Range, and streamed back (download.go).
//
// Graph's failures the task pane must act on become problems (package
// problem), the task pane acting on action alone: a 401 without a challenge
// gets one fresh Graph token and one retry; a continuous access evaluation or
// Conditional Access claims challenge (401 or 403) is claims_challenge with
// the decoded claims; 429, 503 and 504 are upstream_unavailable (retry_later)
// with Graph's status and Retry-After (500 and 502 become 503), after a GET has waited out
// a Retry-After of up to 2 s once itself; Graph unreachable or too slow is
// upstream_unavailable (503). Other answers, errors such as 400, 403 and 404
// included, are Graph's data and pass through as they are.
package graphproxy

import (
	"context"
	_ "embed"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/addinsso/addinsso/handler/entra"
	"github.com/addinsso/addinsso/handler/function"
	"github.com/addinsso/addinsso/handler/graphroute"
	"github.com/addinsso/addinsso/handler/graphtoken"
	"github.com/addinsso/addinsso/handler/problem"
	"github.com/addinsso/addinsso/handler/web"
)

//go:embed function.json
var functionJSON []byte

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

// Proxy is the graph-proxy Function.
type Proxy struct {
	s       function.Services
	rt      http.RoundTripper
	timeout time.Duration // Services.HTTPClient.Timeout; 0: only the request's context bounds an exchange
	base    *url.URL      // GRAPH_BASE_URL
	prefix  string        // the Function's route up to the catch-all: /api/graph/
	routes  []graphroute.Route
}

// New returns the Function. It makes no network call. Requests go straight to
// Services.HTTPClient's Transport, like httputil.ReverseProxy: a redirect is
// Graph's answer to relay, never a request to make with the token.
func New(s function.Services) (function.Function, error) {
	p, err := newProxy(s)
	if err != nil {
		return function.Function{}, err
	}
	return function.Function{Name: "graph-proxy", JSON: functionJSON, Handler: p.serve}, nil
}

func newProxy(s function.Services) (*Proxy, error) {
	def, err := function.Parse("graph-proxy", functionJSON)
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
	for _, r := range s.Config.GraphRoutes {
		if !slices.Contains(def.Methods, r.Method) {
			return nil, fmt.Errorf("GRAPH_ALLOWED_ROUTES: %q: graph-proxy/function.json does not accept %s (%s)", r, r.Method, strings.Join(def.Methods, ", "))
		}
	}
	c := s.HTTPClient
	if c == nil || c.Transport == nil {
		c = entra.HTTPClient()
	}
	return &Proxy{s: s, rt: c.Transport, timeout: c.Timeout, base: s.Config.GraphBase, prefix: prefix, routes: s.Config.GraphRoutes}, nil
}

// exchange is one proxied request.
type exchange struct {
	c          echo.Context
	ctx        context.Context // the request's, bounded by Services.HTTPClient.Timeout if set
	route      *graphroute.Route
	target     string
	header     http.Header // to Graph, without Authorization
	body       *body       // nil: none
	caller     graphtoken.Request
	graphToken string
	crid       string // client-request-id sent to Graph
	attempts   int
}

func (p *Proxy) serve(c echo.Context) error {
	// Graph's clients read errors as application/json only; the pane reads
	// the same document either way.
	web.AnswerProblemsAsJSON(c)
	r := c.Request()
	if version, ok := p.batchVersion(r); ok {
		return p.serveBatch(c, version) // batch.go: each inner request is checked
	}
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

	id, raw, err := p.s.Authenticate(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	grant, err := p.s.Tokens.Get(ctx, graphtoken.Request{Identity: id, Assertion: raw})
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
	x := &exchange{c: c, ctx: ctx, route: rt, target: target, header: header, body: b, caller: graphtoken.Request{Identity: id, Assertion: raw}, graphToken: grant.AccessToken, crid: crid}
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
func (p *Proxy) allowed(r *http.Request) (*graphroute.Route, string, error) {
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), p.prefix)
	if !ok {
		return nil, "", forbidden("The path is not under %s.", p.prefix)
	}
	segs, err := graphroute.Split(rest)
	if err != nil {
		return nil, "", forbidden("This Graph request is refused: %v.", err)
	}
	if err := graphroute.Query(r.URL.RawQuery); err != nil {
		return nil, "", forbidden("This Graph request is refused: %v.", err)
	}
	path := "/" + strings.Join(segs, "/")
	rt := graphroute.Match(p.routes, r.Method, segs)
	if rt == nil {
		return nil, "", forbidden("The request %s %s is not in GRAPH_ALLOWED_ROUTES.", r.Method, path)
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
	return problem.New(problem.RequestTooLarge, "The request body is larger than %d bytes.", MaxBodyBytes)
}
