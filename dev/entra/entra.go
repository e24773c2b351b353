// Package entra emulates the parts of Microsoft Entra ID the handler talks to,
// following Entra's documented wire formats: OpenID Connect discovery (v1.0 and
// v2.0), the JWKS with key rotation and each key's issuer (a tenant may have a
// key of its own, as personal accounts do), (obo.go) the v2.0 token endpoint doing
// On-Behalf-Of for registered confidential apps (apps.go), and (identity.go) the
// managed identity endpoint of App Service and Azure Functions.
// Tests and the local sandbox also use it to mint user access tokens of either
// version with any claims. It serves TLS with a CA made at run time (testca).
//
// It is a development tool: nothing in handler/ imports it.
package entra

import (
	"cmp"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/addinsso/addinsso/dev/testca"
	hentra "github.com/addinsso/addinsso/handler/entra"
)

// V1Issuer is Entra's issuer format for v1.0 access tokens (the public cloud's STS host).
const V1Issuer = "https://sts.windows.net/{tenantid}/"

// ConsumersTenantID is the tenant of personal Microsoft accounts: Entra's key
// set holds a key scoped to it (see TenantKey).
const ConsumersTenantID = "9188040d-6c67-4c5b-b112-36a304b66dad"

// Server is a running emulator.
type Server struct {
	URL string // https://127.0.0.1:<port>, the value for ENTRA_AUTHORITY_HOST
	CA  *testca.CA
	// HomeTenantID is the tenant the emulated app registrations and managed
	// identities live in: it names the issuer of managed identity tokens.
	HomeTenantID string
	// IdentityEndpoint and IdentityHeader are the managed identity endpoint, as
	// App Service and Azure Functions set them in IDENTITY_ENDPOINT and
	// IDENTITY_HEADER (see IdentityEnv).
	IdentityEndpoint string
	IdentityHeader   string

	srv      *http.Server
	identity *http.Server // the managed identity endpoint: plain HTTP on loopback, as on App Service
	mu       sync.Mutex
	// keys are published in the JWKS; signer signs new tokens of tenants
	// that have no key of their own.
	keys    []*signingKey
	signer  *signingKey
	down    atomic.Bool
	latency atomic.Int64 // time.Duration added to discovery and JWKS answers
	counts  sync.Map     // endpoint name -> *atomic.Int64

	obo oboState // the token endpoint's state (obo.go)
}

type signingKey struct {
	kid string
	key *rsa.PrivateKey
	// tenant is the one tenant whose tokens the key signs; "" for the keys
	// of every tenant, published with the issuer template.
	tenant string
}

func newSigningKey(tenant string) (*signingKey, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	sum := sha1.Sum(key.PublicKey.N.Bytes())
	return &signingKey{kid: base64.RawURLEncoding.EncodeToString(sum[:]), key: key, tenant: tenant}, nil
}

// Start listens on a free loopback port. ca may be nil to make a new one.
func Start(ca *testca.CA) (*Server, error) {
	return StartOn("127.0.0.1:0", ca)
}

// StartOn listens on addr.
func StartOn(addr string, ca *testca.CA) (*Server, error) {
	var err error
	if ca == nil {
		if ca, err = testca.New(); err != nil {
			return nil, err
		}
	}
	tlsConfig, err := ca.ServerConfig()
	if err != nil {
		return nil, err
	}
	s := &Server{CA: ca, HomeTenantID: NewGUID()}
	if _, err := s.Rotate(); err != nil {
		return nil, err
	}
	s.obo.init()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	host, _, _ := net.SplitHostPort(ln.Addr().String())
	identityLn, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		ln.Close()
		return nil, err
	}
	s.URL = "https://" + ln.Addr().String()
	s.IdentityEndpoint = "http://" + identityLn.Addr().String() + "/msi/token"
	s.IdentityHeader = randomID()
	s.srv = &http.Server{Handler: s.routes(), TLSConfig: tlsConfig, ReadHeaderTimeout: 10 * time.Second}
	s.identity = &http.Server{Handler: s.identityRoutes(), ReadHeaderTimeout: 10 * time.Second}
	go s.srv.ServeTLS(ln, "", "")
	go s.identity.Serve(identityLn)
	return s, nil
}

// Close stops the server at once. (A graceful Shutdown would wait a second
// for each HTTP/2 client to acknowledge GOAWAY, in every test.)
func (s *Server) Close() {
	_ = s.srv.Close()
	_ = s.identity.Close()
}

// Client trusts the emulator's CA.
func (s *Server) Client() *http.Client { return s.CA.Client() }

// SetDown makes every endpoint answer 503, as during an outage.
func (s *Server) SetDown(down bool) { s.down.Store(down) }

// SetLatency makes the discovery and JWKS endpoints wait d before answering
// (less if the client hangs up), as a distant or loaded Entra does. 0 removes it.
func (s *Server) SetLatency(d time.Duration) { s.latency.Store(int64(d)) }

// delay waits the latency SetLatency set; false if the client hung up first.
func (s *Server) delay(r *http.Request) bool {
	d := time.Duration(s.latency.Load())
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// Count is how many requests an endpoint served: "discovery", "jwks", "token",
// "identity" (the managed identity endpoint).
func (s *Server) Count(endpoint string) int64 { return s.counter(endpoint).Load() }

func (s *Server) counter(endpoint string) *atomic.Int64 {
	c, _ := s.counts.LoadOrStore(endpoint, new(atomic.Int64))
	return c.(*atomic.Int64)
}

// Rotate publishes a new signing key and signs new tokens with it; older keys
// stay published until Retire, as Entra overlaps keys during a rollover.
func (s *Server) Rotate() (kid string, err error) {
	k, err := newSigningKey("")
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = append(s.keys, k)
	s.signer = k
	return k.kid, nil
}

// TenantKey publishes a signing key scoped to one tenant, made on first use,
// and returns its kid. Entra's key set holds such a key for personal Microsoft
// accounts (ConsumersTenantID): its issuer member names that tenant's issuer
// instead of the {tenantid} template, so it verifies only that tenant's
// tokens. From then on Issue signs the tenant's tokens with it.
func (s *Server) TenantKey(tenantID string) (kid string, err error) {
	if k := s.tenantKey(tenantID); k != nil {
		return k.kid, nil
	}
	k, err := newSigningKey(tenantID)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, have := range s.keys {
		if have.tenant == tenantID { // made meanwhile
			return have.kid, nil
		}
	}
	s.keys = append(s.keys, k)
	return k.kid, nil
}

func (s *Server) tenantKey(tenantID string) *signingKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range s.keys {
		if tenantID != "" && k.tenant == tenantID {
			return k
		}
	}
	return nil
}

// SignWithTenantKey signs claims with tenantID's own key (see TenantKey),
// whatever tenant the claims name: attack tests use it to present one
// tenant's key with another tenant's iss and tid.
func (s *Server) SignWithTenantKey(tenantID string, header, claims map[string]any) string {
	if _, err := s.TenantKey(tenantID); err != nil {
		panic(err)
	}
	return s.signWith(s.tenantKey(tenantID), header, claims)
}

// Retire removes a key from the JWKS (tokens it signed stop verifying once
// a verifier refreshes).
func (s *Server) Retire(kid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, k := range s.keys {
		if k.kid == kid {
			s.keys = append(s.keys[:i], s.keys[i+1:]...)
			return
		}
	}
}

// SigningKeyID is the kid new tokens carry.
func (s *Server) SigningKeyID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.signer.kid
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", s.discovery("2.0"))
	mux.HandleFunc("GET /{tenant}/.well-known/openid-configuration", s.discovery("1.0"))
	mux.HandleFunc("GET /{tenant}/discovery/v2.0/keys", s.jwks("2.0"))
	mux.HandleFunc("GET /{tenant}/discovery/keys", s.jwks("1.0"))
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", s.token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.down.Load() {
			http.Error(w, "Service Unavailable", http.StatusServiceUnavailable)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// discovery answers the OpenID Connect metadata document. For the common and
// organizations authorities the issuer is the template with {tenantid}, as Entra's is.
func (s *Server) discovery(version string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.counter("discovery").Add(1)
		if !s.delay(r) {
			return
		}
		tenant := r.PathValue("tenant")
		issuerTenant := tenant
		if tenant == "common" || tenant == "organizations" || tenant == "consumers" {
			issuerTenant = "{tenantid}"
		}
		doc := map[string]any{
			"token_endpoint":                        s.URL + "/" + tenant + "/oauth2/v2.0/token",
			"authorization_endpoint":                s.URL + "/" + tenant + "/oauth2/v2.0/authorize",
			"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
			"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
			"subject_types_supported":               []string{"pairwise"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
			"tenant_region_scope":                   "EU",
			"cloud_instance_name":                   "microsoftonline.com",
		}
		if version == "2.0" {
			doc["issuer"] = s.URL + "/" + issuerTenant + "/v2.0"
			doc["jwks_uri"] = s.URL + "/" + tenant + "/discovery/v2.0/keys"
		} else {
			doc["issuer"] = strings.Replace(V1Issuer, "{tenantid}", issuerTenant, 1)
			doc["jwks_uri"] = s.URL + "/" + tenant + "/discovery/keys"
		}
		writeJSON(w, http.StatusOK, doc)
	}
}

// jwks answers the key set. As Entra's, the v2.0 set gives each key an issuer
// member: the {tenantid} template for the keys of every tenant, one tenant's
// issuer for a key scoped to it. The v1.0 set has no issuer members.
func (s *Server) jwks(version string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.counter("jwks").Add(1)
		if !s.delay(r) {
			return
		}
		s.mu.Lock()
		keys := make([]map[string]any, 0, len(s.keys))
		for _, k := range s.keys {
			jwk := map[string]any{
				"kty": "RSA",
				"use": "sig",
				"kid": k.kid,
				"x5t": k.kid,
				"n":   base64.RawURLEncoding.EncodeToString(k.key.N.Bytes()),
				"e":   base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.key.E)).Bytes()),
			}
			if version == "2.0" {
				jwk["issuer"] = s.URL + "/" + cmp.Or(k.tenant, "{tenantid}") + "/v2.0"
			}
			keys = append(keys, jwk)
		}
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"keys": keys})
	}
}

// User is a signed-in user of an emulated tenant.
type User struct {
	TenantID string
	ObjectID string
	Name     string
	Username string // preferred_username (v2.0) / upn (v1.0)
}

// Token describes an access token to mint; zero fields take Entra's usual values.
type Token struct {
	Version   string // "2.0" (default) or "1.0"
	Audience  string // default: the client ID passed to Issue (v2.0) or AppIDURI (v1.0) when set
	Scopes    string // scp; default "access_as_user"
	ClientApp string // azp (v2.0) / appid (v1.0); default Office on the web
	// AMR are the session's authentication methods (default pwd), shown in a
	// v1.0 token's amr; v2.0 access tokens carry no amr, but the session
	// still knows (see IssueFor).
	AMR []string
	// ACRS are the authentication contexts the session satisfied, shown in acrs.
	ACRS     []string
	IssuedAt time.Time // default now
	Lifetime time.Duration
	// Claims are added last: they override, and a nil value removes a claim.
	Claims map[string]any
	// Header entries are added to the JOSE header; a nil value removes one.
	Header map[string]any
}

// OfficeClientID is Office on the web's client ID, a pre-authorised app of add-in registrations.
const OfficeClientID = "93d53678-613d-4013-afc1-62e9e444a0a5"

// Issue mints an access token for the API clientID, signed with the user's
// tenant's own key if it has one (TenantKey), else with the current key. It is
// IssueFor without a claims request.
func (s *Server) Issue(u User, clientID string, t Token) string {
	return s.IssueFor(u, clientID, t, "")
}

// IssueFor mints the token Entra would give the user's client (Office's
// getAccessToken, MSAL) for a token request carrying claims, the claims
// request of a challenge the client answers (see honour for what Entra
// honours: a step-up shows in a v1.0 token's amr, in acrs, and in the session
// sealed in aio). The session's step-ups stay until ResetSession, so later
// tokens show them too.
func (s *Server) IssueFor(u User, clientID string, t Token, claims string) string {
	stepUp, notBefore := s.honour(u, claims)
	now := t.IssuedAt
	if now.IsZero() {
		now = s.notBeforeRevocation(u.ObjectID, time.Now())
	}
	if now.Unix() < notBefore {
		now = time.Unix(notBefore, 0)
	}
	if t.Lifetime == 0 {
		t.Lifetime = time.Hour
	}
	if t.Version == "" {
		t.Version = "2.0"
	}
	if t.Scopes == "" {
		t.Scopes = "access_as_user"
	}
	if t.ClientApp == "" {
		t.ClientApp = OfficeClientID
	}
	aud := t.Audience
	if aud == "" {
		aud = clientID
	}
	sess := session{AMR: t.AMR, ACRS: t.ACRS}
	if len(sess.AMR) == 0 {
		sess.AMR = []string{"pwd"}
	}
	sess.merge(stepUp)
	c := map[string]any{
		"aud":  aud,
		"iat":  now.Unix(),
		"nbf":  now.Unix(),
		"exp":  now.Add(t.Lifetime).Unix(),
		"tid":  u.TenantID,
		"oid":  u.ObjectID,
		"sub":  subject(u.ObjectID, clientID),
		"name": u.Name,
		"scp":  t.Scopes,
		"ver":  t.Version,
		"uti":  randomID(),
		"rh":   "0.emulated",
		"aio":  s.seal(sess),
	}
	if t.Version == "1.0" {
		c["iss"] = strings.Replace(V1Issuer, "{tenantid}", u.TenantID, 1)
		c["appid"] = t.ClientApp
		c["appidacr"] = "0"
		c["upn"] = u.Username
		c["unique_name"] = u.Username
	} else {
		c["iss"] = s.URL + "/" + u.TenantID + "/v2.0"
		c["azp"] = t.ClientApp
		c["azpacr"] = "0"
		c["preferred_username"] = u.Username
	}
	// amr is a v1.0 claim: Entra's v2.0 access tokens do not carry it
	// (MicrosoftDocs/azure-docs#85021, "Any updates on when the amr claim will
	// be available in v2.0?", answered "nothing on the public roadmap"). The
	// session (aio) still knows the methods. Attack tests add it with Claims.
	if t.Version == "1.0" {
		c["amr"] = sess.AMR
	}
	if len(sess.ACRS) > 0 {
		c["acrs"] = sess.ACRS
	}
	for k, v := range t.Claims {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	if k := s.tenantKey(u.TenantID); k != nil {
		return s.signWith(k, t.Header, c)
	}
	return s.Sign(t.Header, c)
}

// Sign signs claims with the current key as RS256, adding header entries; a
// nil header value removes that entry (e.g. "kid"). Attack tests use it directly.
func (s *Server) Sign(header, claims map[string]any) string {
	s.mu.Lock()
	k := s.signer
	s.mu.Unlock()
	return s.signWith(k, header, claims)
}

func (s *Server) signWith(k *signingKey, header, claims map[string]any) string {
	h := map[string]any{"typ": "JWT", "alg": "RS256", "kid": k.kid, "x5t": k.kid}
	for name, v := range header {
		if v == nil {
			delete(h, name)
		} else {
			h[name] = v
		}
	}
	return SignWithKey(k.key, h, claims)
}

// SignRaw signs the header and claims JSON exactly as given with the current
// key: attack tests use it for what a map cannot hold, such as a repeated
// member name.
func (s *Server) SignRaw(header, claims []byte) string {
	s.mu.Lock()
	k := s.signer
	s.mu.Unlock()
	return signInput(k.key, base64.RawURLEncoding.EncodeToString(header)+"."+base64.RawURLEncoding.EncodeToString(claims))
}

// SignWithKey signs header.claims with key, whatever the header says.
func SignWithKey(key *rsa.PrivateKey, header, claims map[string]any) string {
	return signInput(key, segment(header)+"."+segment(claims))
}

func signInput(key *rsa.PrivateKey, input string) string {
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		panic(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func segment(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// subject is pairwise per app, as Entra's sub claim is.
func subject(oid, clientID string) string {
	sum := sha256.Sum256([]byte(oid + "|" + clientID))
	return base64.RawURLEncoding.EncodeToString(sum[:])[:43]
}

func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// NewGUID returns a random GUID, for emulated tenants and users.
func NewGUID() string { return hentra.NewGUID() }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// VerifyIssued checks that tok is an RS256 token this emulator signed with a
// published key and that it has not expired, and returns its claims. The Graph
// emulator uses it to accept only Graph tokens Entra (emulated) issued.
func (s *Server) VerifyIssued(tok string) (map[string]any, error) {
	claims, err := s.verifySigned(tok)
	if err != nil {
		return nil, err
	}
	exp, _ := claims["exp"].(float64)
	if time.Now().Unix() >= int64(exp) {
		return nil, fmt.Errorf("expired")
	}
	return claims, nil
}

var (
	errMalformed    = errors.New("not a compact JWS")
	errKeyNotFound  = errors.New("the key was not found")
	errBadSignature = errors.New("bad signature")
)

// verifySigned checks that tok is an RS256 JWS signed with one of the
// published keys and returns its claims; it checks no claim.
func (s *Server) verifySigned(tok string) (map[string]any, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, errMalformed
	}
	var h struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if err := decodeJSON(parts[0], &h); err != nil || h.Alg != "RS256" {
		return nil, fmt.Errorf("bad header: %w", errMalformed)
	}
	s.mu.Lock()
	var pub *rsa.PublicKey
	for _, k := range s.keys {
		if k.kid == h.Kid {
			pub = &k.key.PublicKey
		}
	}
	s.mu.Unlock()
	if pub == nil {
		return nil, fmt.Errorf("kid %q: %w", h.Kid, errKeyNotFound)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, errBadSignature
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
		return nil, errBadSignature
	}
	var claims map[string]any
	if err := decodeJSON(parts[1], &claims); err != nil {
		return nil, fmt.Errorf("bad payload: %w", errMalformed)
	}
	return claims, nil
}

func decodeJSON(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
