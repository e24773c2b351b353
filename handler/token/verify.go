// Package token verifies the access tokens an Office add-in's task pane sends:
// Entra ID tokens, v1.0 or v2.0, whose audience is the add-in's own app
// registration, whether obtained with Office's legacy SSO or with MSAL.js
// Nested App Authentication.
//
// Checks run cheapest first: size and shape, the JOSE header (RS256 only, a
// plain kid, no key-carrying parameters), lifetime, version, audience; then
// Entra's metadata (fetched lazily) for the issuer and the signature; then
// policy: a user (not app-only) token, tenant, scope, MFA. Every failure is a
// *problem.Error whose detail says what was expected.
package token

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/addinsso/addinsso/handler/config"
	"github.com/addinsso/addinsso/handler/entra"
	"github.com/addinsso/addinsso/handler/lru"
	"github.com/addinsso/addinsso/handler/problem"
)

const (
	// MaxTokenBytes bounds a token; Entra keeps access tokens small (groups
	// overflow to an overage claim), so anything larger is refused unread.
	MaxTokenBytes = 16 << 10
	// maxHeaderBytes bounds the encoded JOSE header, checked before any decoding.
	maxHeaderBytes = 1 << 10
	// ClockSkew is how far exp and nbf may be off.
	ClockSkew = 5 * time.Minute
)

// Config says which tokens a Verifier accepts; main fills it from the
// validated settings.
type Config struct {
	ClientID       string
	AppIDURI       string   // also accepted as the audience of v1.0 tokens
	TenantID       string   // config.MultiTenant, config.Common or one tenant's ID, lower case
	AllowedTenants []string // lower case; empty: all
	RequiredScope  string
	// AllowedClientApps are the client IDs (lower case) a token's azp (v2.0)
	// or appid (v1.0) may name.
	AllowedClientApps []string
	MFA               config.MFAPolicy
	AuthorityHost     string // e.g. https://login.microsoftonline.com
}

// Options tunes a Verifier; the zero value is the production setting.
type Options struct {
	// Logger receives failed key fetches. nil: slog.Default().
	Logger *slog.Logger
	// Now is the clock. nil: time.Now.
	Now func() time.Time
	// HTTPClient fetches Entra's metadata. nil: entra.HTTPClient().
	HTTPClient *http.Client
	// KeyRefreshInterval is the least time between JWKS refreshes caused by an
	// unknown kid. 0: 5 minutes.
	KeyRefreshInterval time.Duration
	// MemoSize bounds the verified-token memo. 0: 10,000 tokens.
	MemoSize int
}

// Verifier verifies tokens and remembers the verified ones until they expire,
// so a repeat caller costs a hash and a map lookup, no RSA work.
type Verifier struct {
	cfg  Config
	keys *keySource
	memo *lru.Cache[[sha256.Size]byte, *Identity]
	now  func() time.Time
}

// New returns a Verifier. It makes no network call: Entra's metadata is fetched
// when the first token arrives.
func New(cfg Config, opts Options) *Verifier {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = entra.HTTPClient()
	}
	if opts.KeyRefreshInterval == 0 {
		opts.KeyRefreshInterval = 5 * time.Minute
	}
	if opts.MemoSize == 0 {
		opts.MemoSize = 10_000
	}
	// common's discovery documents give the issuers as {tenantid} templates, for
	// every tenant; a single-tenant API enforces its tenant as policy, after the
	// signature, like the allow-list.
	base := cfg.AuthorityHost + "/common"
	return &Verifier{
		cfg: cfg,
		keys: &keySource{
			client:          opts.HTTPClient,
			log:             opts.Logger,
			v2URL:           base + "/v2.0/.well-known/openid-configuration",
			v1URL:           base + "/.well-known/openid-configuration",
			refreshInterval: opts.KeyRefreshInterval,
			retryInterval:   5 * time.Second,
			maxAge:          24 * time.Hour,
			now:             opts.Now,
		},
		memo: lru.New[[sha256.Size]byte, *Identity](opts.MemoSize),
		now:  opts.Now,
	}
}

// header is the part of the JOSE header we read. Parameters that carry or point
// to keys are decoded only to be refused.
type header struct {
	Alg  string          `json:"alg"`
	Kid  json.RawMessage `json:"kid"`
	Crit json.RawMessage `json:"crit"`
	JKU  json.RawMessage `json:"jku"`
	JWK  json.RawMessage `json:"jwk"`
	X5U  json.RawMessage `json:"x5u"`
	X5C  json.RawMessage `json:"x5c"`
	B64  json.RawMessage `json:"b64"`
	Zip  json.RawMessage `json:"zip"`
}

// claims are the access token claims we use (Entra's access token claims reference).
type claims struct {
	Iss        string       `json:"iss"`
	Aud        audience     `json:"aud"`
	Exp        *numericDate `json:"exp"`
	Nbf        *numericDate `json:"nbf"`
	Ver        string       `json:"ver"`
	Tid        string       `json:"tid"`
	Oid        string       `json:"oid"`
	Scp        string       `json:"scp"`
	Roles      []string     `json:"roles"`
	Idtyp      string       `json:"idtyp"`
	Azp        string       `json:"azp"`   // v2.0
	AppID      string       `json:"appid"` // v1.0
	Name       string       `json:"name"`
	Preferred  string       `json:"preferred_username"` // v2.0
	UPN        string       `json:"upn"`                // v1.0
	UniqueName string       `json:"unique_name"`        // v1.0
	AMR        []string     `json:"amr"`                // v1.0 only
	ACRS       []string     `json:"acrs"`
}

var kidPattern = regexp.MustCompile(`^[A-Za-z0-9_\-]{1,128}$`)

// Verify checks raw and returns who the caller is. Errors are *problem.Error.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Identity, error) {
	if raw == "" {
		return nil, problem.New(problem.MissingToken, "Send the add-in's access token as X-Addin-Authorization: Bearer <token>.")
	}
	if len(raw) > MaxTokenBytes {
		return nil, invalid("The token is larger than %d bytes.", MaxTokenBytes)
	}
	now := v.now()
	memoKey := sha256.Sum256([]byte(raw))
	if id, ok := v.memo.Get(memoKey, now); ok {
		return id, nil
	}
	id, exp, err := v.verify(ctx, raw, now)
	if err != nil {
		return nil, err
	}
	v.memo.Put(memoKey, id, exp)
	return id, nil
}

func (v *Verifier) verify(ctx context.Context, raw string, now time.Time) (*Identity, time.Time, error) {
	var none time.Time
	encHeader, rest, ok1 := strings.Cut(raw, ".")
	encPayload, encSig, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(encSig, ".") || encHeader == "" || encPayload == "" {
		return nil, none, invalid("The token is not a compact JWS (header.payload.signature).")
	}
	if encSig == "" {
		return nil, none, invalid("The token is unsigned.")
	}
	if len(encHeader) > maxHeaderBytes {
		return nil, none, invalid("The token header is larger than %d bytes.", maxHeaderBytes)
	}
	var h header
	if err := decodeSegment(encHeader, &h); err != nil {
		return nil, none, invalid("The token header is not base64url JSON.")
	}
	kid, err := h.check()
	if err != nil {
		return nil, none, invalid("The token header is refused: %v.", err)
	}
	var c claims
	if err := decodeSegment(encPayload, &c); err != nil {
		return nil, none, invalid("The token payload is not base64url JSON with Entra's claim types.")
	}
	if err := v.checkClaims(&c, now); err != nil {
		return nil, none, err
	}

	ks, err := v.keys.get(ctx)
	if err != nil {
		return nil, none, unavailable(err)
	}
	if want := issuer(ks, c.Ver, c.Tid); c.Iss != want {
		return nil, none, invalid("Issuer %q is not %q (the issuer of a v%s token of tenant %s).", c.Iss, want, c.Ver, c.Tid)
	}
	key, err := v.keys.key(ctx, ks, kid)
	if errors.Is(err, errEntraUnavailable) {
		return nil, none, unavailable(err)
	}
	if err != nil {
		return nil, none, invalid("The token is signed with a key Entra ID does not publish.")
	}
	if _, err := jws.VerifyCompactFast(key, []byte(raw), jwa.RS256()); err != nil {
		return nil, none, invalid("The token's signature does not verify.")
	}

	if err := v.checkPolicy(&c); err != nil {
		return nil, none, err
	}
	return c.identity(v.cfg.MFA), c.Exp.Time, nil
}

// check refuses every header that could make us trust a key the token names.
func (h *header) check() (kid string, err error) {
	if h.Alg != "RS256" {
		return "", fmt.Errorf("alg %q is not RS256, the only algorithm Entra ID signs access tokens with", h.Alg)
	}
	for name, v := range map[string]json.RawMessage{"jku": h.JKU, "jwk": h.JWK, "x5u": h.X5U, "x5c": h.X5C, "crit": h.Crit, "b64": h.B64, "zip": h.Zip} {
		if v != nil {
			return "", fmt.Errorf("the token header carries %q; keys come only from Entra ID's published key set", name)
		}
	}
	if err := json.Unmarshal(h.Kid, &kid); err != nil || !kidPattern.MatchString(kid) {
		return "", errors.New("the token header has no plain kid (key ID)")
	}
	return kid, nil
}

func (v *Verifier) checkClaims(c *claims, now time.Time) error {
	if c.Exp == nil {
		return invalid("The token has no exp (expiry).")
	}
	if now.After(c.Exp.Add(ClockSkew)) {
		return problem.New(problem.TokenExpired, "The token expired at %s; get a fresh one from Office (or MSAL) and retry.", c.Exp.UTC().Format(time.RFC3339))
	}
	if c.Nbf != nil && now.Add(ClockSkew).Before(c.Nbf.Time) {
		return invalid("The token is not valid before %s; check the clocks.", c.Nbf.UTC().Format(time.RFC3339))
	}
	if c.Ver != "1.0" && c.Ver != "2.0" {
		return invalid("Token version %q is neither 1.0 nor 2.0.", c.Ver)
	}
	if !entra.IsGUID(c.Tid) {
		return invalid("The token has no tenant ID (tid).")
	}
	if !v.audienceOK(c) {
		want := v.cfg.ClientID
		if c.Ver == "1.0" && v.cfg.AppIDURI != "" {
			want += " or " + v.cfg.AppIDURI
		}
		return invalid("Audience %q is not this API (%s); the task pane must ask for a token for the add-in's own app registration.", c.Aud.String(), want)
	}
	return nil
}

// audienceOK: v2.0 tokens name the client ID; v1.0 tokens name whatever the
// client asked for, the App ID URI usually, or the client ID.
func (v *Verifier) audienceOK(c *claims) bool {
	if len(c.Aud) != 1 {
		return false
	}
	aud := c.Aud[0]
	if c.Ver == "2.0" {
		return aud == v.cfg.ClientID
	}
	return aud == v.cfg.ClientID || (v.cfg.AppIDURI != "" && aud == v.cfg.AppIDURI)
}

func issuer(ks *keySet, ver, tid string) string {
	tmpl := ks.v2Issuer
	if ver == "1.0" {
		tmpl = ks.v1Issuer
	}
	return strings.Replace(tmpl, "{tenantid}", tid, 1)
}

func (v *Verifier) checkPolicy(c *claims) error {
	if c.Scp == "" || c.Idtyp == "app" {
		return invalid("The token is app-only (no scp); this API acts for a signed-in user.")
	}
	if !entra.IsGUID(c.Oid) {
		return invalid("The token has no user object ID (oid).")
	}
	// Entra writes IDs in lower case; the cache key and the allow-lists do too.
	c.Tid, c.Oid = strings.ToLower(c.Tid), strings.ToLower(c.Oid)
	if v.cfg.TenantID != config.MultiTenant && c.Tid != v.cfg.TenantID {
		return problem.New(problem.TenantNotAllowed, "Tenant %s is not the tenant this API serves.", c.Tid)
	}
	if len(v.cfg.AllowedTenants) > 0 && !slices.Contains(v.cfg.AllowedTenants, c.Tid) {
		return problem.New(problem.TenantNotAllowed, "Tenant %s is not in ADDIN_ALLOWED_TENANTS.", c.Tid)
	}
	if !slices.Contains(strings.Fields(c.Scp), v.cfg.RequiredScope) {
		return problem.New(problem.InsufficientScope, "The token's scopes (%s) lack %q; expose it on the app registration and request it.", c.Scp, v.cfg.RequiredScope)
	}
	return v.checkMFA(c)
}

func (v *Verifier) checkMFA(c *claims) error {
	switch p := v.cfg.MFA; p.Mode {
	case config.MFAAMR:
		if c.Ver == "2.0" && c.AMR == nil {
			return problem.New(problem.ServerMisconfigured, "ADDIN_MFA_POLICY=amr needs v1.0 tokens but this is v2.0, which carries no amr: use acrs:<context id> or set requestedAccessTokenVersion to 1.")
		}
		if !slices.Contains(c.AMR, "mfa") {
			return problem.New(problem.MFARequired, "The token does not show multi-factor authentication (amr lacks mfa; Outlook desktop's token can be minted without it); sign in again with the claims.").
				WithClaims(`{"access_token":{"amr":{"essential":true,"values":["mfa"]}}}`)
		}
	case config.MFAACRS:
		if !slices.Contains(c.ACRS, p.Context) {
			return problem.New(problem.MFARequired, "The token lacks authentication context %s (acrs); sign in again with the claims.", p.Context).
				WithClaims(fmt.Sprintf(`{"access_token":{"acrs":{"essential":true,"value":"%s"}}}`, p.Context))
		}
	}
	return nil
}

func invalid(format string, args ...any) *problem.Error {
	return problem.New(problem.InvalidToken, format, args...)
}

func unavailable(err error) *problem.Error {
	return problem.New(problem.UpstreamUnavailable, "Entra ID's signing keys cannot be fetched right now, so the token cannot be verified.").
		WithRetryAfter(5 * time.Second).WithCause(err)
}

// decodeSegment decodes one unpadded base64url JWS segment into v.
func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.Strict().DecodeString(seg)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// audience is aud, a string or an array of strings.
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*a = audience{s}
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return err
	}
	*a = l
	return nil
}

func (a audience) String() string { return strings.Join(a, ",") }

// numericDate is a JWT NumericDate (seconds since the epoch, maybe fractional).
type numericDate struct{ time.Time }

func (d *numericDate) UnmarshalJSON(b []byte) error {
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	if f < 0 || f > 1e11 {
		return errors.New("date out of range")
	}
	d.Time = time.Unix(int64(f), 0)
	return nil
}
