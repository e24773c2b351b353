package entra

import (
	"cmp"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The v2.0 token endpoint (POST /{tenant}/oauth2/v2.0/token), following
// "Microsoft identity platform and OAuth 2.0 On-Behalf-Of flow": the
// jwt-bearer grant with requested_token_use=on_behalf_of, authenticated with a
// client secret, a certificate assertion or a federated credential, and the
// refresh_token grant for the refresh tokens it hands out with offline_access.
// Failures answer with Entra's error JSON (error, error_description with
// AADSTS code, trace and correlation IDs, error_codes, suberror, claims).

const (
	grantJWTBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	grantRefresh   = "refresh_token"

	// GraphResource is the resource of scopes given without one, as in Entra.
	GraphResource = "https://graph.microsoft.com"

	// DefaultMFAClaims is the claims challenge of MFARequired: the form of the
	// example in Entra's On-Behalf-Of documentation.
	DefaultMFAClaims = `{"access_token":{"polids":{"essential":true,"values":["9ab03e19-ed42-4168-b6b7-7001fb3e933a"]}}}`

	clockSkew      = 5 * time.Minute
	accessLifetime = time.Hour
	// caeLifetime is the lifetime of CAE-capable tokens (the client declared
	// cp1). "How to use Continuous Access Evaluation enabled APIs": "For some
	// resource APIs, because risk and policy are evaluated in real time, this
	// can increase token lifetime up to 28 hours." Graph's are about a day.
	caeLifetime       = 24 * time.Hour
	refreshLifetime   = 90 * 24 * time.Hour
	defaultRetryAfter = 5 * time.Second
)

// OutcomeKind is what the token endpoint answers a user's requests with.
type OutcomeKind int

// The answers are those of "Microsoft Entra authentication and authorization
// error codes" (reference-error-codes), each with the error and suberror Entra
// sends with it. That page: error "should be used to react to errors", and the
// AADSTS codes are "subject to change". Suberrors are MSAL's classification
// (UiRequiredExceptionClassification): message_only "Issue cannot be
// resolved", basic_action "Issue can be resolved by user interaction during
// the interactive authentication flow", additional_action "Issue can be
// resolved by additional remedial interaction within the system, outside of
// the interactive authentication flow", consent_required "User consent is
// missing, or has been revoked".
const (
	Succeed          OutcomeKind = iota // the default
	ConsentMissing                      // AADSTS65001 DelegationDoesNotExist, invalid_grant, suberror consent_required
	MFARequired                         // Conditional Access requires MFA: AADSTS50076 interaction_required with claims, whenever the assertion's session lacks mfa
	AssertionExpired                    // AADSTS500133, whatever the assertion's exp says
	Throttled                           // HTTP 429 with Retry-After
	Unavailable                         // HTTP 503 with Retry-After
	InvalidClient                       // AADSTS7000215, as for a wrong client secret

	BlockedByPolicy       // AADSTS53003 BlockedByConditionalAccess, interaction_required, suberror message_only: no step-up satisfies it
	DeviceNotCompliant    // AADSTS53000 DeviceNotCompliant, interaction_required, suberror additional_action: enrol the device, outside sign-in
	MFARegistrationNeeded // AADSTS50079 UserStrongAuthEnrollmentRequired, interaction_required, suberror basic_action: register MFA during sign-in
	GrantRevoked          // AADSTS50173 FreshTokenNeeded, invalid_grant: "Have the user sign in again."
	SignInFrequency       // AADSTS70043 BadTokenDueToSignInFrequency, invalid_grant, suberror token_expired
	AdminConsentRequired  // AADSTS90094 AdminConsentRequired, invalid_grant: only an administrator can grant
	ConsentRequired       // AADSTS65004, invalid_grant, suberror consent_required: consent, recognisable by suberror alone
	LoopDetected          // AADSTS50196 LoopDetected, invalid_grant: "The app has made too many of the same request in too short a period"
)

// Outcome scripts the token endpoint for one user.
type Outcome struct {
	Kind       OutcomeKind
	Delay      time.Duration // wait before answering (a slow Entra)
	RetryAfter time.Duration // Throttled, Unavailable; default 5s
	Claims     string        // MFARequired's challenge; default DefaultMFAClaims
	Times      int           // how many requests it answers, then Succeed again; 0: until scripted again
}

// oboState is the token endpoint's state. Nothing grows per request (the
// issued tokens are a bounded ring), so the memory benchmark's thousands of
// exchanges do not grow the emulator.
type oboState struct {
	mu         sync.RWMutex
	apps       map[string]*App
	identities map[string]string // managed identity client ID -> principal ID
	scripts    map[string]*script
	states     map[string]*userState      // object ID -> what Entra remembers of the user (session.go)
	contexts   map[string]map[string]bool // tenant ID -> defined authentication contexts
	users      sync.Map                   // object ID -> *atomic.Int64 token requests
	rtKey      []byte                     // MACs refresh tokens and aio, which are opaque to clients
	issued     [issuedRing]string
	issuedN    int
}

// issuedRing is how many of the latest access tokens IssuedAccessTokens keeps.
const issuedRing = 1024

type script struct {
	o    Outcome
	left int
}

func (o *oboState) init() {
	o.apps = map[string]*App{}
	o.identities = map[string]string{}
	o.scripts = map[string]*script{}
	o.states = map[string]*userState{}
	o.contexts = map[string]map[string]bool{}
	o.rtKey = make([]byte, 32)
	_, _ = rand.Read(o.rtKey)
}

// Script sets how the token endpoint answers requests for the user with
// object ID oid (from the assertion or refresh token). Outcome{} restores success.
func (s *Server) Script(oid string, o Outcome) {
	s.obo.mu.Lock()
	defer s.obo.mu.Unlock()
	if o == (Outcome{}) {
		delete(s.obo.scripts, oid)
		return
	}
	s.obo.scripts[oid] = &script{o: o, left: o.Times}
}

// TokenRequests is how many token requests named the user with object ID oid,
// whatever their outcome.
func (s *Server) TokenRequests(oid string) int64 { return s.userCounter(oid).Load() }

func (s *Server) userCounter(oid string) *atomic.Int64 {
	if c, ok := s.obo.users.Load(oid); ok {
		return c.(*atomic.Int64)
	}
	c, _ := s.obo.users.LoadOrStore(oid, new(atomic.Int64))
	return c.(*atomic.Int64)
}

// IssuedAccessTokens returns the latest access tokens the token endpoint
// issued (up to 1,024), so a test can look for them exactly where they must
// never appear: logs, response bodies, stored rows.
func (s *Server) IssuedAccessTokens() []string {
	s.obo.mu.RLock()
	defer s.obo.mu.RUnlock()
	n := min(s.obo.issuedN, issuedRing)
	out := make([]string, 0, n)
	for i := range n {
		out = append(out, s.obo.issued[(s.obo.issuedN-1-i)%issuedRing])
	}
	return out
}

func (s *Server) recordIssued(tok string) {
	s.obo.mu.Lock()
	defer s.obo.mu.Unlock()
	s.obo.issued[s.obo.issuedN%issuedRing] = tok
	s.obo.issuedN++
}

func (s *Server) takeOutcome(oid string) Outcome {
	s.obo.mu.Lock()
	defer s.obo.mu.Unlock()
	sc := s.obo.scripts[oid]
	if sc == nil {
		return Outcome{}
	}
	if sc.left > 0 {
		if sc.left--; sc.left == 0 {
			delete(s.obo.scripts, oid)
		}
	}
	return sc.o
}

// tokenCall is one request to the token endpoint.
type tokenCall struct {
	s      *Server
	r      *http.Request
	form   url.Values
	tenant string
	corr   string
}

// oauthError is an error answer; status 0 means the client went away.
type oauthError struct {
	status     int
	name       string
	code       int
	msg        string
	suberror   string
	claims     string
	retryAfter time.Duration
}

var errAbandoned = &oauthError{}

// principal is the user a grant is about, and how their session authenticated.
type principal struct {
	tenantID, objectID, name, username string
	session                            session
}

// token is the v2.0 token endpoint.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	s.counter("token").Add(1)
	c := &tokenCall{s: s, r: r, tenant: r.PathValue("tenant"), corr: correlationID(r)}
	fail := c.serve(w)
	if fail != nil && fail != errAbandoned {
		s.writeOAuthError(w, c, fail)
	}
}

func (c *tokenCall) serve(w http.ResponseWriter) *oauthError {
	c.r.Body = http.MaxBytesReader(w, c.r.Body, 64<<10)
	if err := c.r.ParseForm(); err != nil {
		return c.invalidRequest(900144, "The request body must contain the following parameter: 'grant_type'.")
	}
	c.form = c.r.PostForm
	switch grant := c.form.Get("grant_type"); grant {
	case "":
		return c.invalidRequest(900144, "The request body must contain the following parameter: 'grant_type'.")
	case grantJWTBearer:
		return c.onBehalfOf(w)
	case grantRefresh:
		return c.refresh(w)
	default:
		return &oauthError{status: http.StatusBadRequest, name: "unsupported_grant_type", code: 70003, msg: "The app requested an unsupported grant type '" + grant + "'."}
	}
}

func (c *tokenCall) require(names ...string) *oauthError {
	for _, n := range names {
		if c.form.Get(n) == "" {
			return c.invalidRequest(900144, "The request body must contain the following parameter: '"+n+"'.")
		}
	}
	return nil
}

// onBehalfOf redeems a user's access token (the assertion) for a token to
// another resource, for the app the assertion was issued to.
func (c *tokenCall) onBehalfOf(w http.ResponseWriter) *oauthError {
	if fail := c.require("client_id", "assertion", "requested_token_use", "scope"); fail != nil {
		return fail
	}
	if c.form.Get("requested_token_use") != "on_behalf_of" {
		return c.invalidRequest(900144, "The request body must contain the following parameter: 'requested_token_use' with the value 'on_behalf_of'.")
	}
	assertion := c.form.Get("assertion")
	o, fail := c.before(peekString(assertion, "oid"))
	if fail != nil {
		return fail
	}
	app, acr, fail := c.client(o)
	if fail != nil {
		return fail
	}
	user, fail := c.verifyAssertion(app, assertion)
	if fail != nil {
		return fail
	}
	if o.Kind == AssertionExpired {
		return c.invalidGrant(500133, "Assertion is not within its valid time range. Ensure that the access token is not expired before using it for user assertion, or request a new token. Current time: "+time.Now().UTC().Format(time.RFC3339)+".")
	}
	return c.grant(w, app, acr, user, o)
}

// refresh redeems a refresh token this endpoint handed out.
func (c *tokenCall) refresh(w http.ResponseWriter) *oauthError {
	if fail := c.require("client_id", "refresh_token"); fail != nil {
		return fail
	}
	rt, ok := c.s.parseRefresh(c.form.Get("refresh_token"))
	o, fail := c.before(rt.ObjectID)
	if fail != nil {
		return fail
	}
	app, acr, fail := c.client(o)
	switch {
	case fail != nil:
		return fail
	case !ok:
		return c.invalidGrant(9002313, "Invalid request. Request is malformed or invalid.")
	case rt.ClientID != app.ClientID:
		return c.invalidGrant(70000, "Provided grant is invalid or malformed. The refresh token was issued to a different client.")
	case time.Now().Unix() > rt.Exp:
		return c.invalidGrant(700082, "The refresh token has expired due to inactivity.")
	}
	if c.s.revokedBefore(rt.ObjectID, rt.Iat) {
		return c.grantRevoked()
	}
	return c.grant(w, app, acr, &principal{tenantID: rt.TenantID, objectID: rt.ObjectID, name: rt.Name, username: rt.Username, session: session{AMR: rt.AMR, ACRS: rt.ACRS}}, o)
}

// before counts the request for its user and applies the scripted delay,
// throttling and outage, which come before any validation as they do in Entra.
func (c *tokenCall) before(oid string) (Outcome, *oauthError) {
	if oid != "" {
		c.s.userCounter(oid).Add(1)
	}
	o := c.s.takeOutcome(oid)
	if o.Delay > 0 {
		t := time.NewTimer(o.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-c.r.Context().Done():
			return o, errAbandoned
		}
	}
	retry := o.RetryAfter
	if retry <= 0 {
		retry = defaultRetryAfter
	}
	switch o.Kind {
	case Throttled:
		return o, &oauthError{status: http.StatusTooManyRequests, name: "temporarily_unavailable", code: 90055, retryAfter: retry,
			msg: "There are too many incoming requests. Please try again later."}
	case Unavailable:
		return o, &oauthError{status: http.StatusServiceUnavailable, name: "temporarily_unavailable", code: 90033, retryAfter: retry,
			msg: "A transient error has occurred. Please try again."}
	}
	return o, nil
}

// client finds the app and checks its credential.
func (c *tokenCall) client(o Outcome) (*App, string, *oauthError) {
	clientID := c.form.Get("client_id")
	app := c.s.app(clientID)
	if app == nil {
		return nil, "", &oauthError{status: http.StatusBadRequest, name: "unauthorized_client", code: 700016,
			msg: "Application with identifier '" + clientID + "' was not found in the directory '" + c.tenant + "'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."}
	}
	acr, fail := c.authenticateClient(app)
	if fail == nil && o.Kind == InvalidClient {
		fail = c.invalidClient(7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '"+app.ClientID+"'.")
	}
	return app, acr, fail
}

// verifyAssertion checks the user's token as Entra does before OBO: signed
// with a published key, issued by this emulator for the token's tenant, to this
// app (client ID, or App ID URI for v1.0), and within its lifetime.
func (c *tokenCall) verifyAssertion(app *App, assertion string) (*principal, *oauthError) {
	claims, err := c.s.verifySigned(assertion)
	switch {
	case errors.Is(err, errKeyNotFound):
		return nil, c.invalidGrant(50013, "Assertion failed signature validation. [Reason - The key was not found.]")
	case err != nil:
		return nil, c.invalidGrant(50013, "Assertion failed signature validation. [Reason - The provided signature value did not match the expected signature value.]")
	}
	str := func(name string) string { v, _ := claims[name].(string); return v }
	tid, ver := str("tid"), str("ver")
	wantIss := c.s.URL + "/" + tid + "/v2.0"
	if ver == "1.0" {
		wantIss = strings.Replace(V1Issuer, "{tenantid}", tid, 1)
	}
	if tid == "" || str("iss") != wantIss {
		return nil, c.invalidGrant(50013, "Assertion contains an invalid issuer '"+str("iss")+"'.")
	}
	if c.tenant != "organizations" && c.tenant != "common" && !strings.EqualFold(c.tenant, tid) {
		return nil, c.invalidGrant(50013, "Assertion was issued by tenant '"+tid+"', not the tenant of the request '"+c.tenant+"'.")
	}
	aud, _ := claims["aud"].(string)
	if aud != app.ClientID && !(ver == "1.0" && app.AppIDURI != "" && aud == app.AppIDURI) {
		return nil, c.invalidGrant(500131, "Assertion audience does not match the Client app presenting the assertion. The audience in the assertion was '"+aud+"' and the expected audience is '"+app.ClientID+"' or one of the Application Uris of this application with App ID '"+app.ClientID+"'.")
	}
	exp, _ := claims["exp"].(float64)
	nbf, _ := claims["nbf"].(float64)
	now := time.Now()
	if now.After(time.Unix(int64(exp), 0).Add(clockSkew)) || now.Add(clockSkew).Before(time.Unix(int64(nbf), 0)) {
		return nil, c.invalidGrant(500133, "Assertion is not within its valid time range. Ensure that the access token is not expired before using it for user assertion, or request a new token. Current time: "+
			now.UTC().Format(time.RFC3339)+", expiry time of assertion "+time.Unix(int64(exp), 0).UTC().Format(time.RFC3339)+".")
	}
	iat, _ := claims["iat"].(float64)
	if c.s.revokedBefore(str("oid"), int64(iat)) {
		return nil, c.grantRevoked()
	}
	username := str("preferred_username")
	if username == "" {
		username = str("upn")
	}
	// The session the token was issued in; a token the emulator did not seal
	// (signed directly by a test) speaks for itself.
	sess, ok := c.s.unseal(str("aio"))
	if !ok {
		sess = session{AMR: stringList(claims["amr"]), ACRS: stringList(claims["acrs"])}
	}
	return &principal{tenantID: tid, objectID: str("oid"), name: str("name"), username: username, session: sess}, nil
}

func (c *tokenCall) grantRevoked() *oauthError {
	return c.invalidGrant(50173, "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.")
}

// grant applies consent and Conditional Access, then issues the tokens.
func (c *tokenCall) grant(w http.ResponseWriter, app *App, acr string, u *principal, o Outcome) *oauthError {
	resource, names, offline, fail := c.scopes()
	if fail != nil {
		return fail
	}
	requested := c.form.Get("claims")
	if requested != "" && !json.Valid([]byte(requested)) {
		return c.invalidRequest(90014, "The claims parameter is not valid JSON.")
	}
	if fail := c.conditionalAccess(app, u, resource, o); fail != nil {
		return fail
	}
	// No claims parameter counts as a step-up: MSAL with client capabilities
	// sends claims ({"access_token":{"xms_cc":{"values":["cp1"]}}}, merged
	// with any challenge's) on every request, and the middle tier cannot
	// authenticate the user. Only the assertion's session decides.
	cc := clientCapabilities(requested)
	now := c.s.notBeforeRevocation(u.objectID, time.Now())
	lifetime := accessLifetime
	if cc != nil {
		lifetime = caeLifetime
	}
	access := c.s.accessToken(app, acr, u, resource, names, cc, now, lifetime)
	c.s.recordIssued(access)
	body := map[string]any{
		"token_type":     "Bearer",
		"scope":          qualify(resource, names),
		"expires_in":     int(lifetime/time.Second) - 1,
		"ext_expires_in": int(lifetime/time.Second) - 1,
		"access_token":   access,
	}
	if offline {
		body["refresh_token"] = c.s.mintRefresh(refreshClaims{ClientID: app.ClientID, TenantID: u.tenantID, ObjectID: u.objectID,
			Name: u.name, Username: u.username, AMR: u.session.AMR, ACRS: u.session.ACRS, Iat: now.Unix(), Exp: now.Add(refreshLifetime).Unix()})
	}
	if c.form.Get("client_info") == "1" {
		info, _ := json.Marshal(map[string]string{"uid": u.objectID, "utid": u.tenantID})
		body["client_info"] = base64.RawURLEncoding.EncodeToString(info)
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}

// conditionalAccess answers the user's scripted outcome: consent and
// Conditional Access, evaluated on the assertion's session.
func (c *tokenCall) conditionalAccess(app *App, u *principal, resource string, o Outcome) *oauthError {
	interaction := func(code int, suberror, msg string) *oauthError {
		return &oauthError{status: http.StatusBadRequest, name: "interaction_required", code: code, suberror: suberror, msg: msg}
	}
	grant := func(code int, suberror, msg string) *oauthError {
		return &oauthError{status: http.StatusBadRequest, name: "invalid_grant", code: code, suberror: suberror, msg: msg}
	}
	switch o.Kind {
	case ConsentMissing:
		return grant(65001, "consent_required", "The user or administrator has not consented to use the application with ID '"+app.ClientID+"' named '"+app.DisplayName+"'. Send an interactive authorization request for this user and resource.")
	case MFARequired:
		if u.session.mfa() {
			return nil
		}
		claims := cmp.Or(o.Claims, DefaultMFAClaims)
		c.s.recordChallenge(u.objectID, claims)
		fail := interaction(50076, "", "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '"+resource+"'.")
		fail.claims = claims
		return fail
	case BlockedByPolicy:
		return interaction(53003, "message_only", "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.")
	case DeviceNotCompliant:
		return interaction(53000, "additional_action", "Device is not in required device state: compliant. Conditional Access policy requires a compliant device, and the device is not compliant. The user must enroll their device with an approved MDM provider like Intune.")
	case MFARegistrationNeeded:
		return interaction(50079, "basic_action", "Due to a configuration change made by your administrator, or because you moved to a new location, you must enroll in multi-factor authentication to access '"+resource+"'.")
	case GrantRevoked:
		return c.grantRevoked()
	case SignInFrequency:
		return grant(70043, "token_expired", "The refresh token has expired or is invalid due to sign-in frequency checks by conditional access. The token was issued on "+
			time.Now().Add(-10*time.Hour).UTC().Format(time.RFC3339)+" and the maximum allowed lifetime for this request is 32400.")
	case AdminConsentRequired:
		return grant(90094, "", "The grant requires admin permission.")
	case ConsentRequired:
		return grant(65004, "consent_required", "User declined to consent to access the app.")
	case LoopDetected:
		return grant(50196, "", "The server terminated an operation because it encountered a client request loop. Please contact your app vendor.")
	}
	return nil
}

// scopes parses the scope parameter: OpenID scopes aside, every scope names
// one resource (its URI before the last slash; Graph when there is none).
func (c *tokenCall) scopes() (resource string, names []string, offline bool, fail *oauthError) {
	for _, sc := range strings.Fields(c.form.Get("scope")) {
		switch sc {
		case "openid", "profile", "email":
			continue
		case "offline_access":
			offline = true
			continue
		}
		res, name := GraphResource, sc
		if i := strings.LastIndex(sc, "/"); strings.Contains(sc, "://") && i > strings.Index(sc, "://")+2 {
			res, name = sc[:i], sc[i+1:]
		}
		if name == "" {
			return "", nil, false, c.invalidScope(70011, "The provided value for the input parameter 'scope' isn't valid. The scope "+sc+" isn't valid.")
		}
		if resource != "" && !strings.EqualFold(resource, res) {
			return "", nil, false, c.invalidScope(28000, "Provided value for the input parameter scope is not valid because it contains more than one resource. Scope "+c.form.Get("scope")+" is not valid.")
		}
		resource = res
		if name == ".default" {
			name = "User.Read" // what an add-in's registration typically holds consent for
		}
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	if resource == "" {
		return "", nil, false, c.invalidScope(70011, "The provided value for the input parameter 'scope' isn't valid. The scope "+c.form.Get("scope")+" isn't valid.")
	}
	return resource, names, offline, nil
}

func qualify(resource string, names []string) string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = resource + "/" + n
	}
	return strings.Join(out, " ")
}

// accessToken is a v1.0 access token for resource, as Entra issues for
// Microsoft Graph: the user's identity from the assertion, the calling app as
// appid, the granted delegated scopes in scp.
func (s *Server) accessToken(app *App, acr string, u *principal, resource string, scopes, capabilities []string, now time.Time, lifetime time.Duration) string {
	amr := u.session.AMR
	if len(amr) == 0 {
		amr = []string{"pwd"}
	}
	c := map[string]any{
		"aud":                resource,
		"iss":                strings.Replace(V1Issuer, "{tenantid}", u.tenantID, 1),
		"iat":                now.Unix(),
		"nbf":                now.Unix(),
		"exp":                now.Add(lifetime).Unix(),
		"acct":               0,
		"acr":                "1",
		"aio":                s.seal(session{AMR: amr, ACRS: u.session.ACRS}),
		"amr":                amr,
		"appid":              app.ClientID,
		"appidacr":           acr,
		"idtyp":              "user",
		"name":               u.name,
		"oid":                u.objectID,
		"tid":                u.tenantID,
		"scp":                strings.Join(scopes, " "),
		"sub":                subject(u.objectID, resource),
		"unique_name":        u.username,
		"upn":                u.username,
		"preferred_username": u.username,
		"uti":                randomID(),
		"ver":                "1.0",
		"rh":                 "0.emulated",
	}
	if app.DisplayName != "" {
		c["app_displayname"] = app.DisplayName
	}
	if len(u.session.ACRS) > 0 {
		c["acrs"] = u.session.ACRS
	}
	if capabilities != nil {
		c["xms_cc"] = capabilities // Graph requests xms_cc as an optional claim
	}
	return s.Sign(nil, c)
}

// refreshClaims is what a refresh token stands for. Entra's refresh tokens
// are opaque to clients; these are MACed JSON, so the emulator keeps no state.
type refreshClaims struct {
	ClientID string   `json:"cid"`
	TenantID string   `json:"tid"`
	ObjectID string   `json:"oid"`
	Name     string   `json:"name"`
	Username string   `json:"upn"`
	AMR      []string `json:"amr,omitempty"`
	ACRS     []string `json:"acrs,omitempty"`
	Iat      int64    `json:"iat"`
	Exp      int64    `json:"exp"`
}

const refreshPrefix = "0.A"

func (s *Server) mintRefresh(rc refreshClaims) string {
	b, _ := json.Marshal(rc)
	payload := base64.RawURLEncoding.EncodeToString(b)
	mac := hmac.New(sha256.New, s.obo.rtKey)
	mac.Write([]byte(payload))
	return refreshPrefix + payload + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func (s *Server) parseRefresh(tok string) (refreshClaims, bool) {
	var rc refreshClaims
	payload, sig, ok := strings.Cut(strings.TrimPrefix(tok, refreshPrefix), ".")
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if !ok || err != nil || !strings.HasPrefix(tok, refreshPrefix) {
		return rc, false
	}
	mac := hmac.New(sha256.New, s.obo.rtKey)
	mac.Write([]byte(payload))
	if !hmac.Equal(got, mac.Sum(nil)) || decodeJSON(payload, &rc) != nil {
		return refreshClaims{}, false
	}
	return rc, true
}

func (c *tokenCall) invalidGrant(code int, msg string) *oauthError {
	return &oauthError{status: http.StatusBadRequest, name: "invalid_grant", code: code, msg: msg}
}

func (c *tokenCall) invalidScope(code int, msg string) *oauthError {
	return &oauthError{status: http.StatusBadRequest, name: "invalid_scope", code: code, msg: msg}
}

// writeOAuthError answers in Entra's error format. The correlation ID echoes
// the client's client-request-id header, as Entra's does.
func (s *Server) writeOAuthError(w http.ResponseWriter, c *tokenCall, e *oauthError) {
	ts := time.Now().UTC().Format("2006-01-02 15:04:05Z")
	trace := NewGUID()
	body := map[string]any{
		"error":             e.name,
		"error_description": fmt.Sprintf("AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s", e.code, e.msg, trace, c.corr, ts),
		"error_codes":       []int{e.code},
		"timestamp":         ts,
		"trace_id":          trace,
		"correlation_id":    c.corr,
		"error_uri":         s.URL + "/error?code=" + strconv.Itoa(e.code),
	}
	if e.suberror != "" {
		body["suberror"] = e.suberror
	}
	if e.claims != "" {
		body["claims"] = e.claims
	}
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((e.retryAfter+time.Second-1)/time.Second)))
	}
	writeJSON(w, e.status, body)
}

func correlationID(r *http.Request) string {
	if id := r.Header.Get("client-request-id"); len(id) == 36 {
		return id
	}
	return NewGUID()
}

// peekString reads a claim of a JWT without verifying it (to pick the user's script).
func peekString(tok, claim string) string {
	parts := strings.SplitN(tok, ".", 3)
	if len(parts) < 2 {
		return ""
	}
	var c map[string]any
	if decodeJSON(parts[1], &c) != nil {
		return ""
	}
	v, _ := c[claim].(string)
	return v
}

// stringList reads a JSON array of strings.
func stringList(v any) []string {
	a, _ := v.([]any)
	out := make([]string, 0, len(a))
	for _, e := range a {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
