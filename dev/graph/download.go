package graph

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/addinsso/addinsso/handler/entra"
)

// Downloads follow "Download the contents of a DriveItem" (driveitem-get-content):
//
//	GET /me/drive/items/{item-id}/content
//	"Returns a 302 Found response redirecting to a preauthenticated download
//	URL for the file [...] To download the contents of the file your
//	application needs to follow the Location header in the response."
//	"Preauthenticated download URLs are only valid for a short period of time
//	(a few minutes) and don't require an Authorization header to download."
//	"You must append the Range header to the actual @microsoft.graph.downloadUrl
//	URL and not to the request for /content." -> 206 Partial Content.
//
// The URL points at the download host (Server.DownloadURL), shaped as
// SharePoint's: /_layouts/15/download.aspx?UniqueId=...&Translate=false&
// tempauth=...&ApiVersion=2.0, where tempauth is a short-lived token signed by
// the emulator, bound to the user and the item.
//
// Stricter than the real host on purpose: it refuses any request that carries
// an Authorization header. OneDrive's engineers have said the download hosts
// should ignore one ("we should essentially be ignoring any unnecessary (or
// even invalid) Authentication headers", OneDrive/onedrive-api-docs#486),
// though they have at times answered 401 to it. Here it is always a 401, so a
// client that forwards its Graph token to the download host (say, by copying
// headers when it follows the redirect) fails its tests instead of leaking the
// token to a host that is not Graph.

// DefaultDownloadLifetime is how long a download URL stays valid: "a few
// minutes".
const DefaultDownloadLifetime = 3 * time.Minute

// downloadPath is SharePoint's download page, the path of every download URL.
const downloadPath = "/_layouts/15/download.aspx"

// SetDownloadLifetime sets how long the download URLs issued from now on stay
// valid (d > 0), so tests can watch one expire.
func (s *Server) SetDownloadLifetime(d time.Duration) {
	if d > 0 {
		s.lifetime.Store(int64(d))
	}
}

// downloadAddr is where the download host listens, and the host name its URLs
// use: on loopback, 127.0.0.1 named "localhost", a host name other than Graph's
// 127.0.0.1 (so a client's redirect policy treats it as another host, as it
// would SharePoint). Elsewhere, the same address on another port.
func downloadAddr(graph net.Addr) (addr, host string) {
	if a, ok := graph.(*net.TCPAddr); ok && !a.IP.IsLoopback() {
		return net.JoinHostPort(a.IP.String(), "0"), a.IP.String()
	}
	return "127.0.0.1:0", "localhost"
}

// carry is what a scripted Stall or Cut of a /content request does to the
// download it redirects to: the bytes travel there, so the failure does too.
type carry struct {
	stall time.Duration
	cut   int64
	exp   time.Time
}

// itemETag is the drive item's eTag; the content never changes.
func itemETag(id string) string { return `"{` + id + `},1"` }

// download answers GET .../items/{id}/content with Graph's 302.
func (c *call) download(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, ok := itemSize(id); !ok {
		c.error(w, http.StatusNotFound, "itemNotFound", "The resource could not be found.")
		return
	}
	// "if-none-match: If this request header is included and the eTag (or
	// cTag) provided matches the current tag on the file, an HTTP 304 Not
	// Modified response is returned."
	if inm := r.Header.Get("If-None-Match"); inm != "" && (inm == itemETag(id) || inm == "*") {
		w.Header().Set("ETag", itemETag(id))
		w.WriteHeader(http.StatusNotModified)
		return
	}
	loc := c.server.downloadLink(c.user.oid, id, carry{stall: c.stall, cut: c.cut})
	c.stall, c.cut = 0, 0
	w.Header().Set("Location", loc)
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusFound)
}

// tempauth is what a download URL's token says.
type tempauth struct {
	OID   string `json:"oid"`
	Item  string `json:"item"`
	Exp   int64  `json:"exp"` // Unix milliseconds
	Nonce string `json:"nonce"`
}

// downloadLink issues a download URL for the user's item, valid for the
// current lifetime.
func (s *Server) downloadLink(oid, item string, cr carry) string {
	nonce := make([]byte, 12)
	_, _ = rand.Read(nonce)
	exp := time.Now().Add(time.Duration(s.lifetime.Load()))
	claims := tempauth{OID: oid, Item: item, Exp: exp.UnixMilli(), Nonce: base64.RawURLEncoding.EncodeToString(nonce)}
	if cr.stall > 0 || cr.cut > 0 {
		cr.exp = exp
		s.mu.Lock()
		for k, v := range s.carried {
			if time.Now().After(v.exp) {
				delete(s.carried, k)
			}
		}
		s.carried[claims.Nonce] = cr
		s.mu.Unlock()
	}
	q := url.Values{"UniqueId": {item}, "Translate": {"false"}, "tempauth": {s.signTempauth(claims)}, "ApiVersion": {"2.0"}}
	return s.DownloadURL + downloadPath + "?" + q.Encode()
}

func (s *Server) signTempauth(t tempauth) string {
	b, _ := json.Marshal(t)
	body := "v1." + base64.RawURLEncoding.EncodeToString(b)
	m := hmac.New(sha256.New, s.tempauthKey)
	m.Write([]byte(body))
	return body + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

var errExpired = errors.New("expired")

func (s *Server) verifyTempauth(tok string) (tempauth, error) {
	var t tempauth
	body, sig, ok := cutLast(tok, ".")
	mac, err := base64.RawURLEncoding.DecodeString(sig)
	if !ok || !strings.HasPrefix(body, "v1.") || err != nil {
		return t, errors.New("malformed")
	}
	m := hmac.New(sha256.New, s.tempauthKey)
	m.Write([]byte(body))
	if !hmac.Equal(mac, m.Sum(nil)) {
		return t, errors.New("bad signature")
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(body, "v1."))
	if err != nil || json.Unmarshal(b, &t) != nil {
		return t, errors.New("malformed")
	}
	if time.Now().UnixMilli() >= t.Exp {
		return t, errExpired
	}
	return t, nil
}

func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}

// serveDownload is the download host: the item's bytes for a valid download
// URL, with no Authorization (refused), ranges and conditional requests as
// net/http serves them.
func (s *Server) serveDownload(w http.ResponseWriter, r *http.Request) {
	s.total.Add(1)
	s.downloads.Add(1)
	h := w.Header()
	h.Set("request-id", entra.NewGUID())
	h.Set("Strict-Transport-Security", "max-age=31536000")
	if r.URL.Path != downloadPath {
		downloadError(w, http.StatusNotFound, "The file was not found.")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		downloadError(w, http.StatusMethodNotAllowed, "The method is not allowed.")
		return
	}
	if len(r.Header.Values("Authorization")) > 0 {
		downloadError(w, http.StatusUnauthorized, "A pre-authenticated download URL takes no Authorization header: "+
			"the emulator refuses one so that a Graph token never reaches a host that is not Graph.")
		return
	}
	q := r.URL.Query()
	t, err := s.verifyTempauth(q.Get("tempauth"))
	switch {
	case errors.Is(err, errExpired):
		downloadError(w, http.StatusUnauthorized, "Invalid JWT token. The token is expired.")
		return
	case err != nil || t.Item != q.Get("UniqueId"):
		downloadError(w, http.StatusUnauthorized, "Invalid tempauth token.")
		return
	}
	size, ok := itemSize(t.Item)
	if !ok {
		downloadError(w, http.StatusNotFound, "The file was not found.")
		return
	}
	s.mu.Lock()
	cr := s.carried[t.Nonce]
	delete(s.carried, t.Nonce)
	s.mu.Unlock()
	if cr.stall > 0 {
		w = &stallWriter{ResponseWriter: w, ctx: r.Context(), after: 1 << 10, d: cr.stall}
	}
	if cr.cut > 0 {
		w = &cutWriter{ResponseWriter: w, left: cr.cut}
	}
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", `attachment; filename="`+t.Item+`.bin"`)
	h.Set("ETag", itemETag(t.Item))
	h.Set("Cache-Control", "private, max-age=0")
	http.ServeContent(w, r, "", time.Time{}, &contentSeeker{seed: sha256.Sum256([]byte(t.OID)), size: size})
}

// downloadError answers as SharePoint does, with its own small error object,
// not Graph's.
func downloadError(w http.ResponseWriter, status int, description string) {
	b, _ := json.Marshal(map[string]string{"error_description": description})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// contentSeeker is Content as an io.ReadSeeker, for ranges: seeking back
// restarts the stream, seeking forward skips what lies between.
type contentSeeker struct {
	seed     [32]byte
	size     int64
	pos      int64 // where the next Read starts
	gen      *mrand.ChaCha8
	genPos   int64 // how far gen has been read
	skipBuff []byte
}

func (c *contentSeeker) Read(p []byte) (int, error) {
	if c.pos >= c.size {
		return 0, io.EOF
	}
	if c.gen == nil || c.genPos > c.pos {
		c.gen, c.genPos = mrand.NewChaCha8(c.seed), 0
	}
	for c.genPos < c.pos {
		if c.skipBuff == nil {
			c.skipBuff = make([]byte, 32<<10)
		}
		n := min(int64(len(c.skipBuff)), c.pos-c.genPos)
		_, _ = c.gen.Read(c.skipBuff[:n])
		c.genPos += n
	}
	p = p[:min(int64(len(p)), c.size-c.pos)]
	n, _ := c.gen.Read(p)
	c.pos += int64(n)
	c.genPos += int64(n)
	return n, nil
}

func (c *contentSeeker) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += c.pos
	case io.SeekEnd:
		offset += c.size
	default:
		return 0, errors.New("graph: invalid whence")
	}
	if offset < 0 {
		return 0, errors.New("graph: negative position")
	}
	c.pos = offset
	return offset, nil
}
