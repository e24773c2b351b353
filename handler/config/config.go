// Package config reads the handler's settings (Function App settings, or
// local.settings.json under `func start`) and validates them once, at start.
//
// Every setting is declared in Settings; reading an undeclared name panics, so
// Settings is the complete list that Bicep, local.settings.sample.json and the
// README are checked against.
package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/addinsso/addinsso/handler/entra"
	"github.com/addinsso/addinsso/handler/graphroute"
)

// Setting is one app setting the handler reads.
type Setting struct {
	Name    string
	Default string
	Doc     string
}

// Settings lists every app setting the handler reads, in the order the README's
// settings table gives them.
var Settings = []Setting{
	{"ADDIN_CLIENT_ID", "", "the add-in's app registration (client) ID; required"},
	{"ADDIN_APP_ID_URI", "", "Application ID URI (api://<domain>/<client id>), accepted as audience of v1.0 tokens"},
	{"ADDIN_TENANT_ID", "organizations", "organizations (work and school accounts of any tenant), common (also personal Microsoft accounts) or one tenant's ID"},
	{"ADDIN_ALLOWED_TENANTS", "", "comma-separated tenant IDs allowed to call; empty allows all"},
	{"ADDIN_REQUIRED_SCOPE", "access_as_user", "scope the add-in's token must carry"},
	{"ADDIN_ALLOWED_CLIENT_APPS", "", "comma-separated client IDs allowed as the token's azp (v2.0) or appid (v1.0); empty: the Office clients Microsoft documents for SSO pre-authorisation, plus ADDIN_CLIENT_ID"},
	{"ADDIN_MFA_POLICY", "off", "off, amr (v1.0 tokens must show mfa) or acrs:<context id>"},
	{"ADDIN_CLIENT_SECRET", "", "client secret (local development)"},
	{"ADDIN_CLIENT_CERTIFICATE_PATH", "", "PEM file holding the client certificate and its private key"},
	{"ADDIN_FEDERATED_IDENTITY_CLIENT_ID", "", "client ID of a user-assigned managed identity trusted as a federated credential (production default)"},
	{"ENTRA_AUTHORITY_HOST", "https://login.microsoftonline.com", "Entra ID host (sovereign clouds, emulators)"},
	{"GRAPH_BASE_URL", "https://graph.microsoft.com", "Microsoft Graph's base URL"},
	{"GRAPH_SCOPES", "User.Read", "delegated Graph scopes the API may request (space- or comma-separated)"},
	{"GRAPH_ALLOWED_ROUTES", "GET /v1.0/me", "comma-separated METHOD /path pairs graph-proxy forwards"},
	{"TOKEN_CACHE_CONNECTION_STRING", "", "Table Storage connection string (UseDevelopmentStorage=true for Azurite)"},
	{"TOKEN_CACHE_ENDPOINT", "", "Table Storage endpoint, reached with the managed identity (production)"},
	{"TOKEN_CACHE_TABLE", "graphtokens", "Table Storage table name"},
	{"TOKEN_CACHE_ENCRYPTION_KEY", "", "comma-separated <id>:<base64 32 bytes> keys; the first encrypts, all decrypt"},
	{"FUNCTIONS_CUSTOMHANDLER_PORT", "8080", "port the handler listens on (set by the Functions host)"},
}

// Config is the validated configuration, compiled into the values the
// packages take as they are: nothing is parsed or checked a second time.
type Config struct {
	ClientID       string
	AppIDURI       string   // empty when not set
	TenantID       string   // MultiTenant, Common or a tenant GUID (lower case)
	AllowedTenants []string // empty: all tenants
	RequiredScope  string
	// AllowedClientApps are the client IDs (lower case) allowed to call: the
	// token's azp (v2.0) or appid (v1.0).
	AllowedClientApps []string
	MFA               MFAPolicy
	Credential        Credential
	AuthorityHost     string   // https://host[:port], no trailing slash
	GraphBase         *url.URL // https://host[:port][/path], no trailing slash
	GraphScopes       []string
	GraphRoutes       []graphroute.Route
	TokenCache        TokenCache
	Port              string
	// Warnings are settings that load but look wrong for production, one
	// line each naming the setting; main logs them at start.
	Warnings []string
}

// ADDIN_TENANT_ID values that name no single tenant, as Entra's authorities do.
const (
	MultiTenant = "organizations" // work and school accounts of any tenant
	Common      = "common"        // those, and personal Microsoft accounts
)

// OfficeClientApps are the Office client applications Microsoft's "Register an
// Office Add-in that uses SSO" lists for pre-authorisation: the one for all
// Office endpoints, then Office desktop, Office on the web and Outlook on the web.
var OfficeClientApps = []string{
	"ea5a67f6-b6f3-4338-b240-c655ddc3cc8e",
	"d3590ed6-52b3-4102-aeff-aad2292ab01c",
	"93d53678-613d-4013-afc1-62e9e444a0a5",
	"57fb890c-0dab-4253-a5e0-7188c88b2bb4",
	"08e18876-6177-487e-b8b5-cf950c1e598c",
	"bc59ab01-8403-45c6-8796-ac3ef710b3e3",
}

// MFAMode is how a token must show multi-factor authentication.
type MFAMode string

const (
	MFAOff  MFAMode = "off"
	MFAAMR  MFAMode = "amr"
	MFAACRS MFAMode = "acrs"
)

// MFAPolicy is ADDIN_MFA_POLICY parsed; Context is set for MFAACRS.
type MFAPolicy struct {
	Mode    MFAMode
	Context string
}

// Credential is how the app proves itself to Entra ID; exactly one field is set.
type Credential struct {
	Secret                    string
	CertificatePath           string
	FederatedIdentityClientID string
}

// TokenCache says where Graph tokens are cached. With neither ConnectionString
// nor Endpoint the cache lives in memory only.
type TokenCache struct {
	ConnectionString string
	Endpoint         string
	Table            string
	Keys             []Key // first one encrypts
}

// Microsoft's cloud hosts, as its national cloud documentation lists them.
// Anything else (an emulator, a proxy) loads, with a warning.
var (
	// microsoftAuthorityHosts are Entra ID's: global, US Government, and the
	// two names of the one operated by 21Vianet in China.
	microsoftAuthorityHosts = []string{"login.microsoftonline.com", "login.microsoftonline.us", "login.chinacloudapi.cn", "login.partner.microsoftonline.cn"}
	// microsoftGraphHosts are Graph's: global, US Government L4 and L5 (DoD),
	// and China.
	microsoftGraphHosts = []string{"graph.microsoft.com", "graph.microsoft.us", "dod-graph.microsoft.us", "microsoftgraph.chinacloudapi.cn"}
)

// UsesTableStorage reports whether a Table Storage level is configured.
func (t TokenCache) UsesTableStorage() bool { return t.ConnectionString != "" || t.Endpoint != "" }

// Key is one token-cache encryption key.
type Key struct {
	ID     string
	Secret []byte // 32 bytes: AES-256
}

var (
	scopePattern = regexp.MustCompile(`^[A-Za-z0-9_.\-]{1,120}$`)
	acrsPattern  = regexp.MustCompile(`^c[1-9][0-9]?$`)
	keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9_\-]{1,32}$`)
	tablePattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]{2,62}$`)
	portPattern  = regexp.MustCompile(`^[0-9]{1,5}$`)
)

// Load reads and validates every setting through lookup (os.LookupEnv in
// production). The error names the first bad setting and what is wrong.
func Load(lookup func(string) (string, bool)) (*Config, error) {
	r := reader{lookup: lookup}
	c := &Config{
		ClientID:      r.get("ADDIN_CLIENT_ID"),
		AppIDURI:      r.get("ADDIN_APP_ID_URI"),
		TenantID:      r.get("ADDIN_TENANT_ID"),
		RequiredScope: r.get("ADDIN_REQUIRED_SCOPE"),
		Credential: Credential{
			Secret:                    r.get("ADDIN_CLIENT_SECRET"),
			CertificatePath:           r.get("ADDIN_CLIENT_CERTIFICATE_PATH"),
			FederatedIdentityClientID: r.get("ADDIN_FEDERATED_IDENTITY_CLIENT_ID"),
		},
		TokenCache: TokenCache{
			ConnectionString: r.get("TOKEN_CACHE_CONNECTION_STRING"),
			Endpoint:         r.get("TOKEN_CACHE_ENDPOINT"),
			Table:            r.get("TOKEN_CACHE_TABLE"),
		},
		Port: r.get("FUNCTIONS_CUSTOMHANDLER_PORT"),
	}
	var err, err2 error
	check := func(name string, e error) {
		if err == nil && e != nil {
			err = fmt.Errorf("%s: %w", name, e)
		}
	}

	check("ADDIN_CLIENT_ID", guid(c.ClientID, "the app registration's client ID"))
	c.ClientID = strings.ToLower(c.ClientID) // as Entra writes it in aud, azp and appid
	if c.AppIDURI != "" {
		check("ADDIN_APP_ID_URI", appIDURI(c.AppIDURI))
	}
	if c.TenantID != MultiTenant && c.TenantID != Common {
		check("ADDIN_TENANT_ID", guid(c.TenantID, `"organizations", "common" or a tenant ID`))
		c.TenantID = strings.ToLower(c.TenantID)
	}
	c.AllowedTenants, err2 = guids(r.get("ADDIN_ALLOWED_TENANTS"), "tenant ID")
	check("ADDIN_ALLOWED_TENANTS", err2)
	c.AllowedClientApps, err2 = guids(r.get("ADDIN_ALLOWED_CLIENT_APPS"), "client ID")
	check("ADDIN_ALLOWED_CLIENT_APPS", err2)
	if len(c.AllowedClientApps) == 0 {
		// Office's clients (legacy SSO), and the add-in itself: Nested App
		// Authentication and the fallback dialog ask for tokens as the add-in.
		c.AllowedClientApps = append(slices.Clone(OfficeClientApps), c.ClientID)
	}
	if !scopePattern.MatchString(c.RequiredScope) {
		check("ADDIN_REQUIRED_SCOPE", fmt.Errorf("%q is not a scope name", c.RequiredScope))
	}
	c.MFA, err2 = mfaPolicy(r.get("ADDIN_MFA_POLICY"))
	check("ADDIN_MFA_POLICY", err2)
	check("ADDIN_CLIENT_SECRET", c.Credential.check())
	authority, err2 := httpsURL(r.get("ENTRA_AUTHORITY_HOST"), false)
	check("ENTRA_AUTHORITY_HOST", err2)
	if authority != nil {
		c.AuthorityHost = authority.String()
		c.warnUnlessMicrosoft("ENTRA_AUTHORITY_HOST", authority, microsoftAuthorityHosts)
	}
	c.GraphBase, err2 = httpsURL(r.get("GRAPH_BASE_URL"), true)
	check("GRAPH_BASE_URL", err2)
	if c.GraphBase != nil {
		c.warnUnlessMicrosoft("GRAPH_BASE_URL", c.GraphBase, microsoftGraphHosts)
	}
	c.GraphScopes, err2 = scopes(r.get("GRAPH_SCOPES"))
	check("GRAPH_SCOPES", err2)
	c.GraphRoutes, err2 = routes(r.get("GRAPH_ALLOWED_ROUTES"))
	check("GRAPH_ALLOWED_ROUTES", err2)
	check("TOKEN_CACHE_ENDPOINT", c.TokenCache.checkStore())
	if cs := c.TokenCache.ConnectionString; cs != "" {
		c.TokenCache.ConnectionString, err2 = ExplicitConnectionString(cs)
		check("TOKEN_CACHE_CONNECTION_STRING", err2)
	}
	if !tablePattern.MatchString(c.TokenCache.Table) {
		check("TOKEN_CACHE_TABLE", fmt.Errorf("%q is not a table name (3-63 letters and digits, starting with a letter)", c.TokenCache.Table))
	}
	c.TokenCache.Keys, err2 = keys(r.get("TOKEN_CACHE_ENCRYPTION_KEY"), c.TokenCache.UsesTableStorage())
	check("TOKEN_CACHE_ENCRYPTION_KEY", err2)
	if !portPattern.MatchString(c.Port) {
		check("FUNCTIONS_CUSTOMHANDLER_PORT", fmt.Errorf("%q is not a port number", c.Port))
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

type reader struct{ lookup func(string) (string, bool) }

// get returns the trimmed setting, or its default when unset or blank.
func (r reader) get(name string) string {
	i := slices.IndexFunc(Settings, func(s Setting) bool { return s.Name == name })
	if i < 0 {
		panic("config: setting " + name + " is not declared in Settings")
	}
	if v, ok := r.lookup(name); ok && strings.TrimSpace(v) != "" {
		return strings.TrimSpace(v)
	}
	return Settings[i].Default
}

func guid(v, what string) error {
	if v == "" {
		return fmt.Errorf("not set; expected %s", what)
	}
	if !entra.IsGUID(v) {
		return fmt.Errorf("%q is not a GUID; expected %s", v, what)
	}
	return nil
}

func appIDURI(v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "api" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an Application ID URI (api://<domain>/<client id>)", v)
	}
	return nil
}

// guids reads a comma-separated list of GUIDs, lower-cased as Entra writes them.
func guids(v, what string) ([]string, error) {
	var out []string
	for _, t := range splitList(v) {
		if !entra.IsGUID(t) {
			return nil, fmt.Errorf("%q is not a %s (GUID)", t, what)
		}
		out = append(out, strings.ToLower(t))
	}
	return out, nil
}

func mfaPolicy(v string) (MFAPolicy, error) {
	switch {
	case v == string(MFAOff), v == string(MFAAMR):
		return MFAPolicy{Mode: MFAMode(v)}, nil
	case strings.HasPrefix(v, "acrs:"):
		id := strings.TrimPrefix(v, "acrs:")
		if !acrsPattern.MatchString(id) {
			return MFAPolicy{}, fmt.Errorf("%q is not an authentication context ID (c1 to c99)", id)
		}
		return MFAPolicy{Mode: MFAACRS, Context: id}, nil
	}
	return MFAPolicy{}, fmt.Errorf("%q is not one of off, amr, acrs:<context id>", v)
}

func (c Credential) check() error {
	n := 0
	for _, v := range []string{c.Secret, c.CertificatePath, c.FederatedIdentityClientID} {
		if v != "" {
			n++
		}
	}
	switch {
	case n == 0:
		return errors.New("no client credential: set ADDIN_CLIENT_SECRET, ADDIN_CLIENT_CERTIFICATE_PATH or ADDIN_FEDERATED_IDENTITY_CLIENT_ID")
	case n > 1:
		return errors.New("more than one client credential: set only one of ADDIN_CLIENT_SECRET, ADDIN_CLIENT_CERTIFICATE_PATH, ADDIN_FEDERATED_IDENTITY_CLIENT_ID")
	case c.FederatedIdentityClientID != "":
		return guid(c.FederatedIdentityClientID, "ADDIN_FEDERATED_IDENTITY_CLIENT_ID to be the managed identity's client ID")
	}
	return nil
}

// httpsURL accepts an https URL without user, query or fragment, and a path
// only when allowed; the path loses its trailing slash. Errors quote only the
// scheme, host and path: a user's password, a query (a shared access
// signature) or a value that is no URL at all (a connection string pasted
// into the wrong setting) may be a secret.
func httpsURL(v string, pathAllowed bool) (*url.URL, error) {
	u, err := url.Parse(v)
	if err != nil || u.Scheme == "" || u.Host == "" || u.Opaque != "" {
		return nil, errors.New("not an https URL (https://host[:port])")
	}
	shown := strconv.Quote((&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String())
	switch {
	case u.User != nil:
		return nil, fmt.Errorf("%s has a user name or password; expected an https URL (https://host[:port])", shown)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, fmt.Errorf("%s has a query or fragment; expected an https URL (https://host[:port])", shown)
	case u.Scheme != "https":
		return nil, fmt.Errorf("%s is not an https URL (https://host[:port])", shown)
	case !pathAllowed && strings.Trim(u.Path, "/") != "":
		return nil, fmt.Errorf("%s has a path; expected only https://host[:port]", shown)
	}
	u.Path, u.RawPath = strings.TrimRight(u.Path, "/"), ""
	return u, nil
}

// warnUnlessMicrosoft warns when u is not on one of hosts at the default port.
func (c *Config) warnUnlessMicrosoft(name string, u *url.URL, hosts []string) {
	port := u.Port()
	if slices.Contains(hosts, strings.ToLower(u.Hostname())) && (port == "" || port == "443") {
		return
	}
	c.Warnings = append(c.Warnings, fmt.Sprintf("%s: %q is not one of Microsoft's hosts (%s); expected only with an emulator or a proxy",
		name, u.Scheme+"://"+u.Host, strings.Join(hosts, ", ")))
}

func scopes(v string) ([]string, error) {
	var out []string
	for _, s := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
		if !scopePattern.MatchString(s) {
			return nil, fmt.Errorf("%q is not a delegated scope name (e.g. User.Read)", s)
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no scope listed")
	}
	return out, nil
}

func routes(v string) ([]graphroute.Route, error) {
	var out []graphroute.Route
	for _, entry := range splitList(v) {
		r, err := graphroute.Parse(entry)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, errors.New("no route listed")
	}
	return out, nil
}

func (t TokenCache) checkStore() error {
	if t.ConnectionString != "" && t.Endpoint != "" {
		return errors.New("set either TOKEN_CACHE_ENDPOINT or TOKEN_CACHE_CONNECTION_STRING, not both")
	}
	if t.Endpoint != "" {
		if _, err := httpsURL(t.Endpoint, false); err != nil {
			return err
		}
	}
	return nil
}

func keys(v string, required bool) ([]Key, error) {
	var out []Key
	for _, entry := range splitList(v) {
		id, b64, ok := strings.Cut(entry, ":")
		if !ok || !keyIDPattern.MatchString(id) {
			return nil, errors.New("each key must be <id>:<base64 of 32 random bytes>, with an id of letters, digits, _ or -")
		}
		secret, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			secret, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(b64, "="))
		}
		if err != nil || len(secret) != 32 {
			return nil, fmt.Errorf("key %q is not base64 of 32 bytes (generate one with: openssl rand -base64 32)", id)
		}
		if why := notRandom(secret); why != "" {
			return nil, fmt.Errorf("key %q is not random: %s (generate one with: openssl rand -base64 32)", id, why)
		}
		if slices.ContainsFunc(out, func(k Key) bool { return k.ID == id }) {
			return nil, fmt.Errorf("key id %q appears twice", id)
		}
		out = append(out, Key{ID: id, Secret: secret})
	}
	if required && len(out) == 0 {
		return nil, errors.New("not set; Table Storage is configured, so cached tokens must be encrypted (<id>:<base64 32 bytes>)")
	}
	return out, nil
}

// notRandom says why a 32-byte key was plainly not drawn at random, or "".
// Each rule refuses a random key with a probability that is negligible next
// to a bad key's cost (computed exactly for 32 uniform bytes):
//
//   - fewer than 16 distinct byte values: all zero, one repeated byte, a short
//     repeated pattern. 32 random bytes have 30.1 distinct values on average;
//     15 or fewer occur with probability 3.2e-17.
//   - fewer than 16 distinct steps between neighbouring bytes (mod 256): a
//     counting sequence such as 00 01 02 … 1f. The 31 steps of random bytes
//     are themselves uniform and independent: probability 4.6e-16.
//   - every byte printable ASCII: a password or passphrase typed in, hex or
//     base64 text encoded once more. Probability (95/256)^32 = 1.7e-14.
//
// Together, fewer than 2e-14: a million generated keys would all pass with
// probability above 0.99999998.
func notRandom(key []byte) string {
	var values, steps [256]bool
	nValues, nSteps, printable := 0, 0, true
	for i, b := range key {
		if !values[b] {
			values[b] = true
			nValues++
		}
		if i > 0 {
			if d := b - key[i-1]; !steps[d] {
				steps[d] = true
				nSteps++
			}
		}
		printable = printable && b >= 0x20 && b <= 0x7e
	}
	switch {
	case nValues < 16:
		return "fewer than 16 distinct byte values"
	case nSteps < 16:
		return "its bytes follow a pattern"
	case printable:
		return "all its bytes are printable text, as in a typed password"
	}
	return ""
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
