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
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/addinsso/addinsso/handler/entra"
	"github.com/addinsso/addinsso/handler/problem"
)

// metadataLimit bounds what is read from Entra's discovery and JWKS answers.
const metadataLimit = 1 << 20

// signingKey is one of Entra's published keys.
type signingKey struct {
	pub *rsa.PublicKey
	// issuer is the key's issuer member: the {tenantid} template for the keys
	// of every tenant, one tenant's issuer for a key scoped to it. "" when the
	// key set gives none: the key then serves every tenant, as Microsoft's own
	// validator takes it.
	issuer string
}

// keySet is one view of Entra's metadata: issuer templates from the v1.0 and
// v2.0 discovery documents and the RSA signing keys by kid.
type keySet struct {
	v1Issuer, v2Issuer string // contain {tenantid}: common's documents serve every tenant
	jwksURI            string
	keys               map[string]signingKey
	fetched            time.Time // when the fetch that got them began
}

// flight is one fetch of the metadata. Every caller that needs it waits on
// done, each for as long as its own context allows.
type flight struct {
	done     chan struct{}
	deadline time.Time // when the fetch gives up
	// Set before done is closed:
	ks      *keySet   // the newest set, nil if none
	err     error     // why the fetch failed
	retryAt time.Time // after a failure: when the next fetch may start
}

// keySource fetches Entra's metadata when Warm or the first token asks (never
// at start, so the handler answers the host's ping at once), refreshes it when
// a token names an unknown kid (at most once per refreshInterval) or when it
// is older than maxAge, and keeps the last good set when Entra cannot be
// reached. There is at most one fetch at a time: callers join the one in
// progress rather than queue behind it.
type keySource struct {
	client          *http.Client
	log             *slog.Logger
	host            string // the authority's host: the jwks_uri must stay on it
	v1URL, v2URL    string // discovery documents
	refreshInterval time.Duration
	retryInterval   time.Duration // after a failed fetch, counted from its end
	fetchTimeout    time.Duration // shorter than retryInterval: a hanging Entra sees one fetch at a time, with rests between
	maxAge          time.Duration
	now             func() time.Time

	current atomic.Pointer[keySet]

	mu       sync.Mutex
	inflight *flight
	lastErr  error     // the last fetch's failure; nil after a success
	retryAt  time.Time // no fetch before then, after a failure
}

func newKeySource(authority string, opts Options) *keySource {
	host := ""
	if u, err := url.Parse(authority); err == nil {
		host = u.Host
	}
	// common's discovery documents give the issuers as {tenantid} templates,
	// for every tenant; a single-tenant API enforces its tenant as policy,
	// after the signature, like the allow-list.
	base := authority + "/common"
	return &keySource{
		client:          opts.HTTPClient,
		log:             opts.Logger,
		host:            host,
		v2URL:           base + "/v2.0/.well-known/openid-configuration",
		v1URL:           base + "/.well-known/openid-configuration",
		refreshInterval: opts.KeyRefreshInterval,
		retryInterval:   5 * time.Second,
		fetchTimeout:    4 * time.Second,
		maxAge:          24 * time.Hour,
		now:             opts.Now,
	}
}

// plan is begin's answer: a fetch to wait for, or why there is none.
type plan struct {
	f    *flight
	cur  *keySet   // the newest set, nil if none
	next time.Time // without f: when a fetch may start
	// lastErr, without f: the failed fetch that holds the next one back; nil
	// when cur is fresh enough.
	lastErr error
}

// begin returns the fetch in progress, or starts one when the current set is
// missing or at least minAge old, unless the last fetch failed less than
// retryInterval ago. It never blocks on the network.
func (s *keySource) begin(minAge time.Duration) plan {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.current.Load()
	if s.inflight != nil {
		return plan{f: s.inflight, cur: cur}
	}
	now := s.now()
	if cur != nil && now.Sub(cur.fetched) < minAge {
		return plan{cur: cur, next: cur.fetched.Add(minAge)}
	}
	if now.Before(s.retryAt) {
		return plan{cur: cur, next: s.retryAt, lastErr: s.lastErr}
	}
	f := &flight{done: make(chan struct{}), deadline: now.Add(s.fetchTimeout)}
	s.inflight = f
	go s.run(f, cur)
	return plan{f: f, cur: cur}
}

// run fetches on its own time: a caller hanging up must not cut the fetch
// short for the others, nor count as Entra failing.
func (s *keySource) run(f *flight, prev *keySet) {
	ctx, cancel := context.WithTimeout(context.Background(), s.fetchTimeout)
	next, err := s.fetch(ctx, prev)
	cancel()
	s.mu.Lock()
	if err != nil {
		s.lastErr, s.retryAt = err, s.now().Add(s.retryInterval)
		f.ks, f.err, f.retryAt = s.current.Load(), err, s.retryAt
	} else {
		s.lastErr, s.retryAt = nil, time.Time{}
		s.current.Store(next)
		f.ks = next
	}
	s.inflight = nil
	s.mu.Unlock()
	close(f.done)
	if err != nil {
		s.log.Warn("token: Entra ID's signing keys could not be fetched; keeping the last good ones", "error", err.Error(), "have_keys", f.ks != nil)
	}
}

// wait waits for f until ctx is done.
func (s *keySource) wait(ctx context.Context, f *flight) (*keySet, error) {
	select {
	case <-f.done:
		if f.err != nil {
			return f.ks, s.failing(f.retryAt, f.err)
		}
		return f.ks, nil
	case <-ctx.Done():
		return nil, problem.New(problem.UpstreamUnavailable, "Entra ID's signing keys are being fetched and did not arrive within this request's time, so the token cannot be verified yet.").
			WithRetryAfter(s.until(f.deadline)).WithCause(ctx.Err())
	}
}

func (s *keySource) failing(retryAt time.Time, err error) *problem.Error {
	return problem.New(problem.UpstreamUnavailable, "Entra ID's signing keys cannot be fetched right now, so the token cannot be verified.").
		WithRetryAfter(s.until(retryAt)).WithCause(err)
}

// until is the wait until t for a Retry-After: at least a second.
func (s *keySource) until(t time.Time) time.Duration {
	return max(t.Sub(s.now()), time.Second)
}

// get returns the key set to verify with. With none yet, it waits for a fetch
// (its own or the one in progress) until ctx is done. A set older than maxAge
// serves while a refresh runs in the background: Entra publishes keys long
// before it signs with them, and an unknown kid still refreshes.
func (s *keySource) get(ctx context.Context) (*keySet, error) {
	if ks := s.current.Load(); ks != nil {
		if s.now().Sub(ks.fetched) >= s.maxAge {
			s.begin(s.maxAge)
		}
		return ks, nil
	}
	p := s.begin(s.maxAge)
	switch {
	case p.f != nil:
		ks, err := s.wait(ctx, p.f)
		if ks != nil {
			return ks, nil
		}
		return nil, err
	case p.cur != nil: // fetched just now by another caller
		return p.cur, nil
	}
	return nil, s.failing(p.next, p.lastErr)
}

// key returns the key kid names, from the newest set. An unknown kid
// refreshes the set when the last good fetch began at least refreshInterval
// ago, so made-up kids cause at most one fetch per interval (one per retry gap
// while fetches fail, so that a new key is not kept out by one failure).
//
// A kid still unknown is refused as not Entra's only when the set was fetched
// after the token was issued (allowing for skew): Entra publishes a key before
// it signs with it. Otherwise Entra may have started using the key since, and
// the answer is retry_later, with Retry-After the time until the next refresh
// is allowed: a new key is never refused as invalid for minutes.
func (s *keySource) key(ctx context.Context, kid string, issued time.Time) (signingKey, error) {
	if k, ok := s.current.Load().keys[kid]; ok { // get has succeeded: there is a set
		return k, nil
	}
	p := s.begin(s.refreshInterval)
	newest, next := p.cur, p.next
	switch {
	case p.f != nil:
		got, err := s.wait(ctx, p.f)
		if err != nil {
			return signingKey{}, err // the key may exist
		}
		newest, next = got, got.fetched.Add(s.refreshInterval)
	case p.lastErr != nil:
		return signingKey{}, s.failing(p.next, p.lastErr)
	}
	if k, ok := newest.keys[kid]; ok {
		return k, nil
	}
	if newest.fetched.After(issued.Add(ClockSkew)) {
		return signingKey{}, invalid("The token is signed with key %s, which Entra ID does not publish.", kid)
	}
	wait := s.until(next)
	return signingKey{}, problem.New(problem.UpstreamUnavailable, "The token is signed with key %s, which Entra ID had not published when its keys were last fetched; they are fetched again in %d s.", kid, entra.Seconds(wait)).
		WithRetryAfter(wait)
}

// discovery is the part of an OpenID Connect discovery document we read.
type discovery struct {
	Issuer  string `json:"issuer"`
	JWKSURI string `json:"jwks_uri"`
}

// fetch gets a new key set: the two discovery documents together (only the
// first time: issuers and the key set's address do not change), then the JWKS.
func (s *keySource) fetch(ctx context.Context, prev *keySet) (*keySet, error) {
	next := &keySet{fetched: s.now()}
	if prev != nil {
		next.v1Issuer, next.v2Issuer, next.jwksURI = prev.v1Issuer, prev.v2Issuer, prev.jwksURI
	} else {
		var v1, v2 discovery
		var err1, err2 error
		var wg sync.WaitGroup
		wg.Go(func() { err2 = s.getJSON(ctx, s.v2URL, &v2) })
		wg.Go(func() { err1 = s.getJSON(ctx, s.v1URL, &v1) })
		wg.Wait()
		if err := errors.Join(err2, err1); err != nil {
			return nil, err
		}
		if v1.Issuer == "" || v2.Issuer == "" {
			return nil, errors.New("a discovery document lacks its issuer")
		}
		// The keys come from where Entra's own host says, over https.
		if u, err := url.Parse(v2.JWKSURI); err != nil || u.Scheme != "https" || u.Host != s.host {
			return nil, fmt.Errorf("jwks_uri %q is not https on %s", v2.JWKSURI, s.host)
		}
		next.v1Issuer, next.v2Issuer, next.jwksURI = v1.Issuer, v2.Issuer, v2.JWKSURI
	}
	body, err := s.getBody(ctx, next.jwksURI)
	if err != nil {
		return nil, err
	}
	if next.keys, err = parseKeys(body); err != nil {
		return nil, err
	}
	return next, nil
}

// parseKeys keeps the RSA signing keys of 2048 bits or more, each with its
// issuer. A kid given twice is dropped: which key it means is ambiguous.
func parseKeys(body []byte) (map[string]signingKey, error) {
	set, err := jwk.Parse(body)
	if err != nil {
		return nil, fmt.Errorf("parse JWKS: %w", err)
	}
	keys := make(map[string]signingKey, set.Len())
	twice := map[string]bool{}
	for i := range set.Len() {
		k, _ := set.Key(i)
		kid, ok := k.KeyID()
		if !ok {
			continue
		}
		if use, ok := k.KeyUsage(); ok && use != "sig" {
			continue
		}
		var pub rsa.PublicKey
		if err := jwk.Export(k, &pub); err != nil || pub.N.BitLen() < 2048 {
			continue // not an RSA public key of a safe size: never usable for RS256
		}
		var iss string
		if k.Has("issuer") && k.Get("issuer", &iss) != nil {
			continue // an issuer that is not a string scopes the key to nothing we know
		}
		if _, dup := keys[kid]; dup || twice[kid] {
			delete(keys, kid)
			twice[kid] = true
			continue
		}
		keys[kid] = signingKey{pub: &pub, issuer: iss}
	}
	if len(keys) == 0 {
		return nil, errors.New("JWKS holds no usable RSA key")
	}
	return keys, nil
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

// getBody GETs url; anything but a 200 fails, a redirect included.
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
