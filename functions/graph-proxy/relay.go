package graphproxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/addinsso/addinsso/handler/problem"
	"github.com/addinsso/addinsso/handler/web"
)

// relayed are the response headers the caller may see from Graph.
var relayed = []string{"Content-Type", "Content-Disposition", "Etag", "Retry-After", "Preference-Applied", "Request-Id", "Client-Request-Id"}

// relay writes Graph's answer: the relayed headers, Location only when it
// stays on Graph (rewritten to this Function's path), then the body, streamed,
// with its paging links rewritten when it is JSON (links.go). A redirect of a
// download to one of Microsoft's download hosts is followed instead
// (download.go).
func (p *Proxy) relay(x *exchange, resp *http.Response) error {
	defer resp.Body.Close()
	if target, ok := p.downloadTarget(x, resp); ok {
		return p.download(x, resp, target)
	}
	body, length := io.Reader(resp.Body), resp.ContentLength
	if hasBody(resp.StatusCode) && length != 0 && p.rewritesLinks(x, resp) {
		var release func()
		var err error
		if body, length, release, err = p.linkBody(x, resp); err != nil {
			return err
		}
		defer release()
	}
	h := x.c.Response().Header()
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
	return p.write(x, resp.StatusCode, body, length)
}

// hasBody reports whether an answer with this status carries a body.
func hasBody(status int) bool {
	return status != http.StatusNoContent && status != http.StatusNotModified && status >= 200
}

// write sends the status, the headers every answer gets, and the body (length
// -1: unknown, streamed in chunks). The relayed headers are set already.
func (p *Proxy) write(x *exchange, status int, body io.Reader, length int64) error {
	w := x.c.Response()
	h := w.Header()
	withBody := hasBody(status)
	if withBody && length >= 0 {
		h.Set("Content-Length", strconv.FormatInt(length, 10))
	}
	if withBody && length != 0 && h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/octet-stream") // never let net/http sniff Graph's bytes into HTML
	}
	noStore(h)
	w.WriteHeader(status)
	if !withBody {
		return nil
	}

	readErr, writeErr := stream(w, body, length)
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
		web.Logger(x.c).Warn(msg, "route", x.route.String(), "cause", readErr.Error())
		panic(http.ErrAbortHandler)
	}
	return nil
}

// rewritesLinks reports whether Graph's answer gets its paging links
// rewritten: JSON, and not a media resource (a file's or an attachment's own
// bytes are the user's data, whatever their type).
func (p *Proxy) rewritesLinks(x *exchange, resp *http.Response) bool {
	return jsonAnswer(resp.Header.Get("Content-Type")) && !mediaRoute(x.route.Path)
}

// mediaRoute reports whether a route's path names raw content: its last
// segment is content, contentStream or $value.
func mediaRoute(path string) bool {
	last := path[strings.LastIndexByte(path, '/')+1:]
	return strings.EqualFold(last, "content") || strings.EqualFold(last, "contentStream") || strings.EqualFold(last, "$value")
}

// linkBody is Graph's JSON body with its paging links rewritten. A body of up
// to smallJSONBytes is read whole first and rewritten in memory, so it keeps
// an exact Content-Length; a larger one streams through the rewriter in
// bounded memory, its length unknown (chunked). Nothing is written yet, so a
// failure here is still a problem.
func (p *Proxy) linkBody(x *exchange, resp *http.Response) (io.Reader, int64, func(), error) {
	bp := buffers.Get().(*[]byte)
	release := func() { buffers.Put(bp) }
	head := (*bp)[:smallJSONBytes]
	// Not io.ReadFull: its ErrUnexpectedEOF would hide the body reader's own,
	// a body cut short of its Content-Length.
	n, err := 0, error(nil)
	for n < len(head) && err == nil {
		var m int
		m, err = resp.Body.Read(head[n:])
		n += m
	}
	switch {
	case err == io.EOF:
		out, err := p.rewriteLinksFrom(resp.Request.URL, head[:n])
		if err != nil {
			release()
			return nil, 0, nil, problem.New(problem.UpstreamUnavailable, "Microsoft Graph's answer nests too deeply to be passed on.").
				WithStatus(http.StatusBadGateway).WithRetryAfter(defaultRetryAfter).WithCause(fmt.Errorf("graph %s: %w", x.route, err))
		}
		return bytes.NewReader(out), int64(len(out)), release, nil
	case err != nil:
		release()
		return nil, 0, nil, p.sendError(x, err)
	}
	r := p.newLinkReader(resp.Request.URL, io.MultiReader(bytes.NewReader(head), resp.Body), make([]byte, 32<<10))
	return r, -1, release, nil
}

// smallJSONBytes is the largest JSON answer rewritten in memory, with its
// Content-Length kept; larger ones stream. It fits a pooled buffer.
const smallJSONBytes = 32<<10 - 1

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
		slog.String("route", x.route.String()),
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

// noStore marks an answer as the caller's data, served from the task pane's
// own origin: never cached by shared caches, never sniffed, never rendered as
// an active document.
func noStore(h http.Header) {
	h.Set("Cache-Control", "private, no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
}
