package graphproxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/addinsso/addinsso/handler/entra"
	"github.com/addinsso/addinsso/handler/problem"
	"github.com/addinsso/addinsso/handler/web"
)

// Downloads. Graph answers GET .../drive/items/{id}/content with 302 Found to
// a pre-authenticated URL on a download host (SharePoint, OneDrive), valid for
// a few minutes and needing no Authorization. Passing that 302 on would send
// the task pane's fetch() to the download host with X-Addin-Authorization:
// the Fetch standard strips Authorization on a cross-origin redirect, not a
// custom header, so the add-in's token would reach a host that is not this
// API. So the proxy follows the redirect itself, once, without any token,
// cookie or caller header (Range excepted), and streams the bytes back: the
// download URL and the token both stay on the server, and the SDK and fetch()
// see a plain 200.
//
// Only a GET of a media route (content, contentStream, $value) is followed,
// only over https, and only to Microsoft's download hosts below (or, when
// GRAPH_BASE_URL itself is on loopback, as the emulator's is, to loopback).
// Any other Location that leaves Graph is dropped, as before. The request goes
// through the Proxy's one outbound transport, which never follows a redirect
// itself: a download host's own redirect is refused, not followed.

// downloadHostSuffixes are the hosts of Graph's pre-authenticated download
// URLs: SharePoint Online and OneDrive for work or school (worldwide and GCC
// <tenant>.sharepoint.com and <tenant>-my.sharepoint.com; GCC High
// .sharepoint.us; DoD .sharepoint-mil.us; China, 21Vianet, .sharepoint.cn),
// SharePoint's content and rendering service (*.svc.ms, in Microsoft 365's
// published endpoint list), and OneDrive for personal accounts (*.files.1drv.com,
// the host of the example in Graph's driveitem-get-content reference).
// Microsoft Cloud Deutschland (.sharepoint.de) closed in 2021, and
// .sharepoint-df.com is Microsoft's own pre-release ring, not a customer's.
var downloadHostSuffixes = []string{
	".sharepoint.com",
	".sharepoint.us",
	".sharepoint-mil.us",
	".sharepoint.cn",
	".svc.ms",
	".files.1drv.com",
}

// downloadRelayed are the headers the caller may see from a download host.
// Graph's request-id and client-request-id come from Graph's redirect.
var downloadRelayed = []string{"Content-Type", "Content-Disposition", "Etag", "Content-Range", "Accept-Ranges"}

// maxRangeBytes bounds the Range header passed to a download host.
const maxRangeBytes = 256

// downloadTarget reports whether Graph's answer is a redirect to follow: a
// 3xx to a GET of a media route, whose Location leaves Graph for a download
// URL.
func (p *Proxy) downloadTarget(x *exchange, resp *http.Response) (*url.URL, bool) {
	switch resp.StatusCode {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
	default:
		return nil, false
	}
	if x.c.Request().Method != http.MethodGet || !mediaRoute(x.route.Path) {
		return nil, false
	}
	loc := resp.Header.Get("Location")
	if _, onGraph := p.location(resp.Request.URL, loc); onGraph || loc == "" {
		return nil, false // relayed as Graph's own link
	}
	u, err := resp.Request.URL.Parse(loc)
	if err != nil || !p.downloadURL(u) {
		return nil, false
	}
	return u, true
}

// downloadURL reports whether u is an https URL on one of Microsoft's download
// hosts at the default port, or on loopback (any port) when GRAPH_BASE_URL is
// on loopback.
func (p *Proxy) downloadURL(u *url.URL) bool {
	if u.Scheme != "https" || u.User != nil || u.Opaque != "" || u.Host == "" {
		return false
	}
	host := strings.ToLower(u.Hostname())
	if entra.IsLoopback(host) {
		return entra.IsLoopback(p.base.Hostname())
	}
	if port := u.Port(); port != "" && port != "443" {
		return false
	}
	for _, suffix := range downloadHostSuffixes {
		if strings.HasSuffix(host, suffix) && len(host) > len(suffix) {
			return true
		}
	}
	return false
}

// download follows Graph's redirect to the download host and relays what it
// answers: the bytes (200, or 206 and 416 for a Range), streamed; throttling
// and failures as problems. It is bounded by the request's deadline.
func (p *Proxy) download(x *exchange, graph *http.Response, target *url.URL) error {
	discard(graph)
	x.relayIDs(graph)
	req, err := http.NewRequestWithContext(x.ctx, http.MethodGet, target.String(), nil)
	if err != nil {
		return problem.New(problem.UpstreamUnavailable, "Microsoft Graph's download URL cannot be requested.").WithStatus(http.StatusBadGateway).
			WithRetryAfter(defaultRetryAfter).WithCause(errors.New("download URL: " + err.Error()))
	}
	// Nothing of the caller's, nothing of ours: no Authorization, no cookie.
	// The bytes as stored, with their length: no transparent decompression.
	req.Header = http.Header{"Accept-Encoding": {"identity"}}
	if rg := x.c.Request().Header.Get("Range"); rg != "" && validRange(rg) {
		req.Header.Set("Range", rg)
	}
	start := time.Now()
	resp, err := p.rt.RoundTrip(req)
	p.logDownload(x, target.Host, resp, err, time.Since(start))
	if err != nil {
		e := problem.New(problem.UpstreamUnavailable, "The download host Microsoft Graph redirected to cannot be reached right now.")
		if errors.Is(err, context.DeadlineExceeded) {
			e = problem.New(problem.UpstreamUnavailable, "The download host Microsoft Graph redirected to did not answer within the request's time limit.")
		}
		// The error names the URL, whose query is a credential: keep only its kind.
		return e.WithRetryAfter(defaultRetryAfter).WithCause(fmt.Errorf("download from %s: %w", target.Host, unwrapURLError(err)))
	}
	defer resp.Body.Close()
	status := resp.StatusCode
	switch {
	case status == http.StatusOK || status == http.StatusPartialContent || status == http.StatusRequestedRangeNotSatisfiable:
		h := x.c.Response().Header()
		for _, name := range downloadRelayed {
			if vs := resp.Header[name]; len(vs) > 0 {
				h[name] = vs
			}
		}
		return p.write(x, status, resp.Body, resp.ContentLength)
	case status == http.StatusTooManyRequests || status >= 500:
		discard(resp)
		after, known := entra.RetryAfter(resp.Header, time.Now())
		if !known {
			after = defaultRetryAfter
		}
		after = max(after, time.Second)
		answer := http.StatusServiceUnavailable
		if status == http.StatusTooManyRequests {
			answer = status
		}
		return problem.New(problem.UpstreamUnavailable, "The download host Microsoft Graph redirected to is unavailable (%d); retry after %d s.", status, entra.Seconds(after)).
			WithStatus(answer).WithRetryAfter(after).WithCause(fmt.Errorf("download from %s: %d", target.Host, status))
	}
	// A redirect of its own (never followed: one hop only), or a refusal of
	// the pre-authenticated URL (expired in between, say): a new call to Graph
	// gets a new URL.
	discard(resp)
	return problem.New(problem.UpstreamUnavailable, "The download host Microsoft Graph redirected to answered %d; retry to get a new download URL.", status).
		WithStatus(http.StatusBadGateway).WithRetryAfter(time.Second).WithCause(fmt.Errorf("download from %s: %d", target.Host, status))
}

// validRange accepts a byte range as RFC 9110 spells one (bytes=0-99,200-),
// bounded, so nothing else rides along to the download host.
func validRange(v string) bool {
	spec, ok := strings.CutPrefix(v, "bytes=")
	if !ok || spec == "" || len(v) > maxRangeBytes {
		return false
	}
	for i := 0; i < len(spec); i++ {
		if c := spec[i]; (c < '0' || c > '9') && c != '-' && c != ',' && c != ' ' {
			return false
		}
	}
	return true
}

// unwrapURLError drops the *url.Error around a transport error: its text
// carries the URL, and with it the download URL's credential.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// logDownload writes one line per followed download: the download host, never
// the URL (its query is a credential).
func (p *Proxy) logDownload(x *exchange, host string, resp *http.Response, err error, d time.Duration) {
	attrs := []any{
		slog.String("route", x.route.String()),
		slog.String("clientRequestId", x.crid),
		slog.String("downloadHost", host),
		slog.Float64("downloadMs", float64(d.Microseconds())/1000),
	}
	if resp != nil {
		attrs = append(attrs, slog.Int("downloadStatus", resp.StatusCode))
	}
	if err != nil {
		attrs = append(attrs, slog.String("cause", unwrapURLError(err).Error()))
		web.Logger(x.c).Warn("graph download", attrs...)
		return
	}
	web.Logger(x.c).Info("graph download", attrs...)
}
