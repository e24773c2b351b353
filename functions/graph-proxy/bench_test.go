package graphproxy

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/addinsso/addinsso/handler/function"
	"github.com/addinsso/addinsso/handler/graphtoken"
	"github.com/addinsso/addinsso/handler/web"
)

// BenchmarkProxyVsReverseProxy compares graph-proxy on its warm path (the
// verified-token memo and the Graph token cache both hit) with a bare
// httputil.ReverseProxy that adds the same Graph token, both in front of the
// same Graph emulator, in the same run. The target (docs/architecture.md):
// within 10%. Logs are encoded as in production and discarded.
func BenchmarkProxyVsReverseProxy(b *testing.B) {
	h := newHarness(b, func(s *setup) { s.discardLogs = true })
	u := newUser("Bench User")
	tok := addinToken(u)
	warm := h.do(b, "GET", "/api/graph/v1.0/me", tok, nil, nil)
	if readAll(b, warm); warm.StatusCode != 200 {
		b.Fatalf("warm-up: %d", warm.StatusCode)
	}
	id, err := h.services.Verifier.Verify(context.Background(), tok)
	if err != nil {
		b.Fatal(err)
	}
	grant, _ := h.tokens.Get(context.Background(), graphtoken.Request{Identity: id, Assertion: tok})
	graphToken := grant.AccessToken

	target := mustURL(b, graphEmu.URL)
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.URL.Path = strings.TrimPrefix(r.In.URL.Path, "/api/graph")
			r.Out.URL.RawPath = ""
			r.Out.Host = ""
			r.Out.Header.Del(function.AddinAuthorization)
			r.Out.Header.Set("Authorization", "Bearer "+graphToken)
		},
		Transport: graphEmu.Client().Transport,
	}
	bare := httptest.NewServer(rp)
	defer bare.Close()
	// The same ReverseProxy behind the middleware every Function shares, to
	// tell graph-proxy's own cost from the middleware's.
	e := echo.New()
	e.Use(web.Middleware(slog.New(slog.NewJSONHandler(io.Discard, nil)), 45*time.Second))
	e.GET("/api/graph/*", echo.WrapHandler(rp))
	behind := httptest.NewServer(e)
	defer behind.Close()

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	get := func(b *testing.B, req *http.Request) time.Duration {
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
		return time.Since(start)
	}
	request := func(base string) *http.Request {
		req, _ := http.NewRequest("GET", base+"/api/graph/v1.0/me", nil)
		req.Header.Set(function.AddinAuthorization, "Bearer "+tok)
		return req
	}
	viaProxy, viaBare, viaBehind := request(h.server.URL), request(bare.URL), request(behind.URL)

	b.Run("graph-proxy", func(b *testing.B) {
		for b.Loop() {
			get(b, viaProxy)
		}
	})
	b.Run("httputil.ReverseProxy", func(b *testing.B) {
		for b.Loop() {
			get(b, viaBare)
		}
	})
	// The machine's load drifts between the runs above; alternating two
	// targets in one loop compares them under the same load, and medians
	// discount the requests a busy machine stalled.
	interleave := func(other *http.Request) func(*testing.B) {
		return func(b *testing.B) {
			var proxyTimes, otherTimes []time.Duration
			for i := 0; b.Loop(); i++ {
				if i%2 == 0 {
					proxyTimes = append(proxyTimes, get(b, viaProxy))
					otherTimes = append(otherTimes, get(b, other))
				} else {
					otherTimes = append(otherTimes, get(b, other))
					proxyTimes = append(proxyTimes, get(b, viaProxy))
				}
			}
			b.ReportMetric(mean(proxyTimes), "graph-proxy-ns/op")
			b.ReportMetric(mean(otherTimes), "reverseproxy-ns/op")
			b.ReportMetric(mean(proxyTimes)/mean(otherTimes), "ratio")
			b.ReportMetric(median(proxyTimes)/median(otherTimes), "ratio-p50")
		}
	}
	b.Run("interleaved", interleave(viaBare))
	b.Run("interleaved-behind-middleware", interleave(viaBehind))
}

func mean(ds []time.Duration) float64 {
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return float64(sum) / float64(len(ds))
}

func median(ds []time.Duration) float64 {
	slices.Sort(ds)
	return float64(ds[len(ds)/2])
}

// instantGraph answers /me at once from memory, so BenchmarkProxyOverhead
// measures only what each proxy itself costs.
type instantGraph struct{}

func (instantGraph) RoundTrip(r *http.Request) (*http.Response, error) {
	const body = `{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#users/$entity","businessPhones":[],"displayName":"Bench User","id":"a"}`
	h := http.Header{"Content-Type": {"application/json"}, "Request-Id": {"1"}, "Client-Request-Id": {"2"}, "X-Ms-Ags-Diagnostic": {"{}"}}
	return &http.Response{StatusCode: 200, Header: h, Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)), Request: r}, nil
}

// BenchmarkProxyOverhead is the CPU graph-proxy adds in process (middleware,
// allow-list, verified-token memo, Graph token, header filtering, logging)
// next to a bare httputil.ReverseProxy, both with a Graph that answers at once,
// alternating so both see the same machine load.
func BenchmarkProxyOverhead(b *testing.B) {
	h := newHarness(b, func(s *setup) { s.discardLogs = true })
	tok := addinToken(newUser("Overhead User"))
	readAll(b, h.do(b, "GET", "/api/graph/v1.0/me", tok, nil, nil))
	h.proxy.rt = instantGraph{}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(mustURL(b, graphEmu.URL))
			r.Out.URL.Path = strings.TrimPrefix(r.In.URL.Path, "/api/graph")
			r.Out.Header.Del(function.AddinAuthorization)
			r.Out.Header.Set("Authorization", "Bearer graph-token")
		},
		Transport: instantGraph{},
	}
	serve := func(hd http.Handler) time.Duration {
		req := httptest.NewRequest("GET", "/api/graph/v1.0/me", nil)
		req.Header.Set(function.AddinAuthorization, "Bearer "+tok)
		rec := httptest.NewRecorder()
		start := time.Now()
		hd.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		return time.Since(start)
	}
	var proxyTimes, bareTimes []time.Duration
	b.ReportAllocs()
	for b.Loop() {
		proxyTimes = append(proxyTimes, serve(h.echo))
		bareTimes = append(bareTimes, serve(rp))
	}
	b.ReportMetric(median(proxyTimes), "graph-proxy-p50-ns")
	b.ReportMetric(median(bareTimes), "reverseproxy-p50-ns")
}
