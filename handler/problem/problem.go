// Package problem is the error contract every Function answers with:
// RFC 9457 application/problem+json carrying the stable
// members code and action, the claims of a challenge, and a correlation ID, with
// RFC 6750 WWW-Authenticate on 401s. The task pane acts on action alone.
//
// Messages are written for the developer reading them; they never carry a
// token, a secret or Entra's raw response (those go to the logs, redacted).
package problem

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/addinsso/addinsso/handler/entra"
)

// Action tells the task pane what to do next.
type Action string

const (
	RetrySSO      Action = "retry_sso"      // get a fresh token once, retry
	AuthChallenge Action = "auth_challenge" // get a token again with claims, retry
	Consent       Action = "consent"        // open the consent (fallback) dialog
	SignIn        Action = "sign_in"        // sign the user in interactively, retry
	RetryLater    Action = "retry_later"    // wait Retry-After, retry
	Fatal         Action = "fatal"          // a developer must fix something
)

// Code is a stable, documented reason.
type Code string

const (
	MissingToken         Code = "missing_token"
	InvalidToken         Code = "invalid_token"
	TokenExpired         Code = "token_expired"
	MFARequired          Code = "mfa_required"
	MFAMissing           Code = "mfa_missing"
	InteractionRequired  Code = "interaction_required"
	BlockedByPolicy      Code = "blocked_by_policy"
	AdminConsentRequired Code = "admin_consent_required"
	ClaimsChallenge      Code = "claims_challenge"
	ConsentRequired      Code = "consent_required"
	InsufficientScope    Code = "insufficient_scope"
	TenantNotAllowed     Code = "tenant_not_allowed"
	ClientNotAllowed     Code = "client_not_allowed"
	GraphPathForbidden   Code = "graph_path_forbidden"
	UpstreamUnavailable  Code = "upstream_unavailable"
	ServerMisconfigured  Code = "server_misconfigured"
	BadRequest           Code = "bad_request"
	NotFound             Code = "not_found"
	MethodNotAllowed     Code = "method_not_allowed"
	RequestTooLarge      Code = "request_too_large"
	UnsupportedMediaType Code = "unsupported_media_type"
	InternalError        Code = "internal_error"
)

type kind struct {
	status int
	action Action
	title  string
}

// kinds fixes each code's status, action and title so no caller can pair them wrongly.
var kinds = map[Code]kind{
	MissingToken:         {http.StatusUnauthorized, SignIn, "No access token was sent"},
	InvalidToken:         {http.StatusUnauthorized, Fatal, "The access token is not valid for this API"},
	TokenExpired:         {http.StatusUnauthorized, RetrySSO, "The access token has expired"},
	MFARequired:          {http.StatusUnauthorized, AuthChallenge, "Multi-factor authentication is required"},
	MFAMissing:           {http.StatusForbidden, Fatal, "The token does not show multi-factor authentication"},
	InteractionRequired:  {http.StatusUnauthorized, SignIn, "Entra ID needs the user to sign in interactively"},
	BlockedByPolicy:      {http.StatusForbidden, Fatal, "A Conditional Access policy blocks this access"},
	AdminConsentRequired: {http.StatusForbidden, Fatal, "An administrator must consent to the add-in's permissions"},
	ClaimsChallenge:      {http.StatusUnauthorized, AuthChallenge, "Entra ID asks for more claims"},
	ConsentRequired:      {http.StatusForbidden, Consent, "Consent to Microsoft Graph permissions is missing"},
	InsufficientScope:    {http.StatusForbidden, Fatal, "The access token lacks the required scope"},
	TenantNotAllowed:     {http.StatusForbidden, Fatal, "The user's organization is not allowed"},
	ClientNotAllowed:     {http.StatusForbidden, Fatal, "The calling application is not allowed"},
	GraphPathForbidden:   {http.StatusForbidden, Fatal, "This Microsoft Graph request is not allowed"},
	UpstreamUnavailable:  {http.StatusServiceUnavailable, RetryLater, "An upstream service is unavailable"},
	ServerMisconfigured:  {http.StatusInternalServerError, Fatal, "The server is misconfigured"},
	BadRequest:           {http.StatusBadRequest, Fatal, "The request is malformed"},
	NotFound:             {http.StatusNotFound, Fatal, "No such endpoint"},
	MethodNotAllowed:     {http.StatusMethodNotAllowed, Fatal, "Method not allowed"},
	RequestTooLarge:      {http.StatusRequestEntityTooLarge, Fatal, "The request body is too large"},
	UnsupportedMediaType: {http.StatusUnsupportedMediaType, Fatal, "Unsupported content type"},
	InternalError:        {http.StatusInternalServerError, Fatal, "Internal error"},
}

// Error is a problem a Function answers with. It is an error so packages can
// return it through ordinary error paths.
type Error struct {
	Code       Code
	Detail     string        // what went wrong and what to do; safe to show
	Claims     string        // claims challenge JSON, for auth_challenge
	RetryAfter time.Duration // for retry_later
	Status     int           // overrides the code's status (429 when Graph throttles)
	Cause      error         // for the logs only; never sent
}

// New returns a problem with the given code and a detail message.
func New(code Code, format string, args ...any) *Error {
	if _, ok := kinds[code]; !ok {
		panic("problem: unknown code " + string(code))
	}
	return &Error{Code: code, Detail: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Detail }

func (e *Error) Unwrap() error { return e.Cause }

// WithCause records what caused the problem, for the logs.
func (e *Error) WithCause(err error) *Error {
	e.Cause = err
	return e
}

// WithClaims attaches the claims a challenge asks for (auth_challenge).
func (e *Error) WithClaims(claims string) *Error {
	e.Claims = claims
	return e
}

// WithRetryAfter says how long the task pane should wait (retry_later).
func (e *Error) WithRetryAfter(d time.Duration) *Error {
	e.RetryAfter = d
	return e
}

// WithStatus answers with status instead of the code's (429 when Graph throttles).
func (e *Error) WithStatus(status int) *Error {
	e.Status = status
	return e
}

// StatusCode is the HTTP status the problem is answered with.
func (e *Error) StatusCode() int {
	if e.Status != 0 {
		return e.Status
	}
	return kinds[e.Code].status
}

// Action is what the task pane should do.
func (e *Error) Action() Action { return kinds[e.Code].action }

// Body is the problem+json document.
type Body struct {
	Type          string `json:"type"`
	Title         string `json:"title"`
	Status        int    `json:"status"`
	Detail        string `json:"detail,omitempty"`
	Code          Code   `json:"code"`
	Action        Action `json:"action"`
	Claims        string `json:"claims,omitempty"`
	RetryAfter    int    `json:"retryAfter,omitempty"`
	CorrelationID string `json:"correlationId,omitempty"`
	// Error repeats the problem in Microsoft Graph's error shape, so Graph's
	// own SDKs (GraphError) read our code, message and request ID too.
	Error GraphError `json:"error"`
}

// GraphError is Microsoft Graph's error object ({"error": {...}}).
type GraphError struct {
	Code       string          `json:"code"`
	Message    string          `json:"message"`
	InnerError GraphInnerError `json:"innerError"`
}

// GraphInnerError carries Graph's request identifiers; request-id is our
// correlation ID, the one the logs are searched by.
type GraphInnerError struct {
	Date            string `json:"date"`
	RequestID       string `json:"request-id,omitempty"`
	ClientRequestID string `json:"client-request-id,omitempty"`
}

// TypeBase prefixes each code to form the problem's type URI; the README
// documents each code under the matching anchor.
const TypeBase = "https://github.com/addinsso/addinsso/blob/main/README.md#"

// BodyOf is the document Write sends for e, for a problem answered inside
// another document (an inner response of a JSON batch), where no header
// carries Retry-After or WWW-Authenticate; the body holds both (retryAfter,
// claims). error.innerError's client-request-id is left to the caller.
func BodyOf(e *Error, correlationID string) Body {
	k := kinds[e.Code]
	body := Body{
		Type:          TypeBase + string(e.Code),
		Title:         k.title,
		Status:        e.StatusCode(),
		Detail:        e.Detail,
		Code:          e.Code,
		Action:        k.action,
		Claims:        e.Claims,
		CorrelationID: correlationID,
		Error: GraphError{Code: string(e.Code), Message: e.Detail, InnerError: GraphInnerError{
			Date:      time.Now().UTC().Format(time.RFC3339),
			RequestID: correlationID,
		}},
	}
	if e.RetryAfter > 0 {
		body.RetryAfter = entra.Seconds(e.RetryAfter)
	}
	return body
}

// Media types a problem is answered as: RFC 9457's, and JSON for callers that
// are Graph clients (Graph's SDKs parse an error body only as application/json).
const (
	MediaType     = "application/problem+json"
	JSONMediaType = "application/json"
)

// Write answers with the problem as mediaType (MediaType or JSONMediaType;
// the document is the same). The correlation ID is the one the request
// carries through the correlation middleware.
func Write(w http.ResponseWriter, e *Error, correlationID, mediaType string) {
	body := BodyOf(e, correlationID)
	h := w.Header()
	body.Error.InnerError.ClientRequestID = h.Get("Client-Request-Id")
	h.Set("Content-Type", mediaType)
	h.Set("Cache-Control", "no-store")
	if body.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(body.RetryAfter))
	}
	if body.Status == http.StatusUnauthorized || e.Code == InsufficientScope {
		h.Set("WWW-Authenticate", wwwAuthenticate(e))
	}
	w.WriteHeader(body.Status)
	_ = json.NewEncoder(w).Encode(body)
}

// wwwAuthenticate follows RFC 6750 and, for challenges, the form Entra's
// continuous access evaluation uses: claims base64-encoded in the header.
func wwwAuthenticate(e *Error) string {
	switch {
	case e.Claims != "":
		return fmt.Sprintf(`Bearer error="insufficient_claims", error_description=%q, claims="%s"`,
			kinds[e.Code].title, base64.StdEncoding.EncodeToString([]byte(e.Claims)))
	case e.Code == MissingToken:
		return `Bearer`
	case e.Code == InsufficientScope:
		return fmt.Sprintf(`Bearer error="insufficient_scope", error_description=%q`, kinds[e.Code].title)
	default:
		return fmt.Sprintf(`Bearer error="invalid_token", error_description=%q`, kinds[e.Code].title)
	}
}
