package token

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/addinsso/addinsso/dev/entra"
	hentra "github.com/addinsso/addinsso/handler/entra"
	"github.com/addinsso/addinsso/handler/problem"
)

// ownEntra starts an emulator for one test, so its counts, outages and
// latency touch no other test, and a fetch a test leaves running lands there.
func ownEntra(t testing.TB) *entra.Server {
	t.Helper()
	s, err := entra.Start(emu.CA)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func configFor(s *entra.Server) Config {
	cfg := baseConfig()
	cfg.AuthorityHost = s.URL
	return cfg
}

// gate holds every request to Entra until it is opened (or the request's
// context ends), and reports each path as it arrives.
type gate struct {
	next    http.RoundTripper
	mu      sync.Mutex
	open    chan struct{}
	arrived chan string
}

func newGate(s *entra.Server) *gate {
	return &gate{next: s.Client().Transport, open: make(chan struct{}), arrived: make(chan string, 100)}
}

func (g *gate) RoundTrip(r *http.Request) (*http.Response, error) {
	g.arrived <- r.URL.Path
	g.mu.Lock()
	open := g.open
	g.mu.Unlock()
	select {
	case <-open:
		return g.next.RoundTrip(r)
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
}

func (g *gate) release() { g.mu.Lock(); close(g.open); g.mu.Unlock() }
func (g *gate) hold()    { g.mu.Lock(); g.open = make(chan struct{}); g.mu.Unlock() }
func (g *gate) client() *http.Client {
	return &http.Client{Transport: g}
}

// await reads n paths off the gate; a fetch that never asks fails the test.
func (g *gate) await(t *testing.T, n int) []string {
	t.Helper()
	var paths []string
	for range n {
		select {
		case p := <-g.arrived:
			paths = append(paths, p)
		case <-time.After(20 * time.Second):
			t.Fatalf("only %d of %d requests reached Entra: %q", len(paths), n, paths)
		}
	}
	return paths
}

// quiet fails if a request reaches Entra.
func (g *gate) quiet(t *testing.T) {
	t.Helper()
	select {
	case p := <-g.arrived:
		t.Fatalf("unexpected fetch of %s", p)
	default:
	}
}

// within fails the test unless f returns in time: a guard against hanging,
// not a measurement.
func within(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: still blocked", what)
	}
}

// fakeClock makes opts' clock one the test moves; now is its starting time.
func fakeClock(opts *Options) (now time.Time, advance func(time.Duration)) {
	var mu sync.Mutex
	clock := time.Now()
	opts.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	return clock, func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }
}

func asProblem(t *testing.T, err error, want problem.Code) *problem.Error {
	t.Helper()
	p, ok := errors.AsType[*problem.Error](err)
	if !ok || p.Code != want {
		t.Fatalf("got %v, want %s", err, want)
	}
	return p
}

func isDiscovery(path string) bool { return strings.HasSuffix(path, "/openid-configuration") }

// Callers waiting for keys share one fetch and each gives up at its own
// deadline with retry_later; the two discovery documents are asked for
// together. (Callers used to run a fetch each, one after another under a
// mutex, past their deadlines.)
func TestCallersShareOneFetchAndKeepTheirDeadlines(t *testing.T) {
	s := ownEntra(t)
	g := newGate(s)
	opts := baseOptions()
	opts.HTTPClient = g.client()
	v := New(configFor(s), opts)
	v.keys.fetchTimeout = time.Minute // the gate, not the timeout, ends this fetch
	tok := s.Issue(alice, clientID, entra.Token{})

	errs := make([]error, 4)
	within(t, "callers with 50 ms deadlines", func() {
		var wg sync.WaitGroup
		for i := range errs {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
				defer cancel()
				_, errs[i] = v.Verify(ctx, tok)
			})
		}
		wg.Wait()
	})
	for _, err := range errs {
		if p := asProblem(t, err, problem.UpstreamUnavailable); p.RetryAfter < time.Second || p.Action() != problem.RetryLater {
			t.Errorf("%v: Retry-After %v", p, p.RetryAfter)
		}
	}
	// Both discovery documents are pending at once: asked for in parallel.
	if paths := g.await(t, 2); !isDiscovery(paths[0]) || !isDiscovery(paths[1]) || paths[0] == paths[1] {
		t.Errorf("first requests %q, want the two discovery documents together", paths)
	}
	g.quiet(t)

	g.release()
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	if d, j := s.Count("discovery"), s.Count("jwks"); d != 2 || j != 1 {
		t.Errorf("%d discovery and %d JWKS fetches, want one fetch: 2 and 1", d, j)
	}
}

// A failed fetch is retried retryInterval after it ended, not after it began:
// a fetch that hung until its timeout is not followed at once by another.
func TestRetryGapCountsFromTheEndOfAFailedFetch(t *testing.T) {
	s := ownEntra(t)
	s.SetDown(true)
	g := newGate(s)
	opts := baseOptions()
	opts.HTTPClient = g.client()
	_, advance := fakeClock(&opts)
	v := New(configFor(s), opts)
	v.keys.fetchTimeout = time.Minute
	tok := s.Issue(alice, clientID, entra.Token{})

	errc := make(chan error, 1)
	go func() { _, err := v.Verify(context.Background(), tok); errc <- err }()
	g.await(t, 2)
	advance(10 * time.Second) // the fetch takes 10 s, then Entra answers 503
	g.release()
	if p := asProblem(t, <-errc, problem.UpstreamUnavailable); p.RetryAfter != v.keys.retryInterval {
		t.Errorf("Retry-After %v, want the retry gap %v from the failure", p.RetryAfter, v.keys.retryInterval)
	}

	advance(3 * time.Second) // 13 s after the fetch began, 3 s after it failed
	_, err := v.Verify(context.Background(), tok)
	if p := asProblem(t, err, problem.UpstreamUnavailable); p.RetryAfter != 2*time.Second {
		t.Errorf("Retry-After %v, want 2s", p.RetryAfter)
	}
	g.quiet(t)

	advance(3 * time.Second)
	s.SetDown(false)
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("after the retry gap: %v", err)
	}
	g.await(t, 3)
}

// A fetch never outlives its own timeout, which is shorter than the retry gap:
// with Entra hanging, a caller without a deadline still gets retry_later, and
// Entra sees at most one fetch at a time with rests between.
func TestHangingEntraAnswersRetryLater(t *testing.T) {
	s := ownEntra(t)
	g := newGate(s)
	opts := baseOptions()
	opts.HTTPClient = g.client()
	v := New(configFor(s), opts)
	if v.keys.fetchTimeout >= v.keys.retryInterval {
		t.Errorf("fetch timeout %v is not shorter than the retry gap %v", v.keys.fetchTimeout, v.keys.retryInterval)
	}
	v.keys.fetchTimeout = 100 * time.Millisecond
	var err error
	within(t, "a caller without a deadline", func() { _, err = v.Verify(context.Background(), issue(alice, entra.Token{})) })
	if p := asProblem(t, err, problem.UpstreamUnavailable); p.RetryAfter < time.Second {
		t.Errorf("Retry-After %v", p.RetryAfter)
	}
}

// An unknown kid refreshes the keys at most once per interval. Within it, a
// kid unknown to keys fetched after the token was issued is refused as not
// Entra's; a token issued since gets retry_later until the next refresh, so a
// key Entra has just started using is never refused as invalid.
func TestUnknownKid(t *testing.T) {
	s := ownEntra(t)
	opts := baseOptions()
	opts.HTTPClient = s.Client()
	start, advance := fakeClock(&opts)
	v := New(configFor(s), opts)
	ctx := context.Background()
	at := func(d time.Duration) entra.Token { return entra.Token{IssuedAt: start.Add(d)} }
	forged := func(kid string, issued time.Duration) string {
		c := claimsOf(s.Issue(alice, clientID, at(issued)))
		return s.Sign(map[string]any{"kid": kid}, c)
	}
	if _, err := v.Verify(ctx, s.Issue(alice, clientID, at(0))); err != nil {
		t.Fatal(err)
	}
	fetches := func() int64 { return s.Count("jwks") }
	base := fetches()

	advance(time.Minute)
	_, err := v.Verify(ctx, forged("made-up", -10*time.Minute))
	asProblem(t, err, problem.InvalidToken)
	_, err = v.Verify(ctx, forged("made-up", time.Minute))
	if p := asProblem(t, err, problem.UpstreamUnavailable); p.RetryAfter != 4*time.Minute {
		t.Errorf("Retry-After %v, want 4m0s: the time until the next refresh", p.RetryAfter)
	}
	for i := range 20 {
		if _, err := v.Verify(ctx, forged(fmt.Sprintf("made-up-%d", i), time.Minute)); err == nil {
			t.Fatal("unknown kid accepted")
		}
	}
	if got := fetches() - base; got != 0 {
		t.Errorf("22 unknown kids within the interval caused %d fetches", got)
	}

	// Past the interval: one fetch, however many made-up kids arrive.
	advance(5 * time.Minute)
	for i := range 20 {
		if _, err := v.Verify(ctx, forged(fmt.Sprintf("again-%d", i), 6*time.Minute)); err == nil {
			t.Fatal("unknown kid accepted")
		}
	}
	if got := fetches() - base; got != 1 {
		t.Errorf("20 unknown kids past the interval caused %d fetches, want 1", got)
	}

	// Entra starts signing with a new key just after that fetch: retry_later
	// until the next refresh is allowed, then accepted.
	advance(time.Minute)
	if _, err := s.Rotate(); err != nil {
		t.Fatal(err)
	}
	rotated := s.Issue(alice, clientID, at(7*time.Minute))
	_, err = v.Verify(ctx, rotated)
	if p := asProblem(t, err, problem.UpstreamUnavailable); p.RetryAfter != 4*time.Minute {
		t.Errorf("Retry-After %v, want 4m0s", p.RetryAfter)
	}
	advance(4 * time.Minute)
	if _, err := v.Verify(ctx, rotated); err != nil {
		t.Fatalf("rotated key not picked up: %v", err)
	}
	if got := fetches() - base; got != 2 {
		t.Errorf("%d fetches, want 2", got)
	}
}

// A refresh the caller abandons still completes for the next caller, and a
// refresh that fails answers retry_later and is tried again after the gap:
// neither keeps a new key out.
func TestKeyRefreshSurvivesCancelAndOutage(t *testing.T) {
	s := ownEntra(t)
	opts := baseOptions()
	opts.HTTPClient = s.Client()
	start, advance := fakeClock(&opts)
	v := New(configFor(s), opts)
	if _, err := v.Verify(context.Background(), s.Issue(alice, clientID, entra.Token{IssuedAt: start})); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Rotate(); err != nil {
		t.Fatal(err)
	}
	advance(6 * time.Minute)

	// An attacker's request with a made-up kid, abandoned at once.
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	v.Verify(gone, s.Sign(map[string]any{"kid": "made-up"}, claimsOf(s.Issue(alice, clientID, entra.Token{IssuedAt: start}))))
	if _, err := v.Verify(context.Background(), s.Issue(alice, clientID, entra.Token{IssuedAt: start})); err != nil {
		t.Fatalf("the abandoned refresh kept the new key out: %v", err)
	}

	// Entra down while a new kid appears: retry_later, not fatal; then picked up.
	advance(6 * time.Minute)
	if _, err := s.Rotate(); err != nil {
		t.Fatal(err)
	}
	tok := s.Issue(bob, clientID, entra.Token{IssuedAt: start.Add(12 * time.Minute)})
	s.SetDown(true)
	_, err := v.Verify(context.Background(), tok)
	s.SetDown(false)
	if p := asProblem(t, err, problem.UpstreamUnavailable); p.Action() != problem.RetryLater || p.RetryAfter != v.keys.retryInterval {
		t.Fatalf("unknown kid during an outage: %v, Retry-After %v", p, p.RetryAfter)
	}
	advance(10 * time.Second)
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("after the outage: %v", err)
	}
}

// When Entra is down the last good keys keep working, even when stale; with
// none known the answer is retry_later.
func TestEntraOutage(t *testing.T) {
	s := ownEntra(t)
	opts := baseOptions()
	opts.HTTPClient = s.Client()
	start, advance := fakeClock(&opts)
	v := New(configFor(s), opts)
	ctx := context.Background()
	if _, err := v.Verify(ctx, s.Issue(alice, clientID, entra.Token{IssuedAt: start})); err != nil {
		t.Fatal(err)
	}
	s.SetDown(true)
	advance(25 * time.Hour) // keys stale: a refresh is attempted and fails
	if _, err := v.Verify(ctx, s.Issue(bob, clientID, entra.Token{IssuedAt: start.Add(25 * time.Hour)})); err != nil {
		t.Fatalf("last good keys not used: %v", err)
	}

	cold := New(configFor(s), Options{HTTPClient: s.Client(), Logger: opts.Logger})
	_, err := cold.Verify(ctx, s.Issue(alice, clientID, entra.Token{}))
	if p := asProblem(t, err, problem.UpstreamUnavailable); p.RetryAfter == 0 {
		t.Fatal("no Retry-After")
	}
}

// Keys older than a day serve at once while they are refreshed in the
// background: a slow Entra does not slow the caller.
func TestStaleKeysServeWhileRefreshing(t *testing.T) {
	s := ownEntra(t)
	g := newGate(s)
	opts := baseOptions()
	opts.HTTPClient = g.client()
	start, advance := fakeClock(&opts)
	v := New(configFor(s), opts)
	g.release()
	if _, err := v.Verify(context.Background(), s.Issue(alice, clientID, entra.Token{IssuedAt: start})); err != nil {
		t.Fatal(err)
	}
	g.await(t, 3)
	g.hold()
	advance(25 * time.Hour)
	within(t, "a caller with stale keys", func() {
		if _, err := v.Verify(context.Background(), s.Issue(bob, clientID, entra.Token{IssuedAt: start.Add(25 * time.Hour)})); err != nil {
			t.Error(err)
		}
	})
	if p := g.await(t, 1); !strings.HasSuffix(p[0], "/keys") {
		t.Errorf("refresh asked for %s, want the JWKS", p[0])
	}
	g.release()
}

// Warm fetches in the background, once, and never before it is called.
func TestWarm(t *testing.T) {
	s := ownEntra(t)
	g := newGate(s)
	opts := baseOptions()
	opts.HTTPClient = g.client()
	v := New(configFor(s), opts)
	g.quiet(t) // New fetches nothing
	within(t, "Warm with Entra not answering", func() { v.Warm(); v.Warm() })
	g.await(t, 2)
	g.release()
	within(t, "the warm-up", func() {
		for v.keys.current.Load() == nil {
			time.Sleep(time.Millisecond)
		}
	})
	v.Warm()
	if _, err := v.Verify(context.Background(), s.Issue(alice, clientID, entra.Token{})); err != nil {
		t.Fatal(err)
	}
	if d, j := s.Count("discovery"), s.Count("jwks"); d != 2 || j != 1 {
		t.Errorf("%d discovery and %d JWKS fetches, want one fetch: 2 and 1", d, j)
	}
}

// A repeat caller costs no key fetch and no RSA work; a new token of a known key costs no fetch.
func TestMemoAndKeyFetches(t *testing.T) {
	s := ownEntra(t)
	opts := baseOptions()
	opts.HTTPClient = s.Client()
	v := New(configFor(s), opts)
	ctx := context.Background()
	tok := s.Issue(alice, clientID, entra.Token{})
	for range 3 {
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := v.Verify(ctx, s.Issue(bob, clientID, entra.Token{})); err != nil {
		t.Fatal(err)
	}
	if got := s.Count("jwks"); got != 1 {
		t.Errorf("JWKS fetched %d times, want 1", got)
	}
}

// The metadata client never follows a redirect: an https discovery URL that
// answers with a redirect to http yields no keys, and nothing is asked of the
// http address. The key set's address must stay on the authority's host.
func TestMetadataStaysOnEntra(t *testing.T) {
	var plainHits atomic.Int64
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { plainHits.Add(1) }))
	defer plain.Close()
	redirecting := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, plain.URL+r.URL.Path, http.StatusFound)
	}))
	defer redirecting.Close()

	// The production client, trusting the test server's certificate.
	client := hentra.HTTPClient()
	roots := x509.NewCertPool()
	roots.AddCert(redirecting.Certificate())
	client.Transport.(*http.Transport).TLSClientConfig.RootCAs = roots
	cfg := baseConfig()
	cfg.AuthorityHost = redirecting.URL
	_, err := New(cfg, Options{HTTPClient: client, Logger: baseOptions().Logger}).Verify(context.Background(), issue(alice, entra.Token{}))
	asProblem(t, err, problem.UpstreamUnavailable)
	if plainHits.Load() != 0 {
		t.Error("the redirect to http was followed")
	}
	// And it is the default.
	req := httptest.NewRequest("GET", redirecting.URL, nil)
	if got := New(cfg, Options{}).keys.client.CheckRedirect(req, []*http.Request{req}); got != http.ErrUseLastResponse {
		t.Errorf("the default metadata client follows redirects (%v)", got)
	}

	// A discovery document pointing the key set elsewhere is refused.
	elsewhere := ownEntra(t)
	foreign := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"issuer":"%s/{tenantid}/v2.0","jwks_uri":"%s/common/discovery/v2.0/keys"}`, elsewhere.URL, elsewhere.URL)
	}))
	defer foreign.Close()
	roots.AddCert(foreign.Certificate())
	roots.AppendCertsFromPEM(elsewhere.CA.PEM())
	cfg.AuthorityHost = foreign.URL
	_, err = New(cfg, Options{HTTPClient: client, Logger: baseOptions().Logger}).Verify(context.Background(), issue(alice, entra.Token{}))
	asProblem(t, err, problem.UpstreamUnavailable)
	if elsewhere.Count("jwks") != 0 {
		t.Error("keys were fetched from another host")
	}
}

// BenchmarkFirstVerify is a new instance's first token with Entra answering
// in 100 ms: cold (the metadata fetched on the caller's time: the two
// discovery documents together, then the JWKS, each over a new connection)
// and after Warm (fetched once the host's ping was answered).
func BenchmarkFirstVerify(b *testing.B) {
	s := ownEntra(b)
	s.SetLatency(100 * time.Millisecond)
	cfg := configFor(s)
	tok := s.Issue(alice, clientID, entra.Token{})
	ctx := context.Background()
	fresh := func() *Verifier { return New(cfg, Options{HTTPClient: s.Client(), Logger: baseOptions().Logger}) }
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			if _, err := fresh().Verify(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("after-warm", func(b *testing.B) {
		for range b.N {
			b.StopTimer()
			v := fresh()
			v.Warm()
			for v.keys.current.Load() == nil {
				time.Sleep(time.Millisecond)
			}
			b.StartTimer()
			if _, err := v.Verify(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}
