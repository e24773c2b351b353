package graph_test

import (
	"bytes"
	"encoding/json"
	"image/jpeg"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/addinsso/addinsso/dev/graph"
)

// fetch GETs rawURL with header and no token, without following redirects.
func fetch(t *testing.T, rawURL string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	client := emu.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// downloadLink asks Graph for the item's content and returns where it points.
func downloadLink(t *testing.T, tok string, size int64) string {
	t.Helper()
	resp, b := get(t, "/v1.0/me/drive/items/"+graph.ItemID(size)+"/content", tok, nil)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, emu.DownloadURL+"/") || len(b) != 0 {
		t.Fatalf("content: %d Location %q, body %q; want 302 to %s", resp.StatusCode, loc, b, emu.DownloadURL)
	}
	return loc
}

func descriptionOf(t *testing.T, b []byte) string {
	t.Helper()
	var e struct {
		Description string `json:"error_description"`
	}
	if json.Unmarshal(b, &e) != nil || e.Description == "" {
		t.Fatalf("not the download host's error: %s", b)
	}
	return e.Description
}

func TestDownload(t *testing.T) {
	jo := newUser("Jo Download")
	tok := graphToken(jo, "Files.Read", nil)
	const size = 200_000
	want, _ := io.ReadAll(graph.Content(jo.ObjectID, size))

	graphURL, _ := url.Parse(emu.URL)
	dlURL, _ := url.Parse(emu.DownloadURL)
	if dlURL.Hostname() == graphURL.Hostname() || dlURL.Port() == graphURL.Port() {
		t.Fatalf("download host %s is not another host than Graph's %s", emu.DownloadURL, emu.URL)
	}

	loc := downloadLink(t, tok, size)
	if !strings.Contains(loc, "tempauth=") {
		t.Errorf("Location %s carries no tempauth", loc)
	}
	downloads, count := emu.Downloads(), emu.Count(jo.ObjectID)
	resp, b := fetch(t, loc, nil)
	if resp.StatusCode != 200 || !bytes.Equal(b, want) || resp.Header.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("download: %d, %d bytes, %v", resp.StatusCode, len(b), resp.Header)
	}
	if emu.Downloads() != downloads+1 || emu.Count(jo.ObjectID) != count {
		t.Errorf("downloads +%d, Graph requests +%d: want +1 and none", emu.Downloads()-downloads, emu.Count(jo.ObjectID)-count)
	}

	// Ranges go to the download URL: 206 with the bytes asked for.
	resp, b = fetch(t, loc, http.Header{"Range": {"bytes=150000-150099"}})
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(b, want[150000:150100]) ||
		resp.Header.Get("Content-Range") != "bytes 150000-150099/200000" {
		t.Errorf("range: %d %v, %d bytes", resp.StatusCode, resp.Header, len(b))
	}
	resp, b = fetch(t, loc, http.Header{"Range": {"bytes=0-9"}})
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(b, want[:10]) {
		t.Errorf("range after a later one: %d, %d bytes", resp.StatusCode, len(b))
	}

	// Any Authorization header is refused: the Graph token must not travel here.
	resp, b = fetch(t, loc, http.Header{"Authorization": {"Bearer " + tok}})
	if resp.StatusCode != 401 || !strings.Contains(descriptionOf(t, b), "Authorization") {
		t.Errorf("with Authorization: %d %s", resp.StatusCode, b)
	}

	// A tampered token, or one moved to another item, is refused.
	u, _ := url.Parse(loc)
	q := u.Query()
	ta := q.Get("tempauth")
	flip := map[byte]byte{'A': 'B'}[ta[len(ta)-2]]
	if flip == 0 {
		flip = 'A'
	}
	q.Set("tempauth", ta[:len(ta)-2]+string(flip)+ta[len(ta)-1:])
	u.RawQuery = q.Encode()
	if resp, b := fetch(t, u.String(), nil); resp.StatusCode != 401 {
		t.Errorf("tampered tempauth: %d %s", resp.StatusCode, b)
	}
	q = u.Query()
	q.Set("tempauth", ta)
	q.Set("UniqueId", graph.ItemID(size+1))
	u.RawQuery = q.Encode()
	if resp, b := fetch(t, u.String(), nil); resp.StatusCode != 401 {
		t.Errorf("another item: %d %s", resp.StatusCode, b)
	}
	if resp, _ := fetch(t, emu.DownloadURL+"/_layouts/15/download.aspx?UniqueId="+graph.ItemID(size), nil); resp.StatusCode != 401 {
		t.Errorf("no tempauth: %d", resp.StatusCode)
	}

	// Download URLs expire.
	emu.SetDownloadLifetime(50 * time.Millisecond)
	short := downloadLink(t, tok, size)
	emu.SetDownloadLifetime(graph.DefaultDownloadLifetime)
	time.Sleep(100 * time.Millisecond)
	resp, b = fetch(t, short, nil)
	if resp.StatusCode != 401 || !strings.Contains(descriptionOf(t, b), "expired") {
		t.Errorf("expired: %d %s", resp.StatusCode, b)
	}

	// A client that follows redirects (Go's drops Authorization when the host
	// changes) gets the bytes in one call.
	req, _ := http.NewRequest(http.MethodGet, emu.URL+"/v1.0/me/drive/items/"+graph.ItemID(size)+"/content", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	r2, err := emu.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(r2.Body)
	r2.Body.Close()
	if r2.StatusCode != 200 || !bytes.Equal(b, want) {
		t.Errorf("followed: %d, %d bytes", r2.StatusCode, len(b))
	}

	// The item's eTag answers 304 on Graph; an unknown item 404.
	resp, _ = get(t, "/v1.0/me/drive/items/"+graph.ItemID(size)+"/content", tok, map[string]string{"If-None-Match": `"{` + graph.ItemID(size) + `},1"`})
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: %d", resp.StatusCode)
	}
	resp, b = get(t, "/v1.0/me/drive/items/NOPE/content", tok, nil)
	if resp.StatusCode != 404 || decodeError(t, b).Error.Code != "itemNotFound" {
		t.Errorf("unknown item: %d %s", resp.StatusCode, b)
	}
}

// TestDownloadCarriesCut: a Cut scripted for the /content request cuts the
// bytes, which travel from the download host.
func TestDownloadCarriesCut(t *testing.T) {
	kai := newUser("Kai Cut")
	tok := graphToken(kai, "Files.Read", nil)
	emu.Script(kai.ObjectID, graph.Failure{Cut: 10 << 10})
	loc := downloadLink(t, tok, 100<<10)
	resp, err := emu.Client().Get(loc)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err == nil || n >= 100<<10 {
		t.Errorf("read %d bytes, error %v: want the transfer cut", n, err)
	}
	resp, b := fetch(t, loc, nil) // the cut applied once
	if resp.StatusCode != 200 || len(b) != 100<<10 {
		t.Errorf("second download: %d, %d bytes", resp.StatusCode, len(b))
	}
}

func TestPhoto(t *testing.T) {
	lea := newUser("Lea Photo")
	tok := graphToken(lea, "User.Read", nil)
	resp, b := get(t, "/v1.0/me/photo/$value", tok, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/jpeg" || !bytes.Equal(b, graph.Photo(lea.ObjectID)) {
		t.Fatalf("photo: %d %v", resp.StatusCode, resp.Header)
	}
	img, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not a JPEG: %v", err)
	}
	if bnd := img.Bounds(); bnd.Dx() != graph.PhotoSize || bnd.Dy() != graph.PhotoSize {
		t.Errorf("size %v", bnd)
	}
	if !bytes.Equal(graph.Photo(lea.ObjectID), graph.Photo(lea.ObjectID)) || bytes.Equal(b, graph.Photo(newUser("Max Other").ObjectID)) {
		t.Error("the photo is not deterministic per user")
	}

	emu.SetNoPhoto(lea.ObjectID)
	resp, b = get(t, "/v1.0/me/photo/$value", tok, nil)
	if e := decodeError(t, b); resp.StatusCode != 404 || e.Error.Code != "ErrorEntityNotFound" || !strings.Contains(e.Error.Message, "ImageNotFoundException") {
		t.Errorf("no photo: %d %s", resp.StatusCode, b)
	}
}
