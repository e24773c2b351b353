package obo

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"

	"github.com/addinsso/addinsso/handler/entra"
	"github.com/addinsso/addinsso/handler/problem"
)

// Entra ID's errors, as its token endpoint documents them. MSAL Go hands them
// over as a CallErr holding the raw response; classify reads the body's error,
// suberror, claims and error_codes, the HTTP status and Retry-After, and picks
// the problem the task pane can act on.
//
// Entra's "authentication and authorization error codes" reference: "The
// OAuth2.0 spec provides guidance on how to handle errors during
// authentication using the error portion of the error response", and "Apps
// that take a dependency on text or error code numbers will be broken over
// time." So classify goes by error and suberror first and uses the AADSTS
// codes (from the same reference) only to tell apart answers that share an
// error, such as invalid_grant.
var (
	// Conditional Access blocks the request; no interaction can change that.
	// Entra answers 53003 as interaction_required with suberror message_only.
	blockedCodes = []int{
		53003,  // access blocked by Conditional Access policies
		530032, // blocked by a security policy of the tenant
	}
	// Only an administrator can consent (the permissions need admin consent).
	adminConsentCodes = []int{
		90094, // the grant requires admin permission
		90099, // the application has not been authorized in the tenant
	}
	// The user (or an admin) never consented to the Graph scopes.
	consentCodes = []int{
		65001, // the user or administrator has not consented
		65004, // the user declined to consent
	}
	// The assertion's time ran out between the task pane and Entra (or clocks
	// disagree): a fresh token from Office, once, is the remedy.
	expiredCodes = []int{
		500133, // the assertion is not within its valid time range
		50013,  // the assertion is invalid: expired, or failed signature validation (e.g. during a key rollover)
	}
	// The app's own credential or registration is wrong: nothing the user can do.
	credentialCodes = []int{
		7000215, // invalid client secret
		7000222, // the client secret has expired
		7000218, // no client_secret or client_assertion was sent
		700016,  // the app was not found in the directory
		700021,  // the client assertion's application ID does not match client_id
		700023,  // the client assertion's audience is invalid
		700024,  // the client assertion is not within its valid time range (server clock)
		700025,  // the client is public, so no credential was expected
		700027,  // the client assertion failed signature validation (certificate not uploaded, wrong key)
		7000112, // the application is disabled
		70021,   // no federated identity credential matches the assertion
		700211,  // federated credential: no matching issuer
		700212,  // federated credential: no matching audience
		700213,  // federated credential: no matching subject
		7002137, // federated credential: no matching subject (agent identities)
		7002138, // federated credential: no matching subject (case-sensitive match)
		50194,   // the app is not configured as multi-tenant
	}
	// The request's scopes, resource or authority do not fit the registration or cloud.
	requestCodes = []int{
		70011,  // invalid scope
		28000,  // scopes of more than one resource
		28003,  // empty scope
		500011, // the resource principal (Graph under GRAPH_BASE_URL) is not in the tenant
		650057, // the app's registration does not list the resource
		90002,  // tenant not found in this cloud (ENTRA_AUTHORITY_HOST)
		50049,  // unknown or invalid authority
	}
	// The user must do something at Entra: without claims to pass, only an
	// interactive sign-in gets them there.
	interactionCodes = []int{
		50055, // the password has expired
		50072, // the user must enroll for multi-factor authentication
		50074, // strong authentication is required
		50076, // MFA required by policy (a location or configuration change)
		50078, // the presented MFA has expired
		50079, // the user must enroll for MFA
		50132, // the session was revoked
		50133, // the session is invalid after a password change or expiry
		50144, // the Active Directory password has expired
		50158, // an external security challenge was not satisfied
		50173, // the grant was revoked: a fresh sign-in is needed
		53000, // the device must be compliant
		53001, // the device must be domain-joined
		53002, // the app used is not an approved app
		53004, // the user must complete MFA registration (proof-up)
		70043, // the grant expired under a sign-in frequency policy
	}
	// Entra saw the same request too often in a short time.
	loopCodes = []int{
		50196, // the server detected a client loop
	}
)

const (
	defaultRetryAfter = 5 * time.Second
	loopRetryAfter    = 10 * time.Second // Entra names no wait for a loop

	credentialAdvice = "Entra ID did not accept this server's app credentials. Check the app registration and the credential setting " +
		"(ADDIN_CLIENT_SECRET, ADDIN_CLIENT_CERTIFICATE_PATH or ADDIN_FEDERATED_IDENTITY_CLIENT_ID); details are in the server logs."
	requestAdvice = "Entra ID refused the On-Behalf-Of request. Check GRAPH_SCOPES, GRAPH_BASE_URL and ENTRA_AUTHORITY_HOST against the app registration's " +
		"API permissions and cloud; details are in the server logs."
)

// entraError is an error answer from Entra ID. It is the Cause of the problem
// Exchange returns: Entra's own words go to the logs, never to the task pane.
type entraError struct {
	Status        int           `json:"-"`
	RetryAfter    time.Duration `json:"-"`
	Name          string        `json:"error"`
	Description   string        `json:"error_description"`
	Codes         []int         `json:"error_codes"`
	SubError      string        `json:"suberror"`
	Claims        string        `json:"claims"`
	TraceID       string        `json:"trace_id"`
	CorrelationID string        `json:"correlation_id"`
	Timestamp     string        `json:"timestamp"`
}

func (e *entraError) Error() string {
	return fmt.Sprintf("entra: HTTP %d %s AADSTS%v suberror=%q trace_id=%s correlation_id=%s: %s",
		e.Status, e.Name, e.Codes, e.SubError, e.TraceID, e.CorrelationID, firstLine(e.Description))
}

func (e *entraError) has(codes []int) bool {
	return slices.ContainsFunc(e.Codes, func(c int) bool { return slices.Contains(codes, c) })
}

// aadsts names Entra's first error code, for messages developers search for.
func (e *entraError) aadsts() string {
	if len(e.Codes) == 0 {
		return e.Name
	}
	return "AADSTS" + strconv.Itoa(e.Codes[0])
}

// parseEntraError reads an error response. A body that is not Entra's JSON
// (a proxy's page, the emulator's outage text) leaves only status and Retry-After.
func parseEntraError(status int, header http.Header, body []byte) *entraError {
	e := &entraError{}
	if json.Unmarshal(body, e) != nil {
		e = &entraError{}
	}
	e.Status = status
	e.RetryAfter = retryAfter(header)
	return e
}

// classify picks the problem for an Entra error: an answer that says "later"
// first, then Entra's suberror (its own word on what the user can do), then
// the error, with codes telling apart answers that share one.
func classify(e *entraError) *problem.Error {
	switch {
	case e.Status == http.StatusTooManyRequests || e.Status >= 500 || e.Name == "temporarily_unavailable" || e.Name == "server_error":
		return problem.New(problem.UpstreamUnavailable, "Entra ID is unavailable or throttling (HTTP %d); retry after %d s.", e.Status, entra.Seconds(e.RetryAfter)).
			WithRetryAfter(e.RetryAfter)
	case e.has(loopCodes):
		return problem.New(problem.UpstreamUnavailable, "Entra ID saw the same request too often and refuses it for a while (%s); retry after %d s.", e.aadsts(), entra.Seconds(loopRetryAfter)).
			WithRetryAfter(loopRetryAfter).WithStatus(http.StatusTooManyRequests)
	}
	switch e.SubError {
	case "consent_required":
		return consent(e)
	case "message_only":
		// MSAL: an interactive request would only show the user a message.
		return blocked(e)
	case "basic_action", "additional_action", "user_password_expired":
		return interaction(e)
	case "bad_token":
		return expired(e)
	}
	switch e.Name {
	case "consent_required":
		return consent(e)
	case "invalid_client", "unauthorized_client":
		return problem.New(problem.ServerMisconfigured, credentialAdvice)
	case "interaction_required":
		return byCode(e, interaction(e))
	case "invalid_grant":
		// A grant Entra rejects for a reason none of the codes name: the token
		// is not usable for On-Behalf-Of (issued to another app, another cloud,
		// app-only, by a custom signing key). A fresh token from Office would
		// be the same kind of token, so retry_sso would only double the load
		// and hide the cause; the message and the logs name it instead.
		return byCode(e, problem.New(problem.InvalidToken,
			"Entra ID did not accept the add-in's token for the On-Behalf-Of exchange (%s); see the server logs.", e.aadsts()))
	}
	// invalid_request, invalid_scope, unsupported_grant_type, a redirect, a
	// 4xx page that is not Entra's: this server is sending to the wrong place
	// or the wrong thing, unless a code says otherwise.
	return byCode(e, problem.New(problem.ServerMisconfigured, requestAdvice))
}

// byCode tells apart answers that share an error by their AADSTS codes, else
// answers fallback. A challenge's claims win over every code but those no
// claims can satisfy.
func byCode(e *entraError, fallback *problem.Error) *problem.Error {
	switch {
	case e.has(blockedCodes):
		return blocked(e)
	case e.has(adminConsentCodes):
		return problem.New(problem.AdminConsentRequired,
			"Only an administrator can consent to the add-in's Microsoft Graph permissions (%s): an administrator of the user's organization must grant admin consent to the app registration.", e.aadsts())
	case e.has(consentCodes):
		return consent(e)
	case e.Claims != "":
		return interaction(e)
	case e.has(expiredCodes):
		return expired(e)
	case e.has(credentialCodes):
		return problem.New(problem.ServerMisconfigured, credentialAdvice)
	case e.has(requestCodes):
		return problem.New(problem.ServerMisconfigured, requestAdvice)
	case e.has(interactionCodes):
		return interaction(e)
	}
	return fallback
}

func consent(e *entraError) *problem.Error {
	return problem.New(problem.ConsentRequired,
		"The user or an administrator has not consented to the add-in's Microsoft Graph permissions (%s). Open the consent dialog (fallback authentication), or have an administrator grant consent.", e.aadsts())
}

func blocked(e *entraError) *problem.Error {
	return problem.New(problem.BlockedByPolicy,
		"A Conditional Access policy of the user's organization blocks access to Microsoft Graph from here (%s); signing in again cannot change that. An administrator can see which policy in the Entra sign-in logs (the trace ID is in the server logs).", e.aadsts())
}

func expired(e *entraError) *problem.Error {
	return problem.New(problem.TokenExpired,
		"Entra ID found the add-in's token expired or invalid when exchanging it (%s). Get a fresh token and retry once; if it persists, check the server's clock.", e.aadsts())
}

// interaction is a claims challenge when Entra sent claims (the pane passes
// them to Office or MSAL, which prompt the user), else an interactive sign-in.
func interaction(e *entraError) *problem.Error {
	if e.Claims != "" {
		return problem.New(problem.ClaimsChallenge,
			"Conditional Access requires more from the user (%s), such as multi-factor authentication. Get a new token with the claims (getAccessToken's authChallenge, or MSAL's claims) and retry.", e.aadsts()).
			WithClaims(e.Claims)
	}
	return problem.New(problem.InteractionRequired,
		"Entra ID requires the user to sign in interactively (%s), for example after a password change or to satisfy a policy. Sign in interactively (the sign-in dialog or MSAL's popup) and retry.", e.aadsts())
}

// classifyError turns whatever MSAL returned into a problem; the second value
// is the Entra error, when Entra answered.
func classifyError(err error) (*problem.Error, *entraError) {
	var (
		ie *identityError
		ce msalerrors.CallErr
	)
	switch {
	case errors.As(err, &ie):
		return classifyIdentity(ie), nil
	case errors.As(err, &ce) && ce.Resp != nil:
		body, _ := io.ReadAll(io.LimitReader(ce.Resp.Body, 64<<10))
		e := parseEntraError(ce.Resp.StatusCode, ce.Resp.Header, body)
		return classify(e), e
	case unreachable(err):
		return problem.New(problem.UpstreamUnavailable, "Entra ID did not answer in time; retry after %d s.", entra.Seconds(defaultRetryAfter)).
			WithRetryAfter(defaultRetryAfter), nil
	case untrusted(err):
		return problem.New(problem.ServerMisconfigured, "This server does not trust Entra ID's TLS certificate; check ENTRA_AUTHORITY_HOST and the certificate store (SSL_CERT_FILE). Details are in the server logs."), nil
	}
	// MSAL refused before sending (a malformed authority or metadata): configuration.
	return problem.New(problem.ServerMisconfigured, requestAdvice), nil
}

// classifyIdentity handles a failure to get the managed identity's token.
func classifyIdentity(ie *identityError) *problem.Error {
	var af *azidentity.AuthenticationFailedError
	if errors.As(ie.err, &af) && af.RawResponse != nil {
		if st := af.RawResponse.StatusCode; st == http.StatusTooManyRequests || st >= 500 {
			ra := retryAfter(af.RawResponse.Header)
			return problem.New(problem.UpstreamUnavailable, "The managed identity endpoint is unavailable (HTTP %d); retry after %d s.", st, entra.Seconds(ra)).
				WithRetryAfter(ra)
		}
	} else if unreachable(ie.err) {
		return problem.New(problem.UpstreamUnavailable, "The managed identity endpoint did not answer in time; retry after %d s.", entra.Seconds(defaultRetryAfter)).
			WithRetryAfter(defaultRetryAfter)
	}
	return problem.New(problem.ServerMisconfigured,
		"The managed identity named by ADDIN_FEDERATED_IDENTITY_CLIENT_ID could not get a token: check that it is assigned to the Function App. Details are in the server logs.")
}

// unreachable reports a timeout, a cancellation or a connection failure.
func unreachable(err error) bool {
	var ne net.Error
	var oe *net.OpError
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		(errors.As(err, &ne) && ne.Timeout()) || errors.As(err, &oe) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

func untrusted(err error) bool {
	var (
		cv *tls.CertificateVerificationError
		ua x509.UnknownAuthorityError
		he x509.HostnameError
		ci x509.CertificateInvalidError
	)
	return errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci)
}

// retryAfter reads Retry-After, defaulting to a few seconds.
func retryAfter(h http.Header) time.Duration {
	if d, ok := entra.RetryAfter(h, time.Now()); ok && d > 0 {
		return d
	}
	return defaultRetryAfter
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\r\n")
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 400 {
		s = s[:400] + "..."
	}
	return s
}

// failed classifies err and logs what Entra said (codes, trace and
// correlation IDs, its description) without any token or secret.
func (c *Client) failed(ctx context.Context, err error, tenantID string) error {
	p, e := classifyError(err)
	attrs := []slog.Attr{
		slog.String("code", string(p.Code)),
		slog.String("tenant", tenantID),
		slog.String("credential", c.credKind),
	}
	if e != nil {
		attrs = append(attrs,
			slog.Int("status", e.Status),
			slog.String("error", e.Name),
			slog.Any("error_codes", e.Codes),
			slog.String("suberror", e.SubError),
			slog.String("trace_id", e.TraceID),
			slog.String("correlation_id", e.CorrelationID),
			slog.String("timestamp", e.Timestamp),
			slog.String("description", firstLine(e.Description)),
		)
		p.WithCause(e)
	} else {
		// Only the text: it names the URL and the failure, never a request
		// body, while the error values behind it still hold the requests
		// (MSAL's form with the assertion and credential, the managed identity
		// header), which must not travel on with the problem.
		attrs = append(attrs, slog.String("error", err.Error()))
		p.WithCause(errors.New(err.Error()))
	}
	if p.RetryAfter > 0 {
		attrs = append(attrs, slog.Duration("retry_after", p.RetryAfter))
	}
	level := slog.LevelInfo // the user's part to play: consent, challenge, fresh token
	switch p.Code {
	case problem.ServerMisconfigured:
		level = slog.LevelError
	case problem.UpstreamUnavailable, problem.InvalidToken:
		level = slog.LevelWarn
	}
	c.log.LogAttrs(ctx, level, "obo: exchange failed", attrs...)
	return p
}
