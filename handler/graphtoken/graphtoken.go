// Package graphtoken is the one path from a verified caller to a Graph token,
// shared by the exchange and graph-proxy Functions: the token cache first, else
// one On-Behalf-Of exchange per user and scope set at a time in this process.
package graphtoken

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/addinsso/addinsso/handler/obo"
	"github.com/addinsso/addinsso/handler/token"
	"github.com/addinsso/addinsso/handler/tokencache"
)

// exchangeTimeout bounds a shared exchange, which outlives any one caller's
// cancellation so that the others waiting on it still get the answer.
const exchangeTimeout = 30 * time.Second

// Exchanger is On-Behalf-Of (obo.Client in production).
type Exchanger interface {
	Exchange(ctx context.Context, assertion, tenantID string, scopes []string, claims string) (obo.Token, error)
	// ExchangeFresh skips every cache on the way, for a token Graph refused.
	ExchangeFresh(ctx context.Context, assertion, tenantID string, scopes []string) (obo.Token, error)
}

// Source gets Graph tokens for verified callers.
type Source struct {
	cache    *tokencache.Cache
	exchange Exchanger
	scopes   []string // GRAPH_SCOPES: graph-proxy asks for all of them
	flights  singleflight.Group
}

// New returns a Source; scopes are the configured Graph scopes.
func New(cache *tokencache.Cache, exchange Exchanger, scopes []string) *Source {
	return &Source{cache: cache, exchange: exchange, scopes: scopes}
}

// FromEntra is the Result source of a token just exchanged.
const FromEntra tokencache.Source = "entra"

// Result is a Graph token and where it came from.
type Result struct {
	Token  tokencache.Token
	Source tokencache.Source // memory, table or entra
}

// Request says what to get. The cache key comes only from the verified
// identity and the scope set, never from anything else the caller sent.
type Request struct {
	Identity  *token.Identity
	Assertion string   // the add-in's token, for On-Behalf-Of
	Scopes    []string // nil: all configured scopes
	Claims    string   // a claims-challenge answer: skips the cache, goes to Entra
	Fresh     bool     // Graph refused the cached token: replace it
}

// Get returns a Graph token for the request. Errors are *problem.Error.
func (s *Source) Get(ctx context.Context, r Request) (Result, error) {
	scopes := r.Scopes
	if len(scopes) == 0 {
		scopes = s.scopes
	}
	key := tokencache.Key{TenantID: r.Identity.TenantID, ObjectID: r.Identity.ObjectID, Scopes: scopes}
	if r.Claims == "" && !r.Fresh {
		if t, src, ok := s.cache.Get(ctx, key); ok {
			return Result{Token: t, Source: src}, nil
		}
	}
	v, err, _ := s.flights.Do(flightKey(key, r), func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), exchangeTimeout)
		defer cancel()
		if r.Claims == "" && !r.Fresh { // another flight may have filled it meanwhile
			if t, src, ok := s.cache.Get(ctx, key); ok {
				return Result{Token: t, Source: src}, nil
			}
		}
		var t obo.Token
		var err error
		if r.Fresh && r.Claims == "" {
			t, err = s.exchange.ExchangeFresh(ctx, r.Assertion, r.Identity.TenantID, scopes)
		} else {
			t, err = s.exchange.Exchange(ctx, r.Assertion, r.Identity.TenantID, scopes, r.Claims)
		}
		if err != nil {
			return nil, err
		}
		tok := tokencache.Token(t)
		if r.Fresh || r.Claims != "" {
			// The cached token was refused or lacks the claims: the new one
			// replaces it even if the old one would live longer.
			s.cache.Delete(ctx, key)
		}
		s.cache.Put(ctx, key, tok)
		return Result{Token: tok, Source: FromEntra}, nil
	})
	if err != nil {
		return Result{}, err
	}
	return v.(Result), nil
}

// GraphToken is graph-proxy's view: all configured scopes, the access token only.
func (s *Source) GraphToken(ctx context.Context, id *token.Identity, assertion string, fresh bool) (string, error) {
	res, err := s.Get(ctx, Request{Identity: id, Assertion: assertion, Fresh: fresh})
	if err != nil {
		return "", err
	}
	return res.Token.AccessToken, nil
}

// flightKey joins concurrent requests that would make the same exchange: same
// cache entry (user and scope set), same kind of request.
func flightKey(k tokencache.Key, r Request) string {
	kind := "cached"
	if r.Claims != "" {
		sum := sha256.Sum256([]byte(r.Claims))
		kind = "claims:" + hex.EncodeToString(sum[:8])
	} else if r.Fresh {
		kind = "fresh"
	}
	return k.String() + "|" + kind
}

// ForgetGraphToken drops the caller's cached token for the configured scopes,
// after Graph refused it (graph-proxy).
func (s *Source) ForgetGraphToken(ctx context.Context, id *token.Identity) {
	s.cache.Delete(ctx, tokencache.Key{TenantID: id.TenantID, ObjectID: id.ObjectID, Scopes: s.scopes})
}
