package graphproxy

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/addinsso/addinsso/dev/graph"
	"github.com/addinsso/addinsso/handler/problem"
)

// TestDownloadURLPolicy: the hosts a download redirect is followed to.
func TestDownloadURLPolicy(t *testing.T) {
	public := linkProxy(t, "https://graph.microsoft.com")
	local := linkProxy(t, "https://127.0.0.1:8443")
	tests := []struct {
		url           string
		public, local bool
	}{
		{"https://contoso.sharepoint.com/sites/x/_layouts/15/download.aspx?UniqueId=1&tempauth=t", true, true},
		{"https://contoso-my.sharepoint.com/personal/a/_layouts/15/download.aspx?tempauth=t", true, true},
		{"https://CONTOSO.SharePoint.com/x", true, true},
		{"https://contoso.sharepoint.com:443/x", true, true},
		{"https://contoso.sharepoint.us/x", true, true},
		{"https://contoso.sharepoint-mil.us/x", true, true},
		{"https://contoso.sharepoint.cn/x", true, true},
		{"https://westeurope1-mediap.svc.ms/transform/thumbnail?x=1", true, true},
		{"https://b0mpua-by3301.files.1drv.com/y23vmagahszhxzlcvhasdhasghasodfi", true, true},

		{"http://contoso.sharepoint.com/x", false, false},
		{"https://contoso.sharepoint.com:8443/x", false, false},
		{"https://user:pw@contoso.sharepoint.com/x", false, false},
		{"https://sharepoint.com/x", false, false},
		{"https://evilsharepoint.com/x", false, false},
		{"https://contoso.sharepoint.com.evil.example/x", false, false},
		{"https://contoso.sharepoint.com./x", false, false},
		{"https://contoso.sharepoint.de/x", false, false},
		{"https://contoso.sharepoint-df.com/x", false, false},
		{"https://onedrive.live.com/download?x", false, false},
		{"https://1drv.com/x", false, false},
		{"https://graph.microsoft.com/v1.0/me", false, false},
		{"https://evil.example/x", false, false},
		{"https://10.0.0.1/x", false, false},
		{"/v1.0/me/drive/items/1/content", false, false},
		{"javascript:alert(1)", false, false},

		{"https://127.0.0.1:9/x", false, true},
		{"https://localhost:12345/_layouts/15/download.aspx", false, true},
		{"https://[::1]:9/x", false, true},
		{"https://127.1.2.3/x", false, true},
		{"http://127.0.0.1:9/x", false, false},
		{"http://localhost/x", false, false},
	}
	for _, tt := range tests {
		u := mustURL(t, tt.url)
		if got := public.downloadURL(u); got != tt.public {
			t.Errorf("GRAPH_BASE_URL %s: %s followed %v, want %v", public.base, tt.url, got, tt.public)
		}
		if got := local.downloadURL(u); got != tt.local {
			t.Errorf("GRAPH_BASE_URL %s: %s followed %v, want %v", local.base, tt.url, got, tt.local)
		}
	}
}

// downloadHost is a pre-authenticated download host: it serves content for
// any request and records what reached it.
type downloadHost struct {
	*httptest.Server
	hits   atomic.Int64
	mu     sync.Mutex
	seen   []*http.Request
	answer func(w http.ResponseWriter, r *http.Request) // nil: the content
}

var downloadBytes = bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB

func startDownloadHost(t *testing.T, useTLS bool) *downloadHost {
	t.Helper()
	d := &downloadHost{}
	d.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.hits.Add(1)
		d.mu.Lock()
		d.seen = append(d.seen, r.Clone(r.Context()))
		answer := d.answer
		d.mu.Unlock()
		if answer != nil {
			answer(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json") // a file that happens to be JSON stays as it is
		w.Header().Set("Content-Disposition", `attachment; filename="report.json"`)
		w.Header().Set("ETag", `"{ITEM},1"`)
		w.Header().Set("Set-Cookie", "FedAuth=secret")
		w.Header().Set("X-SharePointHealthScore", "0")
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(downloadBytes))
	}))
	if useTLS {
		tlsConfig, err := idp.CA.ServerConfig()
		if err != nil {
			t.Fatal(err)
		}
		d.TLS = tlsConfig
		d.StartTLS()
	} else {
		d.Start()
	}
	t.Cleanup(d.Close)
	return d
}

func (d *downloadHost) last(t *testing.T) *http.Request {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.seen) == 0 {
		t.Fatal("the download host saw no request")
	}
	return d.seen[len(d.seen)-1]
}

// callerHeader is what a task pane (or anyone) sends; none of it may reach
// the download host.
var callerHeader = http.Header{
	"Authorization":     {"Bearer swa-platform-token"},
	"Cookie":            {"StaticWebAppsAuthCookie=abc"},
	"Accept":            {"application/json"},
	"Prefer":            {`outlook.body-content-type="text"`},
	"Client-Request-Id": {"0f0e0d0c-0b0a-4908-8706-050403020100"},
	"X-Forwarded-For":   {"203.0.113.9"},
	"If-None-Match":     {`"other"`},
}

const contentPath = "/api/graph/v1.0/me/drive/items/01ITEM/content"

// TestDownloadFollowed: Graph's 302 to a download host is followed on the
// server, without any token or caller header, and the bytes come back as a
// plain 200; the download URL never reaches the caller or the logs.
func TestDownloadFollowed(t *testing.T) {
	dl := startDownloadHost(t, true)
	h := newHarness(t)
	u := newUser("Rita Download")
	tok := addinToken(u)
	location := strings.Replace(dl.URL, "127.0.0.1", "localhost", 1) + "/_layouts/15/download.aspx?UniqueId=01ITEM&tempauth=v1.secret-tempauth"
	graphEmu.Script(u.ObjectID, graph.Failure{Status: http.StatusFound, Location: location, Header: http.Header{"Request-Id": {"graph-302-request-id"}}})

	resp := h.do(t, "GET", contentPath, tok, callerHeader, nil)
	b := readAll(t, resp)
	if resp.StatusCode != 200 || !bytes.Equal(b, downloadBytes) {
		t.Fatalf("status %d, %d bytes: %.200s", resp.StatusCode, len(b), b)
	}
	for name, want := range map[string]string{
		"Content-Type": "application/json", "Content-Disposition": `attachment; filename="report.json"`, "Etag": `"{ITEM},1"`,
		"Content-Length": "65536", "Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff",
		"Location": "", "Set-Cookie": "", "X-Sharepointhealthscore": "",
	} {
		if got := resp.Header.Get(name); got != want {
			t.Errorf("the caller received %s %q, want %q", name, got, want)
		}
	}
	if resp.Header.Get("Request-Id") == "" {
		t.Error("Graph's request-id is not passed on")
	}

	seen := dl.last(t)
	for name := range seen.Header {
		if name != "Accept-Encoding" && name != "User-Agent" {
			t.Errorf("the download host received %s: %q", name, seen.Header.Get(name))
		}
	}
	if seen.Header.Get("Accept-Encoding") != "identity" || seen.URL.RawQuery != "UniqueId=01ITEM&tempauth=v1.secret-tempauth" || seen.Host != strings.TrimPrefix(strings.Replace(dl.URL, "127.0.0.1", "localhost", 1), "https://") {
		t.Errorf("the download host received %s %s, Accept-Encoding %q", seen.Host, seen.URL, seen.Header.Get("Accept-Encoding"))
	}
	if graphEmu.Count(u.ObjectID) != 1 || dl.hits.Load() != 1 {
		t.Errorf("Graph called %d times, the download host %d; want 1 and 1", graphEmu.Count(u.ObjectID), dl.hits.Load())
	}
	logs := h.logs.String()
	if strings.Contains(logs, "tempauth") || !strings.Contains(logs, `"msg":"graph download"`) || !strings.Contains(logs, `"downloadStatus":200`) {
		t.Errorf("the download log line is missing or names the URL: %s", logs)
	}
}

// TestDownloadRange: a Range goes to the download host, the partial answer
// comes back.
func TestDownloadRange(t *testing.T) {
	dl := startDownloadHost(t, true)
	h := newHarness(t)
	u := newUser("Sam Range")
	tok := addinToken(u)
	for _, tt := range []struct {
		rng    string
		status int
		body   []byte
		sent   string
	}{
		{"bytes=16-31", http.StatusPartialContent, downloadBytes[16:32], "bytes=16-31"},
		{"bytes=999999-", http.StatusRequestedRangeNotSatisfiable, nil, "bytes=999999-"},
		{"bytes=0-1\r\nX-Injected: 1", http.StatusOK, downloadBytes, ""},
		{"items=0-1", http.StatusOK, downloadBytes, ""},
	} {
		graphEmu.Script(u.ObjectID, graph.Redirect(dl.URL+"/dl?tempauth=x"))
		req, _ := http.NewRequest("GET", h.server.URL+contentPath, nil)
		req.Header.Set("X-Addin-Authorization", "Bearer "+tok)
		req.Header["Range"] = []string{tt.rng}
		resp, err := h.client.Do(req)
		if err != nil {
			if strings.Contains(tt.rng, "\r") {
				continue // the client refuses to send it at all
			}
			t.Fatal(err)
		}
		b := readAll(t, resp)
		if resp.StatusCode != tt.status || (tt.body != nil && !bytes.Equal(b, tt.body)) {
			t.Errorf("Range %q: %d, %d bytes", tt.rng, resp.StatusCode, len(b))
		}
		if got := dl.last(t).Header.Get("Range"); got != tt.sent {
			t.Errorf("Range %q: the download host received Range %q, want %q", tt.rng, got, tt.sent)
		}
		if tt.status == http.StatusPartialContent && resp.Header.Get("Content-Range") != "bytes 16-31/65536" {
			t.Errorf("Content-Range %q", resp.Header.Get("Content-Range"))
		}
	}
}

// TestDownloadNotFollowed: a redirect elsewhere is dropped as before (one on
// Graph relayed), and nothing is fetched.
func TestDownloadNotFollowed(t *testing.T) {
	plain := startDownloadHost(t, false)
	dl := startDownloadHost(t, true)
	h := newHarness(t)
	tests := []struct {
		name, path, location, want string
	}{
		{"a content route's redirect that stays on Graph is relayed", contentPath, graphEmu.URL + "/v1.0/me/drive/items/01OTHER/content", "/api/graph/v1.0/me/drive/items/01OTHER/content"},
		{"a host that is not Microsoft's", contentPath, "https://evil.example/_layouts/15/download.aspx?tempauth=x", ""},
		{"a Microsoft look-alike", contentPath, "https://contoso.sharepoint.com.evil.example/x", ""},
		{"plain http, even on loopback", contentPath, plain.URL + "/dl?tempauth=x", ""},
		{"not a content route", "/api/graph/v1.0/me", dl.URL + "/dl?tempauth=x", ""},
		{"not a content route, on a Microsoft host", "/api/graph/v1.0/me/messages", "https://contoso.sharepoint.com/x", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUser("Tom Stay")
			graphEmu.Script(u.ObjectID, graph.Redirect(tt.location))
			resp := h.do(t, "GET", tt.path, addinToken(u), nil, nil)
			readAll(t, resp)
			if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != tt.want {
				t.Errorf("status %d, Location %q; want 302 with %q", resp.StatusCode, resp.Header.Get("Location"), tt.want)
			}
		})
	}
	if plain.hits.Load() != 0 || dl.hits.Load() != 0 {
		t.Errorf("a download host was called: %d over http, %d over https", plain.hits.Load(), dl.hits.Load())
	}
}

// TestDownloadHostFailures: what the caller gets when the download host does
// not deliver.
func TestDownloadHostFailures(t *testing.T) {
	second := startDownloadHost(t, true)
	dl := startDownloadHost(t, true)
	h := newHarness(t)
	tests := []struct {
		name       string
		answer     func(w http.ResponseWriter, r *http.Request)
		status     int
		retryAfter string
	}{
		{"a second redirect is not followed", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, second.URL+"/again", http.StatusFound)
		}, http.StatusBadGateway, "1"},
		{"an expired download URL", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, `{"error_description":"Invalid JWT token. The token is expired."}`, http.StatusUnauthorized)
		}, http.StatusBadGateway, "1"},
		{"throttled", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusTooManyRequests)
		}, http.StatusTooManyRequests, "7"},
		{"unavailable", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusInternalServerError)
		}, http.StatusServiceUnavailable, "5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dl.mu.Lock()
			dl.answer = tt.answer
			dl.mu.Unlock()
			u := newUser("Uma Fail")
			graphEmu.Script(u.ObjectID, graph.Redirect(dl.URL+"/dl?tempauth=x"))
			resp := h.do(t, "GET", contentPath, addinToken(u), nil, nil)
			p := problemOf(t, tt.status, resp.Header, readAll(t, resp))
			if p.Code != problem.UpstreamUnavailable || p.Action != problem.RetryLater || resp.Header.Get("Retry-After") != tt.retryAfter {
				t.Errorf("code %s action %s Retry-After %q", p.Code, p.Action, resp.Header.Get("Retry-After"))
			}
			if resp.Header.Get("Location") != "" || strings.Contains(p.Detail, "tempauth") {
				t.Errorf("the download URL leaked: %q, %q", resp.Header.Get("Location"), p.Detail)
			}
		})
	}
	if second.hits.Load() != 0 {
		t.Error("the second redirect was followed")
	}
}

// TestDownloadBoundedByTheDeadline: a download host that never answers
// costs the request's time limit, no more.
func TestDownloadBoundedByTheDeadline(t *testing.T) {
	dl := startDownloadHost(t, true)
	release := make(chan struct{})
	defer close(release)
	dl.answer = func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}
	h := newHarness(t, func(s *setup) { s.timeout = time.Second })
	u := newUser("Vic Slow")
	tok := addinToken(u)
	readAll(t, h.do(t, "GET", "/api/graph/v1.0/me", tok, nil, nil)) // verifies and caches outside the timed call
	graphEmu.Script(u.ObjectID, graph.Redirect(dl.URL+"/dl?tempauth=x"))
	start := time.Now()
	resp := h.do(t, "GET", contentPath, tok, nil, nil)
	p := problemOf(t, 503, resp.Header, readAll(t, resp))
	if p.Code != problem.UpstreamUnavailable || time.Since(start) > 5*time.Second {
		t.Errorf("code %s after %v", p.Code, time.Since(start))
	}
}

// TestDownloadFromTheEmulator: the Graph emulator's own download host, once
// it redirects content (dev/graph DownloadURL): the bytes arrive whole.
func TestDownloadFromTheEmulator(t *testing.T) {
	h := newHarness(t)
	u := newUser("Wes Emulated")
	const size = 300 << 10
	resp := h.do(t, "GET", "/api/graph/v1.0/me/drive/items/"+graph.ItemID(size)+"/content", addinToken(u), callerHeader, nil)
	b := readAll(t, resp)
	want, _ := io.ReadAll(graph.Content(u.ObjectID, size))
	if resp.StatusCode != 200 || !bytes.Equal(b, want) {
		t.Fatalf("status %d, %d bytes, want %d", resp.StatusCode, len(b), size)
	}
}
