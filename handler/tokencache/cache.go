// Package tokencache caches Graph access tokens per user and scope set, so a
// repeat caller costs no On-Behalf-Of exchange: a bounded in-memory level in
// front of an optional Azure Table Storage level shared by every instance of
// the Function App (DESIGN.md section 6).
//
// The cache is an optimisation, never a dependency. Every fault of the table
// (down, slow, throttled, forbidden, tampered or unreadable rows) is logged and
// answered as a miss or a skipped write; callers never see an error and then
// simply exchange again. Rows are sealed with AES-256-GCM, bound to the row they
// were written for, and hold nothing readable but their expiry.
package tokencache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/addinsso/addinsso/handler/config"
	"github.com/addinsso/addinsso/handler/lru"
)

// Token is a cached Graph access token.
type Token struct {
	AccessToken string
	ExpiresAt   time.Time
	Scopes      []string // as granted by Entra ID
}

func (t Token) clone() Token {
	t.Scopes = slices.Clone(t.Scopes)
	return t
}

// Source says which level answered a hit.
type Source string

const (
	Memory Source = "memory"
	Table  Source = "table"
)

// Limits on what is cached: an Entra access token is a few KiB, so anything
// much larger is a bug or an attack on the cache's memory, not a token.
const (
	MaxAccessTokenBytes = 16 << 10
	maxTokenScopes      = 256
	maxTokenScopeBytes  = 4 << 10
)

// Defaults for Options' zero values.
const (
	DefaultMemoryEntries = 10_000
	DefaultMargin        = 5 * time.Minute
	DefaultTimeout       = 2 * time.Second
	DefaultTable         = "graphtokens"
)

// Options tunes a Cache; the zero value is the production default.
type Options struct {
	// Logger receives cache faults (never a token). Nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MemoryEntries bounds the in-memory level; 0 means DefaultMemoryEntries.
	MemoryEntries int
	// Margin: an entry expiring within Margin is a miss, so a token handed out
	// is still valid by the time Graph sees it; 0 means DefaultMargin.
	Margin time.Duration
	// Credential authorises TOKEN_CACHE_ENDPOINT requests. Nil means the
	// managed identity named by ManagedIdentityClientID or, when that is
	// empty, DefaultAzureCredential (the system identity in Azure, az login on
	// a developer's machine).
	Credential              azcore.TokenCredential
	ManagedIdentityClientID string
	// Timeout bounds the Table Storage work of one Get, Put or Delete, so a
	// slow or dead table cannot stall a request for long; 0 means DefaultTimeout.
	Timeout time.Duration
}

// Cache is the two-level token cache. It is safe for concurrent use.
type Cache struct {
	log    *slog.Logger
	now    func() time.Time
	margin time.Duration
	mem    *lru.Cache[entryKey, Token]
	table  *tableStore // nil: memory only
}

// New builds the cache described by cfg: memory only, or memory in front of
// Table Storage when cfg names a connection string or an endpoint. It makes no
// network call, so the handler can answer the host's first ping at once; the
// table is created on first use. Errors are configuration errors, named by setting.
func New(cfg config.TokenCache, opts Options) (*Cache, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MemoryEntries <= 0 {
		opts.MemoryEntries = DefaultMemoryEntries
	}
	if opts.Margin <= 0 {
		opts.Margin = DefaultMargin
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	c := &Cache{
		log:    opts.Logger,
		now:    opts.Now,
		margin: opts.Margin,
		mem:    lru.New[entryKey, Token](opts.MemoryEntries),
	}
	if !cfg.UsesTableStorage() {
		return c, nil
	}
	svc, err := serviceClient(cfg, opts)
	if err != nil {
		return nil, err
	}
	seal, err := newSealer(cfg.Keys)
	if err != nil {
		return nil, fmt.Errorf("TOKEN_CACHE_ENCRYPTION_KEY: %w", err)
	}
	name := cfg.Table
	if name == "" {
		name = DefaultTable
	}
	c.table = &tableStore{
		client:  svc.NewClient(name),
		seal:    seal,
		log:     opts.Logger,
		now:     opts.Now,
		margin:  opts.Margin,
		timeout: opts.Timeout,
	}
	return c, nil
}

func serviceClient(cfg config.TokenCache, opts Options) (*aztables.ServiceClient, error) {
	// No retries: the per-call timeout is short, and a miss only costs an
	// exchange, so failing fast beats retrying into the caller's latency.
	clientOpts := &aztables.ClientOptions{ClientOptions: azcore.ClientOptions{
		Retry: policy.RetryOptions{MaxRetries: -1},
	}}
	switch {
	case cfg.ConnectionString != "" && cfg.Endpoint != "":
		return nil, errors.New("TOKEN_CACHE_ENDPOINT: set either TOKEN_CACHE_ENDPOINT or TOKEN_CACHE_CONNECTION_STRING, not both")
	case cfg.ConnectionString != "":
		cs, err := explicitConnectionString(cfg.ConnectionString)
		if err != nil {
			return nil, fmt.Errorf("TOKEN_CACHE_CONNECTION_STRING: %w", err)
		}
		svc, err := aztables.NewServiceClientFromConnectionString(cs, clientOpts)
		if err != nil {
			// The SDK's message does not echo the string, which holds the account key.
			return nil, fmt.Errorf("TOKEN_CACHE_CONNECTION_STRING: %w", err)
		}
		return svc, nil
	default:
		cred := opts.Credential
		if cred == nil {
			var err error
			if cred, err = defaultCredential(opts.ManagedIdentityClientID); err != nil {
				return nil, fmt.Errorf("TOKEN_CACHE_ENDPOINT: no credential for Table Storage: %w", err)
			}
		}
		svc, err := aztables.NewServiceClient(cfg.Endpoint, cred, clientOpts)
		if err != nil {
			return nil, fmt.Errorf("TOKEN_CACHE_ENDPOINT: %w", err)
		}
		return svc, nil
	}
}

// defaultCredential builds, without a network call, the identity production
// uses: a user-assigned managed identity when its client ID is given, else
// DefaultAzureCredential (system-assigned identity in Azure, or the
// developer's az login locally).
func defaultCredential(clientID string) (azcore.TokenCredential, error) {
	if clientID != "" {
		return azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{
			ID: azidentity.ClientID(clientID),
		})
	}
	return azidentity.NewDefaultAzureCredential(nil)
}

// Get returns the cached token for k if one is valid for at least the margin,
// and which level held it. A table hit is copied into memory.
func (c *Cache) Get(ctx context.Context, k Key) (Token, Source, bool) {
	e, ok := c.key(k, "get")
	if !ok {
		return Token{}, "", false
	}
	now := c.now()
	if t, ok := c.mem.Get(e, now); ok {
		return t.clone(), Memory, true
	}
	if c.table == nil {
		return Token{}, "", false
	}
	t, ok := c.table.get(ctx, e, now)
	if !ok {
		return Token{}, "", false
	}
	c.mem.Put(e, t, t.ExpiresAt.Add(-c.margin))
	return t.clone(), Table, true
}

// Put caches t under k in both levels. A token that is empty, oversized or
// already inside the margin is not cached. The table write outlives a
// cancelled ctx (the token is good and the next call will want it), within
// the cache's own timeout.
func (c *Cache) Put(ctx context.Context, k Key, t Token) {
	e, ok := c.key(k, "put")
	if !ok {
		return
	}
	switch {
	case t.AccessToken == "":
		c.log.WarnContext(ctx, "token cache: refusing to cache an empty access token")
		return
	case len(t.AccessToken) > MaxAccessTokenBytes:
		c.log.WarnContext(ctx, "token cache: refusing to cache an oversized access token", "bytes", len(t.AccessToken), "max", MaxAccessTokenBytes)
		return
	case len(t.Scopes) > maxTokenScopes || scopeBytes(t.Scopes) > maxTokenScopeBytes:
		c.log.WarnContext(ctx, "token cache: refusing to cache a token with an oversized scope list", "scopes", len(t.Scopes))
		return
	}
	now := c.now()
	if !t.ExpiresAt.Add(-c.margin).After(now) {
		c.log.DebugContext(ctx, "token cache: not caching a token that expires within the margin", "expires_at", t.ExpiresAt)
		return
	}
	t = t.clone()
	c.mem.Put(e, t, t.ExpiresAt.Add(-c.margin))
	if c.table != nil {
		c.table.put(context.WithoutCancel(ctx), e, t)
	}
}

// Delete drops k from both levels; graph-proxy calls it when Graph refuses a
// cached token, so the next call exchanges again instead of reusing it. The
// table row goes only if it still holds the token this instance served: a
// fresher token another instance wrote meanwhile stays. Like Put, the table
// delete outlives a cancelled ctx.
func (c *Cache) Delete(ctx context.Context, k Key) {
	e, ok := c.key(k, "delete")
	if !ok {
		return
	}
	served, _ := c.mem.Get(e, c.now())
	c.mem.Delete(e)
	if c.table != nil {
		c.table.delete(context.WithoutCancel(ctx), e, served.AccessToken)
	}
}

func scopeBytes(scopes []string) int {
	n := 0
	for _, s := range scopes {
		n += len(s)
	}
	return n
}

func (c *Cache) key(k Key, op string) (entryKey, bool) {
	e, err := k.canonical()
	if err != nil {
		// Only a caller's bug gets here: keys come from verified tokens.
		c.log.Warn("token cache: refusing key", "op", op, "reason", err.Error())
		return entryKey{}, false
	}
	return e, true
}
