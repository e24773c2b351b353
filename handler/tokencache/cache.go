// Package tokencache caches Graph access tokens per user, session and scope
// set, so a repeat caller costs no On-Behalf-Of exchange: an optional Store
// shared by every instance of the Function App (Azure Table Storage in
// production, see package azuretable), which decides every hit so a removal
// on one instance holds on all, and a bounded in-memory level that answers
// alone without a Store and while the Store cannot answer.
//
// An entry answers only the bootstrap token it was exchanged for (Key.Session)
// and lives no longer than it: Entra evaluates Conditional Access at each
// exchange, so another session of the same user, one Entra might refuse, must
// make its own.
//
// The cache is an optimisation, never a dependency. Every fault of the store
// (down, slow, throttled, forbidden, tampered or unreadable rows) is logged and
// answered as a miss or a skipped write; callers never see an error and then
// simply exchange again. Rows are sealed with AES-256-GCM, bound to the row they
// were written for, and hold nothing readable but their expiry.
package tokencache

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/addinsso/addinsso/handler/config"
	"github.com/addinsso/addinsso/handler/entra"
	"github.com/addinsso/addinsso/handler/lru"
)

// Source says which level answered a hit.
type Source string

// These values are part of the HTTP responses that report a token's source.
const (
	Memory Source = "memory"
	Table  Source = "table" // the shared Store
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
	DefaultSweepLimit    = 5_000
)

// Config says where tokens are cached besides memory.
type Config struct {
	// Store is the level shared by every instance; nil means memory only.
	Store Store
	// Keys seal the Store's rows: the first seals, any opens. Required with a
	// Store; config has checked them.
	Keys []config.Key
}

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
	// Timeout bounds the Store work of one Get, Put or Delete, so a slow or
	// dead store cannot stall a request for long; 0 means DefaultTimeout.
	// PurgeUser and Sweep are bounded by their ctx instead.
	Timeout time.Duration
	// SweepLimit bounds the rows one Sweep removes, so a backlog is worked
	// off over several runs rather than in one long one; 0 means
	// DefaultSweepLimit.
	SweepLimit int
}

// Cache is the two-level token cache. It is safe for concurrent use.
type Cache struct {
	log        *slog.Logger
	now        func() time.Time
	margin     time.Duration
	sweepLimit int
	sessions   *sessionHasher // hashes Key.Session for both levels
	mem        *lru.Cache[entryKey, entra.Token]
	shared     *sharedLevel // nil: memory only
}

// New builds the cache: memory only, or memory in front of cfg.Store. It
// makes no network call. Errors are configuration errors, named by setting.
func New(cfg Config, opts Options) (*Cache, error) {
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
	if opts.SweepLimit <= 0 {
		opts.SweepLimit = DefaultSweepLimit
	}
	c := &Cache{
		log:        opts.Logger,
		now:        opts.Now,
		margin:     opts.Margin,
		sweepLimit: opts.SweepLimit,
		mem:        lru.New[entryKey, entra.Token](opts.MemoryEntries),
	}
	if cfg.Store == nil {
		c.sessions = newSessionHasher(randomSessionKey())
		return c, nil
	}
	seal, err := newSealer(cfg.Keys)
	if err != nil {
		return nil, fmt.Errorf("TOKEN_CACHE_ENCRYPTION_KEY: %w", err)
	}
	// Every instance derives the same key, so all compute the same row for a
	// session; the memory level uses the same hashes.
	c.sessions = newSessionHasher(storeSessionKey(cfg.Keys[0].Secret))
	c.shared = &sharedLevel{
		store:   cfg.Store,
		seal:    seal,
		log:     opts.Logger,
		now:     opts.Now,
		margin:  opts.Margin,
		timeout: opts.Timeout,
	}
	return c, nil
}

// Get returns the token cached for k (the same user, scope set and bootstrap
// token) if its entry lives at least the margin longer, and which level held
// it. The token keeps the Graph token's own ExpiresAt, which may be later than
// the entry's end.
//
// With a Store, the Store decides: every Get reads the row, so an entry
// another instance removed (sign-out, a token Graph revoked) is gone here
// too, and memory answers only while the Store cannot. A row read is copied
// into memory for those times.
func (c *Cache) Get(ctx context.Context, k Key) (entra.Token, Source, bool) {
	e, ok := c.key(k, "get")
	if !ok {
		return entra.Token{}, "", false
	}
	now := c.now()
	if c.shared != nil {
		t, until, hit, answered := c.shared.get(ctx, e, now)
		switch {
		case answered && hit:
			c.mem.Put(e, t, until.Add(-c.margin))
			return clone(t), Table, true
		case answered:
			c.mem.Delete(e)
			return entra.Token{}, "", false
		}
	}
	if t, ok := c.mem.Get(e, now); ok {
		return clone(t), Memory, true
	}
	return entra.Token{}, "", false
}

// Put caches t under k in both levels, until the earlier of t's expiry and
// k.SessionExpiresAt. A token that is empty or oversized, or whose entry
// would already be inside the margin, is not cached. The store write outlives
// a cancelled ctx (the token is good and the next call will want it), within
// the cache's own timeout.
func (c *Cache) Put(ctx context.Context, k Key, t entra.Token) {
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
	until := t.ExpiresAt
	if !k.SessionExpiresAt.IsZero() && k.SessionExpiresAt.Before(until) {
		until = k.SessionExpiresAt
	}
	if !until.Add(-c.margin).After(c.now()) {
		c.log.DebugContext(ctx, "token cache: not caching a token that, or whose session, expires within the margin",
			"expires_at", t.ExpiresAt, "session_expires_at", k.SessionExpiresAt)
		return
	}
	t = clone(t)
	c.mem.Put(e, t, until.Add(-c.margin))
	if c.shared != nil {
		c.shared.put(context.WithoutCancel(ctx), e, t, until)
	}
}

// Delete drops k from both levels; graph-proxy calls it when Graph refuses a
// cached token, so the next call exchanges again instead of reusing it. The
// stored row goes only if it still holds the token this instance served: a
// fresher token another instance wrote meanwhile stays. Like Put, the store
// delete outlives a cancelled ctx.
func (c *Cache) Delete(ctx context.Context, k Key) {
	e, ok := c.key(k, "delete")
	if !ok {
		return
	}
	served, _ := c.mem.Get(e, c.now())
	c.mem.Delete(e)
	if c.shared != nil {
		c.shared.delete(context.WithoutCancel(ctx), e, served.AccessToken)
	}
}

// clone gives the caller a token whose scopes it may edit without editing the cache's.
func clone(t entra.Token) entra.Token {
	t.Scopes = slices.Clone(t.Scopes)
	return t
}

func scopeBytes(scopes []string) int {
	n := 0
	for _, s := range scopes {
		n += len(s)
	}
	return n
}

func (c *Cache) key(k Key, op string) (entryKey, bool) {
	e, err := k.canonical(c.sessions)
	if err != nil {
		// Only a caller's bug gets here: keys come from verified tokens.
		c.log.Warn("token cache: refusing key", "op", op, "reason", err.Error())
		return entryKey{}, false
	}
	return e, true
}
