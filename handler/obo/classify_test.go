package obo

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/addinsso/addinsso/handler/entra"
	"github.com/addinsso/addinsso/handler/problem"
)

// body is an Entra error response as its token endpoint documents it.
func body(name string, code int, msg string, extra ...string) string {
	b := fmt.Sprintf(`{"error":%q,"error_description":"AADSTS%d: %s\r\nTrace ID: 0000aaaa-11bb-cccc-dd22-eeeeee333333\r\nCorrelation ID: aaaa0000-bb11-2222-33cc-444444dddddd\r\nTimestamp: 2026-01-09 02:02:12Z","error_codes":[%d],"timestamp":"2026-01-09 02:02:12Z","trace_id":"0000aaaa-11bb-cccc-dd22-eeeeee333333","correlation_id":"aaaa0000-bb11-2222-33cc-444444dddddd","error_uri":"https://login.microsoftonline.com/error?code=%d"`,
		name, code, msg, code, code)
	for _, e := range extra {
		b += "," + e
	}
	return b + "}"
}

const mfaClaims = `{"access_token":{"polids":{"essential":true,"values":["9ab03e19-ed42-4168-b6b7-7001fb3e933a"]}}}`

func TestClassify(t *testing.T) {
	cases := []struct {
		name       string
		status     int
		retryAfter string
		body       string
		want       problem.Code
		claims     string
		wantRetry  time.Duration
	}{
		// Consent (the On-Behalf-Of documentation's consent error).
		{name: "65001 consent_required", status: 400, want: problem.ConsentRequired,
			body: body("invalid_grant", 65001, "The user or administrator has not consented to use the application with ID 'd3ce4cf8-6810-442d-b42e-375e14710095' named 'Contoso add-in'. Send an interactive authorization request for this user and resource.", `"suberror":"consent_required"`)},
		{name: "65004 declined", status: 400, want: problem.ConsentRequired,
			body: body("access_denied", 65004, "User declined to consent to access the app.")},
		{name: "consent wins over claims", status: 400, want: problem.ConsentRequired,
			body: body("invalid_grant", 65001, "Not consented.", `"suberror":"consent_required"`, `"claims":"{\"access_token\":{}}"`)},

		// Conditional Access (the On-Behalf-Of documentation's 50079 example).
		{name: "50079 with claims", status: 400, want: problem.ClaimsChallenge, claims: mfaClaims,
			body: body("interaction_required", 50079, "Due to a configuration change made by your administrator, or because you moved to a new location, you must enroll in multifactor authentication to access 'bf8d80f9-9098-4972-b203-500f535113b1'.", `"claims":"{\"access_token\":{\"polids\":{\"essential\":true,\"values\":[\"9ab03e19-ed42-4168-b6b7-7001fb3e933a\"]}}}"`)},
		{name: "50076 with claims", status: 400, want: problem.ClaimsChallenge, claims: mfaClaims,
			body: body("interaction_required", 50076, "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access 'https://graph.microsoft.com'.", `"claims":"{\"access_token\":{\"polids\":{\"essential\":true,\"values\":[\"9ab03e19-ed42-4168-b6b7-7001fb3e933a\"]}}}"`)},
		{name: "50074 without claims", status: 400, want: problem.InteractionRequired,
			body: body("interaction_required", 50074, "Strong Authentication is required.")},
		{name: "50158 external challenge", status: 400, want: problem.InteractionRequired,
			body: body("interaction_required", 50158, "External security challenge not satisfied.")},
		{name: "53003 blocked, message_only", status: 400, want: problem.BlockedByPolicy,
			body: body("interaction_required", 53003, "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.", `"suberror":"message_only"`)},
		{name: "53000 device not compliant", status: 400, want: problem.InteractionRequired,
			body: body("interaction_required", 53000, "Device is not in required device state: compliant.")},
		{name: "any claims is a challenge", status: 400, want: problem.ClaimsChallenge, claims: `{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`,
			body: body("invalid_grant", 50999, "Something new.", `"claims":"{\"access_token\":{\"acrs\":{\"essential\":true,\"value\":\"c1\"}}}"`)},
		{name: "50173 grant revoked", status: 400, want: problem.InteractionRequired,
			body: body("invalid_grant", 50173, "The provided grant has expired due to it being revoked, a fresh auth token is needed.")},
		{name: "user_password_expired suberror", status: 400, want: problem.InteractionRequired,
			body: body("invalid_grant", 50055, "The password is expired.", `"suberror":"user_password_expired"`)},

		{name: "blocked by its suberror alone", status: 400, want: problem.BlockedByPolicy,
			body: body("interaction_required", 53999, "A policy blocks this.", `"suberror":"message_only"`)},
		{name: "530032 blocked by security policy", status: 400, want: problem.BlockedByPolicy,
			body: body("invalid_grant", 530032, "Blocked by a security policy.")},
		{name: "blocked wins over claims", status: 400, want: problem.BlockedByPolicy,
			body: body("interaction_required", 53003, "Access has been blocked by Conditional Access policies.", `"claims":"{\"access_token\":{}}"`)},
		{name: "basic_action suberror", status: 400, want: problem.InteractionRequired,
			body: body("invalid_grant", 50999, "Something the user can fix.", `"suberror":"basic_action"`)},
		{name: "additional_action suberror", status: 400, want: problem.InteractionRequired,
			body: body("invalid_grant", 50999, "Register the device.", `"suberror":"additional_action"`)},
		{name: "interaction_required with a new code", status: 400, want: problem.InteractionRequired,
			body: body("interaction_required", 59999, "Something new the user must do.")},
		{name: "70043 sign-in frequency", status: 400, want: problem.InteractionRequired,
			body: body("invalid_grant", 70043, "The refresh token has expired or is invalid due to sign-in frequency checks by conditional access.")},
		{name: "consent by suberror alone", status: 400, want: problem.ConsentRequired,
			body: body("invalid_grant", 59999, "Not consented.", `"suberror":"consent_required"`)},
		{name: "consent_required as the error", status: 400, want: problem.ConsentRequired,
			body: body("consent_required", 59999, "Not consented.")},
		{name: "90094 admin consent", status: 400, want: problem.AdminConsentRequired,
			body: body("invalid_grant", 90094, "The grant requires admin permission.")},
		{name: "90094 as interaction_required", status: 400, want: problem.AdminConsentRequired,
			body: body("interaction_required", 90094, "The grant requires admin permission.")},
		{name: "50196 loop detected", status: 400, want: problem.UpstreamUnavailable, wantRetry: loopRetryAfter,
			body: body("invalid_request", 50196, "The server terminated an operation because it encountered a client request loop.")},

		// The assertion's time ran out.
		{name: "500133 expired assertion", status: 400, want: problem.TokenExpired,
			body: body("invalid_grant", 500133, "Assertion is not within its valid time range. Ensure that the access token is not expired before using it for user assertion, or request a new token. Current time: 2026-01-09T02:02:12.0000000Z, expiry time of assertion 2026-01-09T01:55:57.0000000Z.")},
		{name: "50013 invalid assertion", status: 400, want: problem.TokenExpired,
			body: body("invalid_grant", 50013, "Assertion failed signature validation. [Reason - The key was not found.]")},
		{name: "bad_token suberror", status: 400, want: problem.TokenExpired,
			body: body("invalid_grant", 50999, "Bad token.", `"suberror":"bad_token"`)},

		// The server's own credential or registration.
		{name: "7000215 wrong secret", status: 401, want: problem.ServerMisconfigured,
			body: body("invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '11111111-2222-4333-8444-555555555555'.")},
		{name: "7000222 expired secret", status: 401, want: problem.ServerMisconfigured,
			body: body("invalid_client", 7000222, "The provided client secret keys for app '11111111-2222-4333-8444-555555555555' are expired.")},
		{name: "700027 certificate signature", status: 401, want: problem.ServerMisconfigured,
			body: body("invalid_client", 700027, "Client assertion failed signature validation.")},
		{name: "700024 client assertion time", status: 401, want: problem.ServerMisconfigured,
			body: body("invalid_client", 700024, "Client assertion is not within its valid time range.")},
		{name: "700016 app not found", status: 400, want: problem.ServerMisconfigured,
			body: body("unauthorized_client", 700016, "Application with identifier '11111111-2222-4333-8444-555555555555' was not found in the directory 'contoso'.")},
		{name: "70021 federated, as invalid_request", status: 400, want: problem.ServerMisconfigured,
			body: body("invalid_request", 70021, "No matching federated identity record found for presented assertion. Assertion Issuer: 'https://kubernetes.default.svc.cluster.local'. Assertion Subject: 'system:serviceaccount:default:workload-identity-sa'. Assertion Audience: 'api://AzureADTokenExchange'.")},
		{name: "700213 federated subject", status: 401, want: problem.ServerMisconfigured,
			body: body("invalid_client", 700213, "No matching federated identity record found for presented assertion subject 'x'.")},
		{name: "700211 federated issuer", status: 401, want: problem.ServerMisconfigured,
			body: body("invalid_client", 700211, "No matching federated identity record found for presented assertion issuer 'x'.")},
		{name: "invalid_client with a new code", status: 401, want: problem.ServerMisconfigured,
			body: body("invalid_client", 7999999, "Something new about the client.")},
		{name: "70011 invalid scope", status: 400, want: problem.ServerMisconfigured,
			body: body("invalid_scope", 70011, "The provided value for the input parameter 'scope' isn't valid. The scope https://example.contoso.com/activity.read isn't valid.")},
		{name: "90002 tenant not found (metadata)", status: 400, want: problem.ServerMisconfigured,
			body: body("invalid_tenant", 90002, "Tenant 'aaaaaaaa-0000-4000-8000-00000000000a' not found.")},
		{name: "unsupported grant type", status: 400, want: problem.ServerMisconfigured,
			body: body("unsupported_grant_type", 70003, "The app requested an unsupported grant type.")},
		{name: "a page that is not Entra's", status: 404, want: problem.ServerMisconfigured, body: "<html>Not Found</html>"},
		{name: "a redirect", status: 302, want: problem.ServerMisconfigured, body: ""},

		// Other grants Entra refuses.
		{name: "500131 audience mismatch", status: 400, want: problem.InvalidToken,
			body: body("invalid_grant", 500131, "Assertion audience does not match the Client app presenting the assertion.")},
		{name: "unknown invalid_grant", status: 400, want: problem.InvalidToken,
			body: body("invalid_grant", 54321, "Something the classifier has never seen.")},

		// Later.
		{name: "429 with Retry-After", status: 429, retryAfter: "30", want: problem.UpstreamUnavailable, wantRetry: 30 * time.Second,
			body: body("temporarily_unavailable", 90055, "There are too many incoming requests.")},
		{name: "503 without Retry-After, not JSON", status: 503, want: problem.UpstreamUnavailable, wantRetry: defaultRetryAfter, body: "Service Unavailable"},
		{name: "500 server_error", status: 500, want: problem.UpstreamUnavailable, wantRetry: defaultRetryAfter,
			body: body("server_error", 50000, "There was an error issuing a token or an issue with our sign-in service.")},
		{name: "504 from a gateway", status: 504, want: problem.UpstreamUnavailable, wantRetry: defaultRetryAfter, body: "<html>Gateway Timeout</html>"},
		{name: "Retry-After as a date", status: 503, retryAfter: time.Now().Add(42 * time.Second).UTC().Format(http.TimeFormat), want: problem.UpstreamUnavailable, wantRetry: 42 * time.Second},
		{name: "Retry-After too long", status: 429, retryAfter: "86400", want: problem.UpstreamUnavailable, wantRetry: entra.MaxRetryAfter},
		{name: "Retry-After garbage", status: 429, retryAfter: "soon", want: problem.UpstreamUnavailable, wantRetry: defaultRetryAfter},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.retryAfter != "" {
				h.Set("Retry-After", tc.retryAfter)
			}
			e := parseEntraError(tc.status, h, []byte(tc.body))
			p := classify(e)
			if p.Code != tc.want {
				t.Fatalf("code %s, want %s (%s)", p.Code, tc.want, p.Detail)
			}
			if p.Claims != tc.claims {
				t.Errorf("claims %q, want %q", p.Claims, tc.claims)
			}
			if d := p.RetryAfter - tc.wantRetry; d < -time.Second || d > time.Second {
				t.Errorf("Retry-After %v, want %v", p.RetryAfter, tc.wantRetry)
			}
			for _, raw := range []string{"Trace ID", "0000aaaa-11bb", "Correlation ID", "Assertion Subject", "client secret value"} {
				if strings.Contains(p.Detail, raw) {
					t.Errorf("detail carries Entra's raw response (%q): %s", raw, p.Detail)
				}
			}
			if e.Status != tc.status {
				t.Errorf("status %d", e.Status)
			}
		})
	}
}

func TestClassifyParsesEntraFields(t *testing.T) {
	e := parseEntraError(400, nil, []byte(body("interaction_required", 50079, "MFA.", `"suberror":"basic_action"`, `"claims":"{}"`)))
	if e.Name != "interaction_required" || len(e.Codes) != 1 || e.Codes[0] != 50079 || e.SubError != "basic_action" || e.Claims != "{}" ||
		e.TraceID != "0000aaaa-11bb-cccc-dd22-eeeeee333333" || e.CorrelationID != "aaaa0000-bb11-2222-33cc-444444dddddd" || e.Timestamp == "" {
		t.Errorf("parsed %+v", e)
	}
	if msg := e.Error(); strings.Contains(msg, "\r\n") || !strings.Contains(msg, "50079") || !strings.Contains(msg, "trace_id=0000aaaa") {
		t.Errorf("Error() %q", msg)
	}
}

func TestClassifyTransportErrors(t *testing.T) {
	resp := func(status int) *http.Response {
		return &http.Response{StatusCode: status, Header: http.Header{"Retry-After": {"9"}}, Request: &http.Request{Method: "GET"}}
	}
	cases := []struct {
		name      string
		err       error
		want      problem.Code
		wantRetry time.Duration
	}{
		{"deadline", fmt.Errorf("server response error:\n %w", context.DeadlineExceeded), problem.UpstreamUnavailable, defaultRetryAfter},
		{"canceled", context.Canceled, problem.UpstreamUnavailable, defaultRetryAfter},
		{"unknown CA", fmt.Errorf("tls: %w", x509.UnknownAuthorityError{}), problem.ServerMisconfigured, 0},
		{"MSAL refused before sending", errors.New("unable to resolve an endpoint: issuer does not match authority"), problem.ServerMisconfigured, 0},
		{"managed identity endpoint down", &identityError{&azidentity.AuthenticationFailedError{RawResponse: resp(503)}}, problem.UpstreamUnavailable, 9 * time.Second},
		{"managed identity not assigned", &identityError{&azidentity.AuthenticationFailedError{RawResponse: resp(400)}}, problem.ServerMisconfigured, 0},
		{"managed identity timed out", &identityError{context.DeadlineExceeded}, problem.UpstreamUnavailable, defaultRetryAfter},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, e := classifyError(tc.err)
			if p.Code != tc.want || p.RetryAfter != tc.wantRetry || e != nil {
				t.Errorf("got %s (Retry-After %v, entra %v), want %s (%v)", p.Code, p.RetryAfter, e, tc.want, tc.wantRetry)
			}
		})
	}
}

func TestTokenExchangeAudience(t *testing.T) {
	for host, want := range map[string]string{
		"https://login.microsoftonline.com":        "api://AzureADTokenExchange",
		"https://login.microsoftonline.us":         "api://AzureADTokenExchangeUSGov",
		"https://login.chinacloudapi.cn":           "api://AzureADTokenExchangeChina",
		"https://login.partner.microsoftonline.cn": "api://AzureADTokenExchangeChina",
		"https://127.0.0.1:8443":                   "api://AzureADTokenExchange",
	} {
		if got := tokenExchangeAudience(host); got != want {
			t.Errorf("%s: %s, want %s", host, got, want)
		}
	}
}
