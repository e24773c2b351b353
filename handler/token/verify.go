// Package token verifies the access tokens an Office add-in's task pane sends:
// Entra ID tokens, v1.0 or v2.0, whose audience is the add-in's own app
// registration, whether obtained with Office's legacy SSO or with MSAL.js
// Nested App Authentication.
//
// Checks run cheapest first: size and shape; the JOSE header (RS256 only, a
// plain kid, no key-carrying parameters) and the claims, both with exact and
// unique member names; lifetime, version, audience; then Entra's metadata
// (fetched lazily, or ahead of time by Warm) for the issuer, the key and the
// key's own issuer, and the signature; then policy: a user (not app-only)
// token, tenant, client application, scope, MFA. Every failure is a
// *problem.Error whose detail says what was expected.
package token

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
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
	// ClockSkew is how far exp, nbf and iat may be off.
	ClockSkew = 5 * time.Minute
	// MaxLifetime is the longest an Entra access token lives: 60-90 minutes by
	// default, at most a day under a configurable token lifetime policy, and
	// 20-28 hours as a long-lived token under continuous access evaluation.
	// A token whose exp is further than this from its iat or nbf (or from now,
	// when it has neither) was not minted by Entra as documented.
	MaxLifetime = 28 * time.Hour
	// PersonalAccountsTenant is the tenant of personal Microsoft accounts
	// (Outlook.com, Xbox, ...); their tokens are accepted only when the API is
	// configured for config.Common or for this tenant itself.
	PersonalAccountsTenant = "9188040d-6c67-4c5b-b112-36a304b66dad"
)

// Config says which tokens a Verifier accepts; main fills it from the
// validated settings.
type Config struct {
	ClientID string
	AppIDURI string // also accepted as the audience of v1.0 tokens
	// TenantID is config.MultiTenant (work and school accounts of any
	// tenant), config.Common (those and personal Microsoft accounts) or one
	// tenant's ID, lower case.
	TenantID       string
	AllowedTenants []string // lower case; empty: all
	RequiredScope  string
	// AllowedClientApps are the client IDs (lower case) a token's azp (v2.0)
	// or appid (v1.0) may name. Empty refuses every client: a Config made by
	// hand fails closed (config.Load fills in Office's clients and the add-in).
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
	// HTTPClient fetches Entra's metadata. nil: entra.HTTPClient(), which
	// never follows a redirect.
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
	warm sync.Once
}

// New returns a Verifier. It makes no network call: Entra's metadata is fetched
// when Warm is called or the first token arrives.
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
	return &Verifier{
		cfg:  cfg,
		keys: newKeySource(cfg.AuthorityHost, opts),
		memo: lru.New[[sha256.Size]byte, *Identity](opts.MemoSize),
		now:  opts.Now,
	}
}

// refusedHeaders carry or point to keys, or change what is signed: keys come
// only from Entra ID's published set, and Entra sets none of these.
var refusedHeaders = []string{"jku", "jwk", "x5u", "x5c", "crit", "b64", "zip"}

// headerNames are the JOSE header parameters we read.
var headerNames = append([]string{"alg", "kid"}, refusedHeaders...)

// claims are the access token claims we use (Entra's access token claims reference).
type claims struct {
	Iss        string
	Aud        audience
	Exp        *numericDate
	Nbf        *numericDate
	Iat        *numericDate
	Ver        string
	Tid        string
	Oid        string
	Scp        string
	Roles      []string
	Idtyp      string
	Azp        string // v2.0
	AppID      string // v1.0
	Name       string
	Preferred  string   // preferred_username, v2.0
	UPN        string   // v1.0
	UniqueName string   // v1.0
	AMR        []string // v1.0 only
	ACRS       []string
}

// claimFields maps each claim we read, by its exact name, to its field.
var claimFields = []field[claims]{
	{"iss", func(c *claims) any { return &c.Iss }},
	{"aud", func(c *claims) any { return &c.Aud }},
	{"exp", func(c *claims) any { return &c.Exp }},
	{"nbf", func(c *claims) any { return &c.Nbf }},
	{"iat", func(c *claims) any { return &c.Iat }},
	{"ver", func(c *claims) any { return &c.Ver }},
	{"tid", func(c *claims) any { return &c.Tid }},
	{"oid", func(c *claims) any { return &c.Oid }},
	{"scp", func(c *claims) any { return &c.Scp }},
	{"roles", func(c *claims) any { return &c.Roles }},
	{"idtyp", func(c *claims) any { return &c.Idtyp }},
	{"azp", func(c *claims) any { return &c.Azp }},
	{"appid", func(c *claims) any { return &c.AppID }},
	{"name", func(c *claims) any { return &c.Name }},
	{"preferred_username", func(c *claims) any { return &c.Preferred }},
	{"upn", func(c *claims) any { return &c.UPN }},
	{"unique_name", func(c *claims) any { return &c.UniqueName }},
	{"amr", func(c *claims) any { return &c.AMR }},
	{"acrs", func(c *claims) any { return &c.ACRS }},
}

var claimNames = names(claimFields)

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

// Warm starts fetching Entra's metadata and signing keys in the background,
// the first time it is called, so that the first token finds them. It never
// blocks. Call it once the host's first ping has been answered: nothing is
// fetched before Warm or the first token asks.
func (v *Verifier) Warm() {
	v.warm.Do(func() { v.keys.begin(v.keys.maxAge) })
}

func (v *Verifier) verify(ctx context.Context, raw string, now time.Time) (*Identity, time.Time, error) {
	var none time.Time
	kid, c, err := parse(raw)
	if err != nil {
		return nil, none, err
	}
	if err := v.checkClaims(c, now); err != nil {
		return nil, none, err
	}

	ks, err := v.keys.get(ctx)
	if err != nil {
		return nil, none, err
	}
	if want := issuer(ks, c.Ver, c.Tid); c.Iss != want {
		return nil, none, invalid("Issuer %q is not %q (the issuer of a v%s token of tenant %s).", c.Iss, want, c.Ver, c.Tid)
	}
	key, err := v.keys.key(ctx, kid, c.issued())
	if err != nil {
		return nil, none, err
	}
	// Entra scopes each key to an issuer: the {tenantid} template for the keys
	// of every tenant, one tenant's issuer for a key of its own (personal
	// accounts'). The key set is v2.0's, so its issuers are v2.0 issuers: a
	// v1.0 token is held to the v2.0 issuer of its own tenant, as Microsoft's
	// own validator does. iss was checked against tid above, so this ties the
	// key to the token's tenant.
	if key.issuer != "" {
		if want := issuer(ks, "2.0", c.Tid); strings.Replace(key.issuer, "{tenantid}", c.Tid, 1) != want {
			return nil, none, invalid("The token's key %s signs only for issuer %s, not for tenant %s.", kid, key.issuer, c.Tid)
		}
	}
	if _, err := jws.VerifyCompactFast(key.pub, []byte(raw), jwa.RS256()); err != nil {
		return nil, none, invalid("The token's signature does not verify.")
	}

	if err := v.checkPolicy(c); err != nil {
		return nil, none, err
	}
	return c.identity(v.cfg.MFA), c.Exp.Time, nil
}

// parse reads raw's shape, JOSE header and claims, refusing what Verify
// refuses before any check of their values; it returns the kid and the claims.
func parse(raw string) (kid string, c *claims, err error) {
	encHeader, rest, ok1 := strings.Cut(raw, ".")
	encPayload, encSig, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(encSig, ".") || encHeader == "" || encPayload == "" {
		return "", nil, invalid("The token is not a compact JWS (header.payload.signature).")
	}
	if encSig == "" {
		return "", nil, invalid("The token is unsigned.")
	}
	if len(encHeader) > maxHeaderBytes {
		return "", nil, invalid("The token header is larger than %d bytes.", maxHeaderBytes)
	}
	h, err := members(encHeader, headerNames)
	if errors.Is(err, errTooManyMembers) {
		return "", nil, invalid("The token header has more than %d parameters.", maxMembers)
	}
	if dup, ok := errors.AsType[*duplicateError](err); ok {
		return "", nil, invalid("The token header names %q twice; header parameter names are case-sensitive and each may appear once.", dup.name)
	}
	if err != nil {
		return "", nil, invalid("The token header is not base64url JSON.")
	}
	kid, err = checkHeader(h)
	if err != nil {
		return "", nil, invalid("The token header is refused: %v.", err)
	}
	m, err := members(encPayload, claimNames)
	if errors.Is(err, errTooManyMembers) {
		return "", nil, invalid("The token has more than %d claims; Entra ID's access tokens have a few dozen.", maxMembers)
	}
	if dup, ok := errors.AsType[*duplicateError](err); ok {
		return "", nil, invalid("The token names claim %q twice; claim names are case-sensitive and each may appear once.", dup.name)
	}
	var cl claims
	if err == nil {
		err = decodeFields(m, claimFields, &cl)
	}
	if err != nil {
		return "", nil, invalid("The token payload is not base64url JSON with Entra's claim types.")
	}
	return kid, &cl, nil
}

// checkHeader refuses every header that could make us trust a key the token
// names, and returns the kid.
func checkHeader(h map[string]json.RawMessage) (kid string, err error) {
	var alg string
	if json.Unmarshal(h["alg"], &alg) != nil || alg != "RS256" {
		return "", fmt.Errorf("alg %q is not RS256, the only algorithm Entra ID signs access tokens with", shorten(alg))
	}
	for _, name := range refusedHeaders {
		if _, ok := h[name]; ok {
			return "", fmt.Errorf("the token header carries %q; keys come only from Entra ID's published key set", name)
		}
	}
	if json.Unmarshal(h["kid"], &kid) != nil || !kidPattern.MatchString(kid) {
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
	if c.Iat != nil && now.Add(ClockSkew).Before(c.Iat.Time) {
		return invalid("The token was issued in the future (iat %s); check the clocks.", c.Iat.UTC().Format(time.RFC3339))
	}
	// From the earliest of iat, nbf and now (with skew): neither a token
	// without iat and nbf nor one that claims a later start can live longer.
	start := now.Add(ClockSkew)
	for _, t := range []*numericDate{c.Iat, c.Nbf} {
		if t != nil && t.Before(start) {
			start = t.Time
		}
	}
	if c.Exp.Sub(start) > MaxLifetime {
		return invalid("The token expires at %s, more than %d hours after it was issued; Entra ID's access tokens live at most that long.", c.Exp.UTC().Format(time.RFC3339), int(MaxLifetime.Hours()))
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

// issued is when the token says it was issued: iat, else nbf; zero if neither.
func (c *claims) issued() time.Time {
	switch {
	case c.Iat != nil:
		return c.Iat.Time
	case c.Nbf != nil:
		return c.Nbf.Time
	}
	return time.Time{}
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

// issuer is the issuer a token of version ver and tenant tid must name, from
// the discovery documents' {tenantid} templates.
func issuer(ks *keySet, ver, tid string) string {
	tmpl := ks.v2Issuer
	if ver == "1.0" {
		tmpl = ks.v1Issuer
	}
	return strings.Replace(tmpl, "{tenantid}", tid, 1)
}

// clientApp is the application the token was issued to, and the claim that
// names it: azp in v2.0 tokens, appid in v1.0 tokens.
func (c *claims) clientApp() (id, claim string) {
	if c.Ver == "2.0" {
		return strings.ToLower(c.Azp), "azp"
	}
	return strings.ToLower(c.AppID), "appid"
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
	switch t := v.cfg.TenantID; {
	case t == config.Common:
	case c.Tid == PersonalAccountsTenant && t != PersonalAccountsTenant:
		return problem.New(problem.TenantNotAllowed, "Tenant %s is personal Microsoft accounts, which this API accepts only with ADDIN_TENANT_ID=common.", c.Tid)
	case t != config.MultiTenant && c.Tid != t:
		return problem.New(problem.TenantNotAllowed, "Tenant %s is not the tenant this API serves.", c.Tid)
	}
	if len(v.cfg.AllowedTenants) > 0 && !slices.Contains(v.cfg.AllowedTenants, c.Tid) {
		return problem.New(problem.TenantNotAllowed, "Tenant %s is not in ADDIN_ALLOWED_TENANTS.", c.Tid)
	}
	switch client, claim := c.clientApp(); {
	case !entra.IsGUID(client):
		return invalid("The token names no client application (%s).", claim)
	case len(v.cfg.AllowedClientApps) == 0:
		return problem.New(problem.ClientNotAllowed, "Client application %s is refused: no client application is allowed (ADDIN_ALLOWED_CLIENT_APPS is empty).", client)
	case !slices.Contains(v.cfg.AllowedClientApps, client):
		return problem.New(problem.ClientNotAllowed, "Client application %s (the token's %s) is not in ADDIN_ALLOWED_CLIENT_APPS.", client, claim)
	}
	if !slices.Contains(strings.Fields(c.Scp), v.cfg.RequiredScope) {
		return problem.New(problem.InsufficientScope, "The token's scopes (%s) lack %q; expose it on the app registration and request it.", c.Scp, v.cfg.RequiredScope)
	}
	return v.checkMFA(c)
}

// checkMFA applies ADDIN_MFA_POLICY. Only acrs has a step-up Entra documents:
// the Conditional Access authentication context developer guide has an API
// answer a claims challenge such as {"access_token":{"acrs":{"essential":true,"value":"c1"}}},
// which the client passes to Entra (Office's authChallenge, MSAL's claims) to
// make the user satisfy the context's policy. Entra documents no claims
// request for amr, so an amr challenge would be ignored and answered again
// with the same token: a loop. Without MFA in amr the answer is for an
// administrator instead: require MFA for the add-in with Conditional Access.
func (v *Verifier) checkMFA(c *claims) error {
	switch p := v.cfg.MFA; p.Mode {
	case config.MFAAMR:
		if c.Ver == "2.0" && c.AMR == nil {
			return problem.New(problem.ServerMisconfigured, "ADDIN_MFA_POLICY=amr needs v1.0 tokens but this is v2.0, which carries no amr: use acrs:<context id> or set the app registration's requestedAccessTokenVersion to 1.")
		}
		if !showsMFA(c.AMR) {
			return problem.New(problem.MFAMissing, "The token does not show multi-factor authentication (amr lacks mfa; Outlook desktop's token can be minted from a Primary Refresh Token without it), and Entra offers no claims request that adds it. "+
				"An administrator must require MFA for this add-in with a Conditional Access policy that targets its app registration; Entra then asks for MFA itself, and the task pane answers that challenge.")
		}
	case config.MFAACRS:
		if !slices.Contains(c.ACRS, p.Context) {
			return problem.New(problem.MFARequired, "The token lacks authentication context %s (acrs); get a token again with the claims.", p.Context).
				WithClaims(fmt.Sprintf(`{"access_token":{"acrs":{"essential":true,"value":"%s"}}}`, p.Context))
		}
	}
	return nil
}

// showsMFA reports whether amr shows multi-factor authentication. The access
// token claims reference lists mfa, and ngcmfa as "equivalent to mfa, used
// for provisioning of certain advanced credential types".
func showsMFA(amr []string) bool {
	return slices.Contains(amr, "mfa") || slices.Contains(amr, "ngcmfa")
}

func invalid(format string, args ...any) *problem.Error {
	return problem.New(problem.InvalidToken, format, args...)
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
