// Package graph emulates the parts of Microsoft Graph the add-in's API calls,
// following Graph's documented wire formats rather than our code's assumptions:
// the OData error object ({"error":{"code","message","innerError":{"date",
// "request-id","client-request-id"}}}), request-id and client-request-id
// headers, throttling (429 with Retry-After), continuous access evaluation
// claims challenges (401 with WWW-Authenticate error="insufficient_claims" and
// base64 claims) to CAE-capable tokens only (cae.go), /me with @odata.context, message collections with $top and
// @odata.nextLink, a JPEG /me/photo/$value (or 404 for a user without one),
// drive item downloads as a 302 to a pre-authenticated URL on a second host
// (download.go), and JSON batching (batch.go). Every route is served under
// both /v1.0 and /beta. For dev/doctor it also serves an app registration's
// directory objects, read-only, from a fixture (directory.go, /v1.0 only).
//
// It answers from the Graph token it receives: the token must be one the Entra
// ID emulator signed (verify is entra.Server.VerifyIssued), for Graph's
// audience, with the delegated scope the endpoint needs; /me shows the token's
// user. Tests script failures per user (Script) and count requests; a request
// inside a $batch is a request like any other for both.
//
// It is a development tool: nothing in handler/ or functions/ imports it.
package graph

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/addinsso/addinsso/dev/testca"
	"github.com/addinsso/addinsso/handler/entra"
)

// Graph's resource identifiers, accepted as a token's audience besides the
// emulator's own URL.
const (
	ResourceURL = "https://graph.microsoft.com"
	AppID       = "00000003-0000-0000-c000-000000000000"
)

// AnyUser scripts a failure for whichever user's request comes next.
const AnyUser = "*"

// authorizationURI is what Graph's 401 challenges name; the emulator answers as
// the public cloud does.
const authorizationURI = "https://login.microsoftonline.com/common/oauth2/authorize"

// maxUpload bounds PUT .../content, as Graph's simple upload does (250 MB).
const maxUpload = 250 << 20

// MaxContentSize bounds the size ItemID can name.
const MaxContentSize = 1 << 30

// Server is a running emulator.
type Server struct {
	URL string // https://127.0.0.1:<port>, the value for GRAPH_BASE_URL
	// DownloadURL is the origin of the pre-authenticated download URLs that
	// .../content redirects to: https://localhost:<another port>, another host
	// name than URL's, as SharePoint's hosts are to graph.microsoft.com. The
	// test CA's certificate covers it.
	DownloadURL string
	CA          *testca.CA

	srv    *http.Server
	dl     *http.Server
	verify func(string) (map[string]any, error)
	mux    *http.ServeMux

	mu        sync.Mutex
	revoked   map[string]int64 // oid -> unix time of RevokeSessions
	hooks     map[string][]hook
	scripts   map[string][]Failure
	last      map[string]Request
	noPhoto   map[string]bool
	carried   map[string]carry // download nonce -> Stall and Cut scripted for the /content request
	directory Directory        // directory.go

	tempauthKey []byte
	lifetime    atomic.Int64 // of download URLs, in nanoseconds

	total     atomic.Int64
	batches   atomic.Int64
	downloads atomic.Int64
	counts    sync.Map // oid -> *atomic.Int64
}

// Failure scripts one answer. A zero Status answers normally, after Delay and
// with Stall applied to the body.
type Failure struct {
	Status     int           // 401, 403, 429, 503, 504, 302...
	RetryAfter time.Duration // sent as Retry-After (whole seconds, rounded up)
	Claims     string        // claims request JSON: a 401/403 becomes a claims challenge, for CAE-capable tokens only
	Location   string        // for 3xx
	Delay      time.Duration // wait before answering at all
	Stall      time.Duration // send the first 1 KiB of the body, then wait this long; for .../content, of the download it redirects to
	Cut        int64         // send only this many bytes of the body, then drop the connection; for .../content, likewise
	Header     http.Header   // added to the answer
	Times      int           // how many of the user's next requests it applies to; 0 means 1
}

// Throttled answers 429 TooManyRequests.
func Throttled(retryAfter time.Duration) Failure {
	return Failure{Status: http.StatusTooManyRequests, RetryAfter: retryAfter}
}

// Unavailable answers 503 serviceNotAvailable.
func Unavailable(retryAfter time.Duration) Failure {
	return Failure{Status: http.StatusServiceUnavailable, RetryAfter: retryAfter}
}

// Revoked answers 401 InvalidAuthenticationToken without a claims challenge,
// as Graph does for a token it no longer accepts.
func Revoked() Failure { return Failure{Status: http.StatusUnauthorized} }

// ClaimsChallenge answers a claims challenge; empty claims ask for a token
// issued after now, as a revocation event does. Only a CAE-capable token (xms_cc
// cp1) gets it: any other token is served as if nothing were scripted, as Graph
// sends claims challenges only to clients that declared the capability. For a
// revocation, prefer RevokeSessions, which challenges every earlier token.
func ClaimsChallenge(claims string) Failure {
	if claims == "" {
		claims = fmt.Sprintf(`{"access_token":{"nbf":{"essential":true,"value":"%d"}}}`, time.Now().Unix())
	}
	return Failure{Status: http.StatusUnauthorized, Claims: claims}
}

// Redirect answers 302 Found to location.
func Redirect(location string) Failure {
	return Failure{Status: http.StatusFound, Location: location}
}

// Request is what the emulator saw of a request, for tests to check what
// reached Graph.
type Request struct {
	Method     string
	Path       string // as sent, escaped
	RawQuery   string
	Header     http.Header
	BodyBytes  int64
	BodySHA256 string // hex
}

// Start listens on a free loopback port with a certificate from ca. verify
// checks a Graph token's signature and expiry and returns its claims
// (entra.Server.VerifyIssued).
func Start(ca *testca.CA, verify func(token string) (map[string]any, error)) (*Server, error) {
	return StartOn("127.0.0.1:0", ca, verify)
}

// StartOn listens on addr for Graph, and on another port for the download host
// (DownloadURL): 127.0.0.1, named localhost, when addr is a loopback address;
// otherwise the same address.
func StartOn(addr string, ca *testca.CA, verify func(token string) (map[string]any, error)) (*Server, error) {
	if ca == nil || verify == nil {
		return nil, fmt.Errorf("graph: a CA and a token verifier are required")
	}
	tlsConfig, err := ca.ServerConfig()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	dlAddr, dlHost := downloadAddr(ln.Addr())
	dln, err := net.Listen("tcp", dlAddr)
	if err != nil {
		ln.Close()
		return nil, err
	}
	_, dlPort, _ := net.SplitHostPort(dln.Addr().String())
	s := &Server{
		URL:         "https://" + ln.Addr().String(),
		DownloadURL: "https://" + net.JoinHostPort(dlHost, dlPort),
		CA:          ca,
		verify:      verify,
		scripts:     make(map[string][]Failure),
		revoked:     make(map[string]int64),
		hooks:       make(map[string][]hook),
		last:        make(map[string]Request),
		noPhoto:     make(map[string]bool),
		carried:     make(map[string]carry),
		tempauthKey: make([]byte, 32),
	}
	_, _ = rand.Read(s.tempauthKey)
	s.lifetime.Store(int64(DefaultDownloadLifetime))
	s.routes()
	s.srv = &http.Server{Handler: s, TLSConfig: tlsConfig, ReadHeaderTimeout: 10 * time.Second}
	s.dl = &http.Server{Handler: http.HandlerFunc(s.serveDownload), TLSConfig: tlsConfig.Clone(), ReadHeaderTimeout: 10 * time.Second}
	go s.srv.ServeTLS(ln, "", "")
	go s.dl.ServeTLS(dln, "", "")
	return s, nil
}

// Close stops both hosts, cutting requests still in flight.
func (s *Server) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for _, srv := range []*http.Server{s.srv, s.dl} {
		if srv.Shutdown(ctx) != nil {
			_ = srv.Close()
		}
	}
}

// Client trusts the emulator's CA.
func (s *Server) Client() *http.Client { return s.CA.Client() }

// Script queues failures for the next requests of the user with object ID oid
// (or AnyUser). A user's own queue is used before AnyUser's.
func (s *Server) Script(oid string, f ...Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range f {
		if x.Times <= 0 {
			x.Times = 1
		}
		s.scripts[oid] = append(s.scripts[oid], x)
	}
}

// Total is how many HTTP requests the emulator received, on Graph's host and
// on the download host. A $batch is one HTTP request, however many it holds.
func (s *Server) Total() int64 { return s.total.Load() }

// Count is how many requests came with a valid token of the user oid. Each
// request inside a $batch counts, as it would sent alone; the $batch itself
// does not, nor does a download from DownloadURL (it carries no token).
func (s *Server) Count(oid string) int64 { return s.counter(oid).Load() }

// Batches is how many $batch requests arrived with a valid token.
func (s *Server) Batches() int64 { return s.batches.Load() }

// Downloads is how many requests reached the download host, valid or not.
func (s *Server) Downloads() int64 { return s.downloads.Load() }

// SetNoPhoto makes the user oid one without a profile photo: /me/photo/$value
// answers 404 (Photo(oid) still returns the bytes the user would otherwise get).
func (s *Server) SetNoPhoto(oid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noPhoto[oid] = true
}

// LastRequest is the user's most recent request.
func (s *Server) LastRequest(oid string) (Request, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.last[oid]
	return r, ok
}

func (s *Server) counter(oid string) *atomic.Int64 {
	c, _ := s.counts.LoadOrStore(oid, new(atomic.Int64))
	return c.(*atomic.Int64)
}

// next takes the failure scripted for oid's next request, if any.
func (s *Server) next(oid string) (Failure, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, key := range []string{oid, AnyUser} {
		q := s.scripts[key]
		if len(q) == 0 {
			continue
		}
		f := q[0]
		if q[0].Times--; q[0].Times == 0 {
			s.scripts[key] = q[1:]
		}
		return f, true
	}
	return Failure{}, false
}

// user is who a verified Graph token speaks for.
type user struct {
	oid, tid, name, username string
	scopes                   []string
	iat                      int64
	cae                      bool // the token is CAE-capable: xms_cc has cp1
}

type ctxKey struct{}

type call struct {
	user   user
	reqID  string
	crid   string
	stall  time.Duration
	cut    int64
	server *Server
}

func (s *Server) newCall(crid string) *call {
	c := &call{reqID: entra.NewGUID(), crid: crid, server: s}
	if c.crid == "" {
		c.crid = c.reqID
	}
	return c
}

// ServeHTTP authenticates, then serves a $batch or the one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.total.Add(1)
	c := s.newCall(r.Header.Get("client-request-id"))
	h := w.Header()
	h.Set("request-id", c.reqID)
	h.Set("client-request-id", c.crid)
	h.Set("x-ms-ags-diagnostic", `{"ServerInfo":{"DataCenter":"Emulated","Slice":"E","Ring":"1","ScaleUnit":"000","RoleInstance":"EMULATOR"}}`)
	h.Set("Strict-Transport-Security", "max-age=31536000")

	u, status, msg := s.authenticate(r)
	if status != 0 {
		if status == http.StatusUnauthorized {
			h.Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="", authorization_uri="%s", client_id="%s"`, authorizationURI, AppID))
		}
		c.error(w, status, "InvalidAuthenticationToken", msg)
		return
	}
	c.user = u
	if s.revokedToken(u) {
		c.revocationChallenge(w)
		return
	}
	if version, ok := batchPath(r); ok {
		s.batches.Add(1)
		c.batch(w, r, version)
		return
	}
	s.serve(c, w, r)
}

// serve counts and records one request of c.user, applies the user's script,
// then routes it: a request sent alone, or one inside a $batch.
func (s *Server) serve(c *call, w http.ResponseWriter, r *http.Request) {
	f, scripted := s.next(c.user.oid)
	s.serveScripted(c, w, r, f, scripted)
}

// serveScripted serves r with the scripted failure f already taken (when
// scripted), so a batch can take its requests' failures in their order and
// then run them at once.
func (s *Server) serveScripted(c *call, w http.ResponseWriter, r *http.Request, f Failure, scripted bool) {
	u := c.user
	h := w.Header()
	s.counter(u.oid).Add(1)
	body := &countingBody{r: r.Body, h: sha256.New()}
	r.Body = body
	defer func() { s.record(u.oid, r, body) }()

	defer s.runHooks(u.oid)
	if scripted && f.Claims != "" && !u.cae {
		f, scripted = Failure{}, false // Graph challenges only CAE-capable tokens
	}
	if scripted {
		if f.Delay > 0 && !sleep(r.Context(), f.Delay) {
			return
		}
		for k, vs := range f.Header {
			for _, v := range vs {
				h.Add(k, v)
			}
		}
		if f.Status != 0 {
			c.fail(w, f)
			return
		}
		c.stall, c.cut = f.Stall, f.Cut
	}
	s.mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, c)))
}

func (s *Server) record(oid string, r *http.Request, b *countingBody) {
	req := Request{
		Method:     r.Method,
		Path:       r.URL.EscapedPath(),
		RawQuery:   r.URL.RawQuery,
		Header:     r.Header.Clone(),
		BodyBytes:  b.n,
		BodySHA256: hex.EncodeToString(b.h.Sum(nil)),
	}
	s.mu.Lock()
	s.last[oid] = req
	s.mu.Unlock()
}

// authenticate checks the bearer token as Graph does: present, signed by Entra,
// unexpired, for Graph, a user's. Scopes are checked per endpoint.
func (s *Server) authenticate(r *http.Request) (user, int, string) {
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return user{}, http.StatusUnauthorized, "Access token is empty."
	}
	claims, err := s.verify(strings.TrimSpace(tok))
	switch {
	case err != nil && strings.Contains(err.Error(), "expired"):
		return user{}, http.StatusUnauthorized, "Access token has expired or is not yet valid."
	case err != nil && strings.Count(tok, ".") != 2:
		return user{}, http.StatusUnauthorized, "CompactToken parsing failed with error code: 80049217"
	case err != nil:
		return user{}, http.StatusUnauthorized, "Access token validation failure."
	}
	if aud, _ := claims["aud"].(string); aud != s.URL && aud != ResourceURL && aud != AppID {
		return user{}, http.StatusUnauthorized, "Access token validation failure. Invalid audience."
	}
	str := func(k string) string { v, _ := claims[k].(string); return v }
	iat, _ := claims["iat"].(float64)
	u := user{oid: str("oid"), tid: str("tid"), name: str("name"), scopes: strings.Fields(str("scp")), iat: int64(iat), cae: capable(claims["xms_cc"])}
	u.username = str("preferred_username")
	if u.username == "" {
		u.username = str("upn")
	}
	if u.oid == "" || len(u.scopes) == 0 {
		return user{}, http.StatusBadRequest, "/me request is only valid with delegated authentication flow."
	}
	return u, 0, ""
}

func (s *Server) routes() {
	s.mux = http.NewServeMux()
	userRead := []string{"User.Read", "User.ReadWrite", "User.Read.All", "User.ReadWrite.All", "Directory.Read.All"}
	mailRead := []string{"Mail.ReadBasic", "Mail.Read", "Mail.ReadWrite"}
	filesRead := []string{"Files.Read", "Files.ReadWrite", "Files.Read.All", "Files.ReadWrite.All"}
	filesWrite := []string{"Files.ReadWrite", "Files.ReadWrite.All"}

	for _, v := range versions {
		v = "/" + v
		s.handle("GET "+v+"/me", userRead, "Authorization_RequestDenied", (*call).me)
		s.handle("GET "+v+"/me/photo/$value", userRead, "Authorization_RequestDenied", (*call).photo)
		s.handle("GET "+v+"/me/messages", mailRead, "ErrorAccessDenied", (*call).messages)
		s.handle("GET "+v+"/me/messages/{id}", mailRead, "ErrorAccessDenied", (*call).message)
		s.handle("POST "+v+"/me/sendMail", []string{"Mail.Send"}, "ErrorAccessDenied", (*call).sendMail)
		s.handle("GET "+v+"/me/drive/items/{id}/content", filesRead, "accessDenied", (*call).download)
		s.handle("PUT "+v+"/me/drive/items/{id}/content", filesWrite, "accessDenied", (*call).upload)
	}
	s.directoryRoutes()
	s.mux.HandleFunc("/", noSegment)
}

// noSegment is Graph's answer to a path it does not serve.
func noSegment(w http.ResponseWriter, r *http.Request) {
	c := r.Context().Value(ctxKey{}).(*call)
	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	c.error(w, http.StatusBadRequest, "BadRequest", fmt.Sprintf("Resource not found for the segment '%s'.", segs[len(segs)-1]))
}

// versions are the API versions every route is served under.
var versions = []string{"v1.0", "beta"}

// base is the service root of the request's version, as @odata.context and
// @odata.nextLink name it.
func (c *call) base(r *http.Request) string {
	v, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	return c.server.URL + "/" + v
}

// handle serves pattern to tokens carrying any of scopes; without one Graph
// answers 403 with the workload's own error code.
func (s *Server) handle(pattern string, scopes []string, deniedCode string, h func(*call, http.ResponseWriter, *http.Request)) {
	s.mux.HandleFunc(pattern, guard(scopes, deniedCode, h))
}

// guard serves h to tokens carrying any of scopes (see handle).
func guard(scopes []string, deniedCode string, h func(*call, http.ResponseWriter, *http.Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c := r.Context().Value(ctxKey{}).(*call)
		if !slices.ContainsFunc(scopes, func(sc string) bool { return slices.Contains(c.user.scopes, sc) }) {
			msg := "Access is denied. Check credentials and try again."
			if deniedCode == "Authorization_RequestDenied" {
				msg = "Insufficient privileges to complete the operation."
			}
			c.error(w, http.StatusForbidden, deniedCode, msg)
			return
		}
		if c.stall > 0 {
			w = &stallWriter{ResponseWriter: w, ctx: r.Context(), after: 1 << 10, d: c.stall}
		}
		if c.cut > 0 {
			w = &cutWriter{ResponseWriter: w, left: c.cut}
		}
		h(c, w, r)
	}
}

// fail writes a scripted failure in Graph's format.
func (c *call) fail(w http.ResponseWriter, f Failure) {
	h := w.Header()
	if f.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int((f.RetryAfter+time.Second-1)/time.Second)))
	}
	switch {
	case f.Status >= 300 && f.Status < 400:
		if f.Location != "" {
			h.Set("Location", f.Location)
		}
		w.WriteHeader(f.Status)
	case f.Claims != "" && (f.Status == http.StatusUnauthorized || f.Status == http.StatusForbidden):
		h.Set("WWW-Authenticate", challengeHeader(f.Claims))
		c.error(w, f.Status, "InvalidAuthenticationToken",
			"Continuous access evaluation resulted in challenge with result: InteractionRequired and code: TokenIssuedBeforeRevocationTimestamp")
	case f.Status == http.StatusUnauthorized:
		h.Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="", authorization_uri="%s", client_id="%s"`, authorizationURI, AppID))
		c.error(w, f.Status, "InvalidAuthenticationToken", "Access token has expired or is not yet valid.")
	case f.Status == http.StatusTooManyRequests:
		c.error(w, f.Status, "TooManyRequests", "Too many requests from Identifier:"+c.user.oid+" under category:throttle.emulated. Please try again later.")
	case f.Status == http.StatusServiceUnavailable:
		c.error(w, f.Status, "serviceNotAvailable", "The service is not available. Try the request again after a delay.")
	case f.Status == http.StatusGatewayTimeout:
		c.error(w, f.Status, "UnknownError", "")
	default:
		c.error(w, f.Status, "generalException", "An emulated failure occurred.")
	}
}

// error writes Graph's OData error object.
func (c *call) error(w http.ResponseWriter, status int, code, message string) {
	type inner struct {
		Date            string `json:"date"`
		RequestID       string `json:"request-id"`
		ClientRequestID string `json:"client-request-id"`
	}
	var body struct {
		Error struct {
			Code       string `json:"code"`
			Message    string `json:"message"`
			InnerError inner  `json:"innerError"`
		} `json:"error"`
	}
	body.Error.Code, body.Error.Message = code, message
	body.Error.InnerError = inner{time.Now().UTC().Format("2006-01-02T15:04:05"), c.reqID, c.crid}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8")
	h.Set("OData-Version", "4.0")
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// profile is Graph's user resource in the default property set, in Graph's order.
type profile struct {
	Context           string   `json:"@odata.context"`
	BusinessPhones    []string `json:"businessPhones"`
	DisplayName       string   `json:"displayName"`
	GivenName         *string  `json:"givenName"`
	JobTitle          *string  `json:"jobTitle"`
	Mail              string   `json:"mail"`
	MobilePhone       *string  `json:"mobilePhone"`
	OfficeLocation    *string  `json:"officeLocation"`
	PreferredLanguage *string  `json:"preferredLanguage"`
	Surname           *string  `json:"surname"`
	UserPrincipalName string   `json:"userPrincipalName"`
	ID                string   `json:"id"`
}

func (c *call) me(w http.ResponseWriter, r *http.Request) {
	p := profile{
		Context:           c.base(r) + "/$metadata#users/$entity",
		BusinessPhones:    []string{},
		DisplayName:       c.user.name,
		Mail:              c.user.username,
		UserPrincipalName: c.user.username,
		ID:                c.user.oid,
	}
	if given, sur, ok := strings.Cut(c.user.name, " "); ok {
		p.GivenName, p.Surname = &given, &sur
	}
	writeJSON(w, http.StatusOK, p)
}

// Content is the deterministic body of one of the user's drive items, size
// bytes long, generated as it is read.
func Content(oid string, size int64) io.Reader {
	return io.LimitReader(mrand.NewChaCha8(sha256.Sum256([]byte(oid))), size)
}

// ItemID names a drive item whose content is size bytes.
func ItemID(size int64) string { return "01EMU" + strconv.FormatInt(size, 10) }

func itemSize(id string) (int64, bool) {
	n, err := strconv.ParseInt(strings.TrimPrefix(id, "01EMU"), 10, 64)
	if !strings.HasPrefix(id, "01EMU") || err != nil || n < 0 || n > MaxContentSize {
		return 0, false
	}
	return n, true
}

func (c *call) upload(w http.ResponseWriter, r *http.Request) {
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(r.Body, maxUpload+1))
	switch {
	case err != nil:
		c.error(w, http.StatusBadRequest, "invalidRequest", "The request body could not be read.")
		return
	case n > maxUpload:
		c.error(w, http.StatusRequestEntityTooLarge, "invalidRequest", "The request is too large; use an upload session.")
		return
	}
	id := r.PathValue("id")
	writeJSON(w, http.StatusOK, map[string]any{
		"@odata.context": c.base(r) + "/$metadata#users('" + c.user.oid + "')/drive/items/$entity",
		"id":             id,
		"name":           id + ".bin",
		"size":           n,
		"file":           map[string]any{"mimeType": "application/octet-stream", "hashes": map[string]string{"sha256Hash": strings.ToUpper(hex.EncodeToString(h.Sum(nil)))}},
	})
}

func (c *call) sendMail(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Message *json.RawMessage `json:"message"`
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil || len(b) == 0 {
		c.error(w, http.StatusBadRequest, "BadRequest", "Empty Payload. JSON content expected.")
		return
	}
	if json.Unmarshal(b, &req) != nil || req.Message == nil {
		c.error(w, http.StatusBadRequest, "ErrorInvalidParameter", "The value of the parameter 'Message' is empty.")
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// message is the default property set of Graph's message resource (abridged).
type message struct {
	Context          string      `json:"@odata.context,omitempty"`
	ETag             string      `json:"@odata.etag"`
	ID               string      `json:"id"`
	ReceivedDateTime string      `json:"receivedDateTime"`
	SentDateTime     string      `json:"sentDateTime"`
	HasAttachments   bool        `json:"hasAttachments"`
	Subject          string      `json:"subject"`
	BodyPreview      string      `json:"bodyPreview"`
	Importance       string      `json:"importance"`
	ConversationID   string      `json:"conversationId"`
	IsRead           bool        `json:"isRead"`
	IsDraft          bool        `json:"isDraft"`
	Body             itemBody    `json:"body"`
	Sender           recipient   `json:"sender"`
	From             recipient   `json:"from"`
	ToRecipients     []recipient `json:"toRecipients"`
	CcRecipients     []recipient `json:"ccRecipients"`
}

type itemBody struct {
	ContentType string `json:"contentType"`
	Content     string `json:"content"`
}

type recipient struct {
	EmailAddress struct {
		Name    string `json:"name"`
		Address string `json:"address"`
	} `json:"emailAddress"`
}

func newRecipient(name, address string) recipient {
	var r recipient
	r.EmailAddress.Name, r.EmailAddress.Address = name, address
	return r
}

// MessagesPerUser is how many messages each mailbox holds.
const MessagesPerUser = 8

var subjects = []string{"Welcome aboard, %s", "%s, your quarterly report", "Lunch on Friday, %s?", "Action required: %s, review the budget",
	"Re: %s's travel plans", "%s, the design review moved", "Invitation for %s: all-hands", "%s, your package has shipped"}

// MessageID is the ID of the user's i-th message: base64url, ending in '=' as
// Exchange's IDs do.
func MessageID(oid string, i int) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s/message/%d", oid, i)))
	return "AAMkA" + base64.RawURLEncoding.EncodeToString(sum[:30]) + "AAA="
}

func (c *call) mailbox(textBody bool) []message {
	u := c.user
	base := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	out := make([]message, MessagesPerUser)
	for i := range out {
		at := base.Add(-time.Duration(i) * 7 * time.Hour).Format(time.RFC3339)
		id := MessageID(u.oid, i)
		subject := fmt.Sprintf(subjects[i%len(subjects)], u.name)
		preview := fmt.Sprintf("Hi %s, this is message %d of your emulated mailbox.", u.name, i+1)
		body := itemBody{"html", "<html><body><p>" + preview + "</p></body></html>"}
		if textBody {
			body = itemBody{"text", preview}
		}
		sender := newRecipient("Emulated Sender", "sender@contoso.example")
		out[i] = message{
			ETag:             `W/"CQAAABYAAAA` + id[5:17] + `"`,
			ID:               id,
			ReceivedDateTime: at,
			SentDateTime:     at,
			Subject:          subject,
			BodyPreview:      preview,
			Importance:       "normal",
			ConversationID:   "AAQkA" + id[5:25] + "=",
			IsRead:           i%2 == 1,
			Body:             body,
			Sender:           sender,
			From:             sender,
			ToRecipients:     []recipient{newRecipient(u.name, u.username)},
			CcRecipients:     []recipient{},
		}
	}
	return out
}

// textBodies honours Prefer: outlook.body-content-type="text" and says so.
func textBodies(w http.ResponseWriter, r *http.Request) bool {
	for _, p := range r.Header.Values("Prefer") {
		if strings.Contains(strings.ReplaceAll(p, " ", ""), `outlook.body-content-type="text"`) {
			w.Header().Set("Preference-Applied", `outlook.body-content-type="text"`)
			return true
		}
	}
	return false
}

func (c *call) messages(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	top, skip := 10, 0
	for name, dst := range map[string]*int{"$top": &top, "$skip": &skip} {
		if v := q.Get(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || (name == "$top" && (n < 1 || n > 1000)) {
				c.error(w, http.StatusBadRequest, "BadRequest", fmt.Sprintf("Invalid value '%s' for query option '%s'.", v, name))
				return
			}
			*dst = n
		}
	}
	all := c.mailbox(textBodies(w, r))
	page := all[min(skip, len(all)):min(skip+top, len(all))]
	resp := struct {
		Context  string    `json:"@odata.context"`
		Value    []message `json:"value"`
		NextLink string    `json:"@odata.nextLink,omitempty"`
	}{Context: c.base(r) + "/$metadata#users('" + c.user.oid + "')/messages", Value: page}
	if skip+top < len(all) {
		resp.NextLink = c.base(r) + "/me/messages?" + url.Values{"$top": {strconv.Itoa(top)}, "$skip": {strconv.Itoa(skip + top)}}.Encode()
	}
	writeJSON(w, http.StatusOK, resp)
}

func (c *call) message(w http.ResponseWriter, r *http.Request) {
	for _, m := range c.mailbox(textBodies(w, r)) {
		if m.ID != r.PathValue("id") {
			continue
		}
		w.Header().Set("ETag", m.ETag)
		if inm := r.Header.Get("If-None-Match"); inm != "" && (inm == m.ETag || inm == "*") {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		m.Context = c.base(r) + "/$metadata#users('" + c.user.oid + "')/messages/$entity"
		writeJSON(w, http.StatusOK, m)
		return
	}
	c.error(w, http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
}

// stallWriter sends the first after bytes, flushes them, then waits before the rest.
type stallWriter struct {
	http.ResponseWriter
	ctx     context.Context
	after   int
	d       time.Duration
	written int
	stalled bool
}

func (s *stallWriter) Write(p []byte) (int, error) {
	if s.stalled || s.written+len(p) <= s.after {
		n, err := s.ResponseWriter.Write(p)
		s.written += n
		return n, err
	}
	head := s.after - s.written
	n, err := s.ResponseWriter.Write(p[:head])
	s.written += n
	if err != nil {
		return n, err
	}
	_ = http.NewResponseController(s.ResponseWriter).Flush()
	s.stalled = true
	if !sleep(s.ctx, s.d) {
		return n, s.ctx.Err()
	}
	m, err := s.ResponseWriter.Write(p[head:])
	s.written += m
	return n + m, err
}

func (s *stallWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// cutWriter sends left bytes of the body, then drops the connection, as a
// failing backend does mid-answer.
type cutWriter struct {
	http.ResponseWriter
	left int64
}

func (c *cutWriter) Write(p []byte) (int, error) {
	if int64(len(p)) <= c.left {
		c.left -= int64(len(p))
		return c.ResponseWriter.Write(p)
	}
	_, _ = c.ResponseWriter.Write(p[:c.left])
	_ = http.NewResponseController(c.ResponseWriter).Flush()
	panic(http.ErrAbortHandler)
}

func (c *cutWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

type countingBody struct {
	r io.ReadCloser
	h hash.Hash
	n int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += int64(n)
	b.h.Write(p[:n])
	return n, err
}

func (b *countingBody) Close() error { return b.r.Close() }

// sleep waits d unless ctx ends first; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
