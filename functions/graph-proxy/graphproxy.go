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
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
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
