package token

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

// metadataLimit bounds what is read from Entra's discovery and JWKS answers.
const metadataLimit = 1 << 20

// keySet is the last good view of Entra's metadata: issuer templates from the
// v1.0 and v2.0 discovery documents and the RSA signing keys by kid.
type keySet struct {
	v1Issuer, v2Issuer string // contain {tenantid} for multi-tenant authorities
	keys               map[string]*rsa.PublicKey
	fetched            time.Time
}

// keySource fetches Entra's metadata lazily (never before the first token, so
// the handler answers the host's ping at once), refreshes it when a token names
// an unknown kid (at most once per refreshInterval) or when it is older than
// maxAge, and keeps the last good set when Entra cannot be reached.
type keySource struct {
	client          *http.Client
	log             *slog.Logger
	v1URL, v2URL    string // discovery documents
	refreshInterval time.Duration
	retryInterval   time.Duration // after a failed fetch
	maxAge          time.Duration
	now             func() time.Time

	current     atomic.Pointer[keySet]
	mu          sync.Mutex // one fetch at a time
	lastFailure time.Time  // zero after a success
	jwksURI     string     // from the v2.0 discovery document, kept once known
}

var errEntraUnavailable = errors.New("the signing keys of Entra ID could not be fetched")

// get returns the current set, fetching it first if none is known or it is
// stale; stale keys are kept when Entra cannot be reached.
func (s *keySource) get(ctx context.Context) (*keySet, error) {
	ks := s.current.Load()
	if ks != nil && s.now().Sub(ks.fetched) < s.maxAge {
		return ks, nil
	}
	ks, err := s.refresh(ctx, ks, false)
	if ks != nil {
		return ks, nil
	}
	return nil, err
}

// key returns the public key for kid, refreshing once (rate-limited) when it is
// unknown. errEntraUnavailable means the refresh failed: the key may exist.
func (s *keySource) key(ctx context.Context, ks *keySet, kid string) (*rsa.PublicKey, error) {
	if k, ok := ks.keys[kid]; ok {
		return k, nil
	}
	next, err := s.refresh(ctx, ks, true)
	if next != nil {
		if k, ok := next.keys[kid]; ok {
			return k, nil
		}
	}
	if err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("no key %q in Entra ID's key set", kid)
}

// refresh fetches the metadata unless another caller just did or the rate
// limit says not yet: an unknown kid refreshes at most once per
// refreshInterval after a successful fetch, and a failed fetch is retried
// after retryInterval, so neither a stream of made-up kids nor one failed
// fetch can keep new keys out. It returns the newest set it has (nil if none)
// and errEntraUnavailable when the fetch failed.
func (s *keySource) refresh(ctx context.Context, seen *keySet, unknownKid bool) (*keySet, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.current.Load()
	if cur != seen && cur != nil { // someone refreshed while we waited
		return cur, nil
	}
	now := s.now()
	if !s.lastFailure.IsZero() && now.Sub(s.lastFailure) < s.retryInterval {
		return cur, errEntraUnavailable
	}
	if unknownKid && cur != nil && now.Sub(cur.fetched) < s.refreshInterval {
		return cur, nil
	}
	// The fetch outlives the caller that triggered it: a caller hanging up must
	// not count as Entra failing.
	fetchCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	next, err := s.fetch(fetchCtx, cur)
	if err != nil {
		s.lastFailure = now
		s.log.WarnContext(ctx, "token: Entra ID's signing keys could not be fetched; keeping the last good ones", "error", err.Error(), "have_keys", cur != nil)
		return cur, fmt.Errorf("%w: %v", errEntraUnavailable, err)
	}
	s.lastFailure = time.Time{}
	s.current.Store(next)
	return next, nil
}

func (s *keySource) fetch(ctx context.Context, prev *keySet) (*keySet, error) {
	next := &keySet{fetched: s.now()}
	if prev != nil {
		next.v1Issuer, next.v2Issuer = prev.v1Issuer, prev.v2Issuer
	} else {
		var v1, v2 struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		if err := s.getJSON(ctx, s.v2URL, &v2); err != nil {
			return nil, err
		}
		if err := s.getJSON(ctx, s.v1URL, &v1); err != nil {
			return nil, err
		}
		if v1.Issuer == "" || v2.Issuer == "" || !strings.HasPrefix(v2.JWKSURI, "https://") {
			return nil, errors.New("discovery document lacks issuer or an https jwks_uri")
		}
		next.v1Issuer, next.v2Issuer, s.jwksURI = v1.Issuer, v2.Issuer, v2.JWKSURI
	}
	body, err := s.getBody(ctx, s.jwksURI)
	if err != nil {
		return nil, err
	}
	set, err := jwk.Parse(body)
	if err != nil {
		return nil, fmt.Errorf("parse JWKS: %w", err)
	}
	next.keys = make(map[string]*rsa.PublicKey, set.Len())
	for i := range set.Len() {
		k, _ := set.Key(i)
		kid, ok := k.KeyID()
		if !ok {
			continue
		}
		var pub rsa.PublicKey
		if err := jwk.Export(k, &pub); err != nil {
			continue // not an RSA public key: never usable for RS256
		}
		if pub.N.BitLen() < 2048 {
			continue
		}
		next.keys[kid] = &pub
	}
	if len(next.keys) == 0 {
		return nil, errors.New("JWKS holds no usable RSA key")
	}
	return next, nil
}

func (s *keySource) getJSON(ctx context.Context, url string, v any) error {
	body, err := s.getBody(ctx, url)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("parse %s: %w", url, err)
	}
	return nil
}

func (s *keySource) getBody(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, metadataLimit+1))
	if err != nil {
		return nil, err
	}
	if len(body) > metadataLimit {
		return nil, fmt.Errorf("GET %s: answer larger than %d bytes", url, metadataLimit)
	}
	return body, nil
}
