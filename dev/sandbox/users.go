package main

import (
	"slices"
	"time"

	"github.com/addinsso/addinsso/dev/entra"
	"github.com/addinsso/addinsso/dev/graph"
)

// The sandbox's fixed identities, so what the pane shows is the same from one
// run to the next.
const (
	clientID       = "5a1db0c5-0000-4000-8000-5a1db0c5a1db" // the add-in's app registration
	contosoTenant  = "c0de0000-0000-4000-8000-00000000c0de" // the add-in's users
	fabrikamTenant = "fab00000-0000-4000-8000-00000000fab0" // a tenant ADDIN_ALLOWED_TENANTS leaves out
)

// Client apps Office's legacy SSO tokens name (appid), as pre-authorized on an
// add-in's registration.
const (
	outlookWebApp = "bc59ab01-8403-45c6-8796-ac3ef710b3e3" // Outlook on the web
	officeDesktop = "d3590ed6-52b3-4102-aeff-aad2292ab01c" // Microsoft Office (desktop)
)

// devUser is one user of the picker with its scripted scenario. The scenario's
// hooks are the only place that talks to the emulators' scripting APIs.
type devUser struct {
	Name     string // the picker's key, e.g. "alice"
	User     entra.User
	Scenario string // what the developer will see, shown under the picker

	// setup scripts the emulators; it runs at start and at every sign-in (a
	// pick in the pane), so a scenario can be replayed.
	setup func(s *Sandbox, u *devUser)
	// consented runs when the pane's consent step grants Graph consent.
	consented func(s *Sandbox, u *devUser)
	// expiredFirst: the first token after a sign-in has already expired.
	expiredFirst bool
}

// devUsers is the picker, in order. Each description says what the user sees
// with the MFA policy off (the sandbox's default); mfaPolicies say what the
// other policies add. Scenarios that depend on the On-Behalf-Of exchange play
// once per sign-in: after a success the handler caches the Graph token for the
// token it was exchanged for, as it should. Every sign-in (a pick, or the
// pane's "Sign in again") is a new token, so a new session, and the pane signs
// the previous one out (/api/signout) first.
var devUsers = []*devUser{
	{
		Name:     "alice",
		User:     entra.User{TenantID: contosoTenant, ObjectID: "a11ce000-0000-4000-8000-000000000001", Name: "Alice Anders", Username: "alice@contoso.example"},
		Scenario: "The happy path: Validate, Exchange and every Graph call succeed at once. Switch the MFA policy to see what the API then asks of her token.",
	},
	{
		Name: "mfa-bob",
		User: entra.User{TenantID: contosoTenant, ObjectID: "b0b00000-0000-4000-8000-000000000002", Name: "Bob Brown", Username: "bob@contoso.example"},
		Scenario: "Conditional Access requires MFA for Microsoft Graph. Validate succeeds; Exchange (or a Graph call) answers claims_challenge " +
			"(AADSTS50076, with claims naming the policy): the pane gets a token with those claims (the user completes MFA) and retries once, and it succeeds. " +
			"With the v1.0 Outlook desktop token the token inspector shows amr pwd before and pwd, mfa after; a v2.0 token shows no difference.",
		// The policy stays: Entra decides by the session of each token it is given.
		setup: func(s *Sandbox, u *devUser) {
			s.entra.Script(u.User.ObjectID, entra.Outcome{Kind: entra.MFARequired})
		},
	},
	{
		Name:     "consent-carol",
		User:     entra.User{TenantID: contosoTenant, ObjectID: "ca201000-0000-4000-8000-000000000003", Name: "Carol Chen", Username: "carol@contoso.example"},
		Scenario: "Graph consent is missing: Exchange (or a Graph call) answers consent_required (AADSTS65001); the pane runs its consent step, then retries once, and it succeeds.",
		setup: func(s *Sandbox, u *devUser) {
			s.entra.Script(u.User.ObjectID, entra.Outcome{Kind: entra.ConsentMissing})
		},
		consented: func(s *Sandbox, u *devUser) {
			s.entra.Script(u.User.ObjectID, entra.Outcome{})
		},
	},
	{
		Name: "throttled-dave",
		User: entra.User{TenantID: contosoTenant, ObjectID: "da7e0000-0000-4000-8000-000000000004", Name: "Dave Diaz", Username: "dave@contoso.example"},
		Scenario: "Graph throttles: her first Graph call (/me, Messages or Photo) answers upstream_unavailable (429, Retry-After: 3, longer than graph-proxy waits out by itself); " +
			"the pane waits 3 s and retries once, and it succeeds.",
		setup: func(s *Sandbox, u *devUser) {
			s.scriptGraph(u, graph.Throttled(3*time.Second))
		},
	},
	{
		Name: "expired-erin",
		User: entra.User{TenantID: contosoTenant, ObjectID: "e1e00000-0000-4000-8000-000000000005", Name: "Erin Evans", Username: "erin@contoso.example"},
		Scenario: "Her token has expired: the first token after sign-in expired an hour ago, so the first call, whichever button, answers token_expired (retry_sso); " +
			"the pane gets a fresh token and retries once, and it succeeds. (Entra's AADSTS500133 at the exchange is the same problem and is answered the same way.)",
		expiredFirst: true,
	},
	{
		Name:     "outage-olga",
		User:     entra.User{TenantID: contosoTenant, ObjectID: "01da0000-0000-4000-8000-000000000006", Name: "Olga Olsen", Username: "olga@contoso.example"},
		Scenario: "Entra ID is unavailable once: Exchange (or the first Graph call) answers upstream_unavailable (503, Retry-After: 3); the pane waits 3 s and retries once, and it succeeds.",
		setup: func(s *Sandbox, u *devUser) {
			s.entra.Script(u.User.ObjectID, entra.Outcome{Kind: entra.Unavailable, RetryAfter: 3 * time.Second, Times: 1})
		},
	},
	{
		Name: "cae-cora",
		User: entra.User{TenantID: contosoTenant, ObjectID: "c02a0000-0000-4000-8000-000000000007", Name: "Cora Cruz", Username: "cora@contoso.example"},
		Scenario: "Continuous access evaluation: her first Graph call succeeds, then an administrator revokes her sessions. " +
			"The next Graph call answers claims_challenge from Microsoft Graph (401, claims with nbf): the pane gets a token with the claims and retries once, and it succeeds. " +
			"Graph challenges only CAE-capable tokens: the API declares the cp1 client capability.",
		setup: func(s *Sandbox, u *devUser) {
			s.revokeAfterFirstGraphCall(u)
		},
	},
	{
		Name:     "blocked-bea",
		User:     entra.User{TenantID: contosoTenant, ObjectID: "b1ea0000-0000-4000-8000-000000000009", Name: "Bea Berg", Username: "bea@contoso.example"},
		Scenario: "Conditional Access blocks her: Validate succeeds, Exchange (or a Graph call) answers blocked_by_policy (AADSTS53003): fatal, no sign-in can satisfy it; the pane says why and what an administrator can check.",
		setup: func(s *Sandbox, u *devUser) {
			s.entra.Script(u.User.ObjectID, entra.Outcome{Kind: entra.BlockedByPolicy})
		},
	},
	{
		Name:     "fabrikam-frank",
		User:     entra.User{TenantID: fabrikamTenant, ObjectID: "f2a00000-0000-4000-8000-000000000008", Name: "Frank Fischer", Username: "frank@fabrikam.example"},
		Scenario: "A tenant the API does not allow (ADDIN_ALLOWED_TENANTS): every call answers tenant_not_allowed: fatal, an administrator's setting.",
	},
}

func findUser(name string) *devUser {
	i := slices.IndexFunc(devUsers, func(u *devUser) bool { return u.Name == name })
	if i < 0 {
		return nil
	}
	return devUsers[i]
}

// tokenProfile is how a host would have issued the add-in's token.
type tokenProfile struct {
	ID    string
	Label string
	token func(s *Sandbox) entra.Token
}

// tokenProfiles are the picker's token choices: the host and how the user
// signed in to it, in the token version the app registration asks for
// (requestedAccessTokenVersion). v2.0 first, as infra/ deploys it: there
// Outlook desktop and the web differ only in the session, which the token does
// not show; in v1.0 tokens amr shows it (docs/architecture.md).
var tokenProfiles = []tokenProfile{
	{"naa", "v2.0 · Nested App Authentication (any host)", func(s *Sandbox) entra.Token {
		return entra.Token{Version: "2.0", ClientApp: clientID} // with NAA the client is the add-in itself
	}},
	{"owa", "v2.0 · Outlook on the web, legacy SSO (signed in with MFA)", func(s *Sandbox) entra.Token {
		return entra.Token{Version: "2.0", ClientApp: outlookWebApp, AMR: []string{"pwd", "mfa"}}
	}},
	{"desktop", "v2.0 · Outlook desktop, legacy SSO (Windows sign-in, no MFA)", func(s *Sandbox) entra.Token {
		return entra.Token{Version: "2.0", ClientApp: officeDesktop, AMR: []string{"pwd"}}
	}},
	{"owa-v1", "v1.0 · Outlook on the web, legacy SSO (amr has mfa)", func(s *Sandbox) entra.Token {
		return entra.Token{Version: "1.0", Audience: s.appIDURI, ClientApp: outlookWebApp, AMR: []string{"pwd", "mfa"}}
	}},
	{"desktop-v1", "v1.0 · Outlook desktop, legacy SSO (amr lacks mfa)", func(s *Sandbox) entra.Token {
		return entra.Token{Version: "1.0", Audience: s.appIDURI, ClientApp: officeDesktop, AMR: []string{"pwd"}}
	}},
}

func findProfile(id string) (tokenProfile, bool) {
	i := slices.IndexFunc(tokenProfiles, func(p tokenProfile) bool { return p.ID == id })
	if i < 0 {
		return tokenProfile{}, false
	}
	return tokenProfiles[i], true
}

// mfaPolicy is one setting of the handler's ADDIN_MFA_POLICY the pane can switch to.
type mfaPolicy struct {
	ID      string
	Label   string
	Explain string // what every user then meets
}

// mfaPolicies are the pane's MFA policy switch, the sandbox's default first.
// acrs:c1 names the authentication context the sandbox defines in Entra.
var mfaPolicies = []mfaPolicy{
	{"off", "Off", "The API does not check MFA. Conditional Access in Entra (mfa-bob) still applies at the exchange."},
	{"amr", "amr", "The API requires mfa in a v1.0 token's amr: Outlook desktop's v1.0 token answers mfa_missing (fatal: an administrator's fix), " +
		"Outlook on the web's passes; v2.0 tokens carry no amr, so every call answers server_misconfigured."},
	{"acrs:c1", "acrs:c1", "The API requires authentication context c1: a token without it answers mfa_required with an acrs claims challenge; " +
		"the pane gets a token with the claims (the user completes MFA) and retries once, and it succeeds, in every token version."},
}

func findPolicy(id string) (mfaPolicy, bool) {
	i := slices.IndexFunc(mfaPolicies, func(p mfaPolicy) bool { return p.ID == id })
	if i < 0 {
		return mfaPolicy{}, false
	}
	return mfaPolicies[i], true
}
