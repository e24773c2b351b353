// Package obo trades the add-in's access token for a Microsoft Graph token with
// Entra ID's On-Behalf-Of flow (MSAL Go, confidential client), and turns
// Entra's refusals into the error contract (package problem).
//
// The client declares the capability cp1, so Graph tokens are CAE-capable:
// Graph may revoke one mid-life with a claims challenge (continuous access
// evaluation), and Entra issues them for longer (up to 28 hours).
//
// Every exchange asks Entra: package tokencache is the one cache, shared by
// every instance, so a token Graph revoked, or one a user signed out of,
// cannot come back from one instance's MSAL cache. MSAL Go cannot turn its
// cache off and never evicts from it (one partition per assertion), so a
// Client still retires its MSAL client after Options.MaxAssertions distinct
// assertions to bound the memory it writes there.
package obo

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"github.com/addinsso/addinsso/handler/config"
	"github.com/addinsso/addinsso/handler/entra"
	"github.com/addinsso/addinsso/handler/problem"
)

// Config is what the exchange needs from the validated settings.
type Config struct {
	ClientID      string // the add-in's app registration
	AuthorityHost string // https://host, ENTRA_AUTHORITY_HOST
	TenantID      string // config.MultiTenant or the one tenant: the authority's path
	GraphResource string // GRAPH_BASE_URL: scopes are qualified with it
	Credential    config.Credential
}

// Options tunes a Client; the zero value is the production setting.
type Options struct {
	// Logger receives failed exchanges, with Entra's codes and trace IDs.
	// nil: slog.Default().
	Logger *slog.Logger
	// HTTPClient reaches Entra ID and the managed identity endpoint. nil:
	// entra.HTTPClient(). Emulators are trusted only through the CA the
	// client (or SSL_CERT_FILE) trusts.
	HTTPClient *http.Client
	// MaxAssertions bounds MSAL's in-memory OBO cache: after this many distinct
	// assertions the MSAL client is replaced by a fresh one. 0: DefaultMaxAssertions.
	MaxAssertions int
}

// DefaultMaxAssertions keeps MSAL's cache to a few megabytes (a partition
// holds a Graph access token and a refresh token, a few kilobytes).
const DefaultMaxAssertions = 2000

// ClientCapabilities are what the client declares to Entra. cp1 says it
// handles claims challenges, which makes Graph tokens CAE-capable. Entra's
// "Claims challenges, claims requests and client capabilities": "Your
// application receives claims challenges from popular services like Microsoft
// Graph only if it declares its client capabilities in its calls to the
// service." MSAL Go sends them as claims={"access_token":{"xms_cc":{"values":["cp1"]}}},
// merged with a challenge's claims.
var ClientCapabilities = []string{"cp1"}

// noClaims is an empty claims request. MSAL reads its cache only for a
// request without claims, so an exchange without a challenge passes this:
// merged with the capabilities it is the same on the wire as them alone.
const noClaims = "{}"

// Client exchanges tokens. It is safe for concurrent use.
type Client struct {
	clientID  string
	authority string
	graphBase string
	cred      confidential.Credential
	credKind  string // for logs: secret, certificate, federated
	http      *http.Client
	log       *slog.Logger
	max       int

	mu        sync.Mutex // guards gen and its seen set
	gen       *generation
	rotations atomic.Int64
	live      *atomic.Int64 // MSAL clients not yet garbage-collected
}

// generation is one MSAL client and the assertions it has cached for.
type generation struct {
	app  confidential.Client
	seen map[[16]byte]struct{}
}

// New returns a Client. It makes no network call: the certificate file is
// read now, the managed identity is asked for a token on the first exchange.
func New(cfg Config, opts Options) (*Client, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = entra.HTTPClient()
	}
	if opts.MaxAssertions <= 0 {
		opts.MaxAssertions = DefaultMaxAssertions
	}
	c := &Client{
		clientID:  cfg.ClientID,
		authority: cfg.AuthorityHost + "/" + cfg.TenantID,
		graphBase: cfg.GraphResource,
		http:      opts.HTTPClient,
		log:       opts.Logger,
		max:       opts.MaxAssertions,
		live:      new(atomic.Int64),
	}
	var err error
	if c.cred, c.credKind, err = credential(cfg.Credential, cfg.AuthorityHost, c.http); err != nil {
		return nil, err
	}
	if c.gen, err = c.newGeneration(); err != nil {
		return nil, fmt.Errorf("obo: %w", err)
	}
	return c, nil
}

// newGeneration makes an MSAL confidential client.
func (c *Client) newGeneration() (*generation, error) {
	app, err := confidential.New(c.authority, c.clientID, c.cred,
		confidential.WithHTTPClient(c.http),
		confidential.WithClientCapabilities(ClientCapabilities),
		// Instance discovery asks login.microsoftonline.com whether the
		// authority's host is a known Entra cloud, and fails for any other
		// (sovereign hosts it does not list, the emulator). Skipping it is safe
		// because the authority comes from our own configuration
		// (ENTRA_AUTHORITY_HOST, validated as https at start), never from a
		// request or a token; MSAL still reads the tenant's OpenID metadata from
		// that host over verified TLS.
		confidential.WithInstanceDiscovery(false),
	)
	if err != nil {
		return nil, err
	}
	g := &generation{app: app, seen: make(map[[16]byte]struct{})}
	c.live.Add(1)
	runtime.AddCleanup(g, func(live *atomic.Int64) { live.Add(-1) }, c.live)
	return g, nil
}

// generationFor returns the MSAL client to exchange assertion with, replacing
// the current one when it has seen MaxAssertions other assertions. Calls in
// flight finish on the client they started with; the retired client and its
// cache are garbage once they return.
func (c *Client) generationFor(assertion string) *generation {
	sum := sha256.Sum256([]byte(assertion))
	key := [16]byte(sum[:16])
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.gen
	if _, ok := g.seen[key]; ok {
		return g
	}
	if len(g.seen) >= c.max {
		fresh, err := c.newGeneration()
		if err != nil {
			// Cannot happen: the same arguments made the first one. Keep the
			// old client rather than fail the exchange.
			c.log.Error("obo: could not replace the MSAL client; its cache keeps growing", "error", err.Error())
		} else {
			g, c.gen = fresh, fresh
			c.rotations.Add(1)
		}
	}
	g.seen[key] = struct{}{}
	return g
}

// Stats describes the MSAL clients behind a Client, for metrics and tests.
type Stats struct {
	Assertions  int   // distinct assertions the current MSAL client has cached for
	Rotations   int64 // MSAL clients retired so far
	LiveClients int64 // MSAL clients not yet garbage-collected: the current one and retired ones still in use
}

// Stats reports the MSAL clients' state.
func (c *Client) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Stats{Assertions: len(c.gen.seen), Rotations: c.rotations.Load(), LiveClients: c.live.Load()}
}

// Exchange trades the add-in's access token (assertion), already verified by
// package token, for a Graph token with scopes (short names, GRAPH_SCOPES
// spelled as configured) in the caller's tenant. claims is the task pane's
// answer to a claims challenge ("" for none), as JSON or base64 JSON; MSAL
// merges it with the client capabilities. Every call asks Entra, which
// evaluates Conditional Access for this assertion. Errors are *problem.Error.
func (c *Client) Exchange(ctx context.Context, assertion, tenantID string, scopes []string, claims string) (entra.Token, error) {
	switch {
	case assertion == "":
		return entra.Token{}, problem.New(problem.InternalError, "No token to exchange.")
	case !entra.IsGUID(tenantID):
		// tid comes from a verified token; a non-GUID would land in the token URL's path.
		return entra.Token{}, problem.New(problem.InvalidToken, "The token's tenant ID is not a GUID.")
	case len(scopes) == 0:
		return entra.Token{}, problem.New(problem.InternalError, "No Microsoft Graph scope to exchange for.")
	}
	qualified := make([]string, len(scopes))
	for i, s := range scopes {
		// Fully qualified by Graph's resource, so sovereign clouds and the
		// emulator follow GRAPH_BASE_URL; a bare name would mean the public Graph.
		qualified[i] = c.graphBase + "/" + s
	}
	claims, err := entra.DecodeClaims(claims)
	if err != nil {
		return entra.Token{}, problem.New(problem.BadRequest, "The claims are not a claims challenge (a JSON object, as the problem's claims member gave it).")
	}
	switch {
	case claims == "":
		claims = noClaims
	case strings.Contains(claims, `"xms_cc"`):
		// MSAL refuses to merge them with its own; a challenge never asks for them.
		return entra.Token{}, problem.New(problem.BadRequest, "The claims declare client capabilities (xms_cc); a claims challenge never does.")
	}
	res, err := c.generationFor(assertion).app.AcquireTokenOnBehalfOf(ctx, assertion, qualified,
		confidential.WithTenantID(tenantID), confidential.WithClaims(claims))
	if err != nil {
		return entra.Token{}, c.failed(ctx, err, tenantID)
	}
	return entra.Token{AccessToken: res.AccessToken, ExpiresAt: res.ExpiresOn, Scopes: c.granted(scopes, res.GrantedScopes)}, nil
}

// granted maps the scopes Entra granted back to the short names asked for.
func (c *Client) granted(asked, granted []string) []string {
	if len(granted) == 0 {
		return slices.Clone(asked)
	}
	var out []string
	for _, a := range asked {
		for _, g := range granted {
			if len(g) > len(c.graphBase) && strings.EqualFold(g[:len(c.graphBase)+1], c.graphBase+"/") {
				g = g[len(c.graphBase)+1:]
			}
			if strings.EqualFold(g, a) {
				out = append(out, a)
				break
			}
		}
	}
	return out
}
