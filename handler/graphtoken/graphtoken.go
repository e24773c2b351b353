// Package graphtoken is the one path from a verified caller to a Graph token,
// shared by every Function that calls Graph: the token cache first, else one
// On-Behalf-Of exchange per session, scope set and kind of request at a time
// in this process.
//
// A cached Graph token serves only the session it was exchanged for: requests
// carrying the same bootstrap token (MSAL's model for On-Behalf-Of). Entra
// evaluates Conditional Access (MFA, device, location) at each exchange, so a
// token one session earned must never serve another session of the same user:
// that would let Outlook desktop without MFA, or a stolen bootstrap token,
// ride Outlook on the web's MFA.
package graphtoken

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/addinsso/addinsso/handler/entra"
	"github.com/addinsso/addinsso/handler/problem"
	"github.com/addinsso/addinsso/handler/token"
	"github.com/addinsso/addinsso/handler/tokencache"
)

// Tokens is how a Function gets the caller's Graph token, and forgets it when
// Graph has refused it. *Broker implements it.
type Tokens interface {
	// Get returns a Graph token for the request. Errors are *problem.Error,
	// answered as they are.
	Get(ctx context.Context, r Request) (Grant, error)
	// Forget drops every cached Graph token of the user: on sign-out, and
	// after Graph's claims challenge (continuous access evaluation: a revoked
	// session, a changed password, a new location concern the user, not one
	// token). It fails only when the shared store cannot be reached; this
	// instance's memory is cleared whatever happens.
	Forget(ctx context.Context, id *token.Identity) error
}

// Request says whose token, for what. The cache key comes only from the
// verified identity and the scope set, never from anything else the caller sent.
type Request struct {
	Identity  *token.Identity
	Assertion string   // the add-in's token, for On-Behalf-Of
	Scopes    []string // nil: every configured scope; any case, each one configured
	Claims    string   // the answer to a claims challenge: goes to Entra, replaces the cached token
	Refused   bool     // Graph refused the token Get gave: get a fresh one, replacing it
}

// Grant is a Graph token and where it came from.
type Grant struct {
	entra.Token
	Source tokencache.Source // memory, table or entra
}

// FromEntra is the Source of a token just exchanged.
const FromEntra tokencache.Source = "entra"

// skipsCache reports a request the cache must not answer: claims for Entra,
// or a token Graph refused. Its exchange replaces the cached token.
func (r Request) skipsCache() bool { return r.Claims != "" || r.Refused }

// Exchanger is On-Behalf-Of (obo.Client in production). Every call asks
// Entra: this package's cache is the only one.
type Exchanger interface {
	Exchange(ctx context.Context, assertion, tenantID string, scopes []string, claims string) (entra.Token, error)
}

// Config is what a Broker works with.
type Config struct {
	Scopes    []string // GRAPH_SCOPES, as configured
	Cache     *tokencache.Cache
	Exchanger Exchanger
}

// Options tunes a Broker; the zero value is the production setting.
type Options struct {
	// Now is the clock. nil: time.Now.
	Now func() time.Time
	// SkipsPerMinute bounds the exchanges one user may make past the cache
	// (claims answers, tokens Graph refused): each goes to Entra, so without a
	// bound one user could spend the app's Entra budget. 0: DefaultSkipsPerMinute.
	SkipsPerMinute int
}

// DefaultSkipsPerMinute allows a step-up or two and a refused token, with room
// for retries, and stops a loop.
const DefaultSkipsPerMinute = 6

// exchangeTimeout bounds a shared exchange, which outlives any one caller's
// cancellation so that the others waiting on it still get the answer.
const exchangeTimeout = 30 * time.Second

// Broker gets Graph tokens for verified callers. It is safe for concurrent use.
type Broker struct {
	cfg     Config
	flights singleflight.Group
	skips   *limiter
}

// New returns a Broker.
func New(cfg Config, opts Options) *Broker {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.SkipsPerMinute <= 0 {
		opts.SkipsPerMinute = DefaultSkipsPerMinute
	}
	return &Broker{cfg: cfg, skips: newLimiter(opts.SkipsPerMinute, time.Minute, opts.Now)}
}

// Get implements Tokens.
func (b *Broker) Get(ctx context.Context, r Request) (Grant, error) {
	scopes, err := b.scopes(r.Scopes)
	if err != nil {
		return Grant{}, err
	}
	key := tokencache.Key{
		TenantID: r.Identity.TenantID, ObjectID: r.Identity.ObjectID, Scopes: scopes,
		Session: r.Assertion, SessionExpiresAt: r.Identity.ExpiresAt,
	}
	skip := r.skipsCache()
	if !skip {
		if t, src, ok := b.cfg.Cache.Get(ctx, key); ok {
			return Grant{t, src}, nil
		}
	}
	v, err, _ := b.flights.Do(flightKey(key, r), func() (any, error) {
		if skip { // counted per exchange: concurrent identical answers share one
			if wait, ok := b.skips.allow(r.Identity.TenantID + "/" + r.Identity.ObjectID); !ok {
				return nil, problem.New(problem.UpstreamUnavailable,
					"This user asked for more than %d Graph tokens past the cache (claims answers, refused tokens) within a minute; retry after %d s.", b.skips.max, entra.Seconds(wait)).
					WithRetryAfter(wait)
			}
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), exchangeTimeout)
		defer cancel()
		if !skip {
			if t, src, ok := b.cfg.Cache.Get(ctx, key); ok { // another flight may have filled it meanwhile
				return Grant{t, src}, nil
			}
		}
		t, err := b.cfg.Exchanger.Exchange(ctx, r.Assertion, r.Identity.TenantID, scopes, r.Claims)
		if err != nil {
			return nil, err
		}
		if skip {
			// The cached token was refused or lacks the claims: the new one
			// replaces it even if the old one would live longer.
			b.cfg.Cache.Delete(ctx, key)
		}
		b.cfg.Cache.Put(ctx, key, t)
		return Grant{t, FromEntra}, nil
	})
	if err != nil {
		return Grant{}, err
	}
	return v.(Grant), nil
}

// Forget implements Tokens.
func (b *Broker) Forget(ctx context.Context, id *token.Identity) error {
	if err := b.cfg.Cache.PurgeUser(ctx, id.TenantID, id.ObjectID); err != nil {
		return problem.New(problem.UpstreamUnavailable, "The token cache could not be reached to remove the user's Graph tokens; retry after %d s.", entra.Seconds(forgetRetryAfter)).
			WithRetryAfter(forgetRetryAfter).WithCause(err)
	}
	return nil
}

// forgetRetryAfter is how long a failed Forget asks the caller to wait: the
// cache's own pause after a store fault starts at a second.
const forgetRetryAfter = 2 * time.Second

// scopes maps the scopes asked for, in any case, to GRAPH_SCOPES as
// configured; nil asks for all of them. A scope not configured is the caller's
// mistake, named in the problem.
func (b *Broker) scopes(asked []string) ([]string, error) {
	if len(asked) == 0 {
		return b.cfg.Scopes, nil
	}
	out := make([]string, 0, len(asked))
	for _, a := range asked {
		i := indexFold(b.cfg.Scopes, a)
		if i < 0 {
			return nil, problem.New(problem.BadRequest, "Scope %.64q is not one of GRAPH_SCOPES (%s).", a, strings.Join(b.cfg.Scopes, ", "))
		}
		if indexFold(out, b.cfg.Scopes[i]) < 0 {
			out = append(out, b.cfg.Scopes[i])
		}
	}
	return out, nil
}

func indexFold(list []string, s string) int {
	for i, v := range list {
		if strings.EqualFold(v, s) {
			return i
		}
	}
	return -1
}

// flightKey joins concurrent requests that would make the same exchange: same
// cache entry (session and scope set), same claims, cache skipped or not.
func flightKey(k tokencache.Key, r Request) string {
	switch {
	case r.Claims != "":
		sum := sha256.Sum256([]byte(r.Claims))
		return k.String() + "|claims:" + hex.EncodeToString(sum[:8])
	case r.Refused:
		return k.String() + "|refused"
	}
	return k.String() + "|cached"
}
