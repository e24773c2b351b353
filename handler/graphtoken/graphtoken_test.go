package graphtoken

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/addinsso/addinsso/handler/entra"
	"github.com/addinsso/addinsso/handler/problem"
	"github.com/addinsso/addinsso/handler/token"
	"github.com/addinsso/addinsso/handler/tokencache"
)

// fakeEntra counts exchanges and answers with a token naming the user and the kind of call.
type fakeEntra struct {
	calls      atomic.Int64
	lastClaims atomic.Value
	delay      time.Duration
	fail       error
}

func (f *fakeEntra) Exchange(ctx context.Context, assertion, tid string, scopes []string, claims string) (entra.Token, error) {
	n := f.calls.Add(1)
	f.lastClaims.Store(claims)
	return f.answer(ctx, fmt.Sprintf("%s/%s/%d", tid, assertion, n), scopes)
}

func (f *fakeEntra) answer(ctx context.Context, tok string, scopes []string) (entra.Token, error) {
	select {
	case <-time.After(f.delay):
	case <-ctx.Done():
		return entra.Token{}, ctx.Err()
	}
	if f.fail != nil {
		return entra.Token{}, f.fail
	}
	return entra.Token{AccessToken: tok, ExpiresAt: time.Now().Add(time.Hour), Scopes: scopes}, nil
}

var (
	alice = &token.Identity{TenantID: "aaaaaaaa-0000-4000-8000-00000000000a", ObjectID: "a11ce000-0000-4000-8000-000000000001", ExpiresAt: time.Now().Add(time.Hour)}
	bob   = &token.Identity{TenantID: "aaaaaaaa-0000-4000-8000-00000000000a", ObjectID: "b0b00000-0000-4000-8000-000000000002", ExpiresAt: time.Now().Add(time.Hour)}
)

func newBroker(t *testing.T, f *fakeEntra) *Broker {
	t.Helper()
	cache, err := tokencache.New(tokencache.Config{}, tokencache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return New(Config{Scopes: []string{"User.Read", "Mail.Read"}, Cache: cache, Exchanger: f}, Options{})
}

func TestCacheThenEntra(t *testing.T) {
	f := &fakeEntra{}
	s := newBroker(t, f)
	ctx := context.Background()
	r, err := s.Get(ctx, Request{Identity: alice, Assertion: "t1", Scopes: []string{"User.Read"}})
	if err != nil || r.Source != FromEntra {
		t.Fatalf("first: %+v %v", r, err)
	}
	// The same session (bootstrap token) is served from the cache, whatever
	// the case of the scopes.
	r, err = s.Get(ctx, Request{Identity: alice, Assertion: "t1", Scopes: []string{"user.read"}})
	if err != nil || r.Source != tokencache.Memory || r.AccessToken != alice.TenantID+"/t1/1" {
		t.Fatalf("second: %+v %v", r, err)
	}
	// Another session of the same user is exchanged for its own token: Entra
	// evaluates Conditional Access for it. The first session still hits.
	if r, _ := s.Get(ctx, Request{Identity: alice, Assertion: "t2", Scopes: []string{"User.Read"}}); r.Source != FromEntra || r.AccessToken != alice.TenantID+"/t2/2" {
		t.Fatalf("second session: %+v", r)
	}
	if r, _ := s.Get(ctx, Request{Identity: alice, Assertion: "t1", Scopes: []string{"User.Read"}}); r.AccessToken != alice.TenantID+"/t1/1" {
		t.Fatalf("first session after the second: %+v", r)
	}
	// Another user, or another scope set, is another entry.
	if r, _ := s.Get(ctx, Request{Identity: bob, Assertion: "t3", Scopes: []string{"User.Read"}}); r.AccessToken != alice.TenantID+"/t3/3" {
		t.Fatalf("bob got %q", r.AccessToken)
	}
	if r, _ := s.Get(ctx, Request{Identity: alice, Assertion: "t1"}); r.Source != FromEntra || len(r.Scopes) != 2 {
		t.Fatalf("all scopes: %+v", r)
	}
	if n := f.calls.Load(); n != 4 {
		t.Errorf("%d exchanges, want 4", n)
	}
}

func TestConcurrentFirstCallsShareOneExchange(t *testing.T) {
	f := &fakeEntra{delay: 50 * time.Millisecond}
	s := newBroker(t, f)
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := alice
			if i%2 == 1 {
				id = bob
			}
			if _, err := s.Get(context.Background(), Request{Identity: id, Assertion: "t"}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := f.calls.Load(); n != 2 {
		t.Errorf("%d exchanges for two users, want 2", n)
	}
}

// One waiter giving up does not fail the others sharing the exchange.
func TestCancelledWaiterDoesNotCancelTheFlight(t *testing.T) {
	f := &fakeEntra{delay: 100 * time.Millisecond}
	s := newBroker(t, f)
	impatient, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	go func() { _, err := s.Get(impatient, Request{Identity: alice, Assertion: "t"}); done <- err }()
	time.Sleep(10 * time.Millisecond)
	go func() { _, err := s.Get(context.Background(), Request{Identity: alice, Assertion: "t"}); done <- err }()
	cancel()
	for range 2 {
		if err := <-done; err != nil {
			t.Errorf("a waiter failed: %v", err)
		}
	}
}

func TestClaimsAndRefusedSkipTheCache(t *testing.T) {
	f := &fakeEntra{}
	s := newBroker(t, f)
	ctx := context.Background()
	first, _ := s.Get(ctx, Request{Identity: alice, Assertion: "t1"})
	claims := `{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`
	r, err := s.Get(ctx, Request{Identity: alice, Assertion: "t1", Claims: claims})
	if err != nil || r.Source != FromEntra || f.lastClaims.Load() != claims {
		t.Fatalf("claims: %+v %v", r, err)
	}
	r, err = s.Get(ctx, Request{Identity: alice, Assertion: "t1", Refused: true})
	if err != nil || r.Source != FromEntra || r.AccessToken == first.AccessToken || f.calls.Load() != 3 {
		t.Fatalf("refused: %+v %v", r, err)
	}
	// The new token replaced the refused one.
	if again, _ := s.Get(ctx, Request{Identity: alice, Assertion: "t1"}); again.AccessToken != r.AccessToken || again.Source != tokencache.Memory {
		t.Errorf("after a refused token, cache holds %+v", again)
	}
	if err := s.Forget(ctx, alice); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.Get(ctx, Request{Identity: alice, Assertion: "t1"}); r.Source != FromEntra {
		t.Errorf("after forget: %+v", r)
	}
}

// TestSkipsAreBounded: claims answers and refused tokens go to Entra past
// the cache, so one user gets only a few a minute; concurrent identical
// answers share one exchange and count once; other users are not affected.
func TestSkipsAreBounded(t *testing.T) {
	f := &fakeEntra{delay: 200 * time.Millisecond} // keeps the flight open while all 20 join it
	clock := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	cache, err := tokencache.New(tokencache.Config{}, tokencache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := New(Config{Scopes: []string{"User.Read"}, Cache: cache, Exchanger: f}, Options{Now: func() time.Time { return clock }, SkipsPerMinute: 3})
	ctx := context.Background()
	claims := func(i int) string { return fmt.Sprintf(`{"access_token":{"nbf":{"essential":true,"value":"%d"}}}`, i) }

	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() { defer wg.Done(); s.Get(ctx, Request{Identity: alice, Assertion: "t", Claims: claims(0)}) }()
	}
	wg.Wait()
	if n := f.calls.Load(); n != 1 {
		t.Fatalf("20 identical concurrent answers made %d exchanges, want 1", n)
	}
	f.delay = 0
	for i := 1; i <= 2; i++ {
		if _, err := s.Get(ctx, Request{Identity: alice, Assertion: "t", Claims: claims(i)}); err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
	}
	_, err = s.Get(ctx, Request{Identity: alice, Assertion: "t", Refused: true})
	var p *problem.Error
	if !errors.As(err, &p) || p.Code != problem.UpstreamUnavailable || p.RetryAfter <= 0 || p.RetryAfter > time.Minute {
		t.Fatalf("past the bound: %v", err)
	}
	before := f.calls.Load()
	if _, err := s.Get(ctx, Request{Identity: bob, Assertion: "b", Claims: claims(9)}); err != nil {
		t.Fatalf("another user: %v", err)
	}
	clock = clock.Add(time.Minute)
	if _, err := s.Get(ctx, Request{Identity: alice, Assertion: "t", Claims: claims(10)}); err != nil {
		t.Fatalf("a minute later: %v", err)
	}
	if n := f.calls.Load(); n != before+2 {
		t.Errorf("%d exchanges after the bound, want %d", n, before+2)
	}
}

func TestErrorsAreNotCached(t *testing.T) {
	f := &fakeEntra{fail: problem.New(problem.ConsentRequired, "consent")}
	s := newBroker(t, f)
	ctx := context.Background()
	_, err := s.Get(ctx, Request{Identity: alice, Assertion: "t"})
	var p *problem.Error
	if !errors.As(err, &p) || p.Code != problem.ConsentRequired {
		t.Fatalf("err = %v", err)
	}
	f.fail = nil
	if r, err := s.Get(ctx, Request{Identity: alice, Assertion: "t"}); err != nil || r.Source != FromEntra {
		t.Fatalf("after consent: %+v %v", r, err)
	}
}

// TestScopes: the scopes asked are mapped to GRAPH_SCOPES as configured, in
// any case and order, and one not configured is refused before any exchange.
func TestScopes(t *testing.T) {
	f := &fakeEntra{}
	s := newBroker(t, f)
	ctx := context.Background()
	r, err := s.Get(ctx, Request{Identity: alice, Assertion: "t", Scopes: []string{"mail.read", "MAIL.READ"}})
	if err != nil || len(r.Scopes) != 1 || r.Scopes[0] != "Mail.Read" {
		t.Fatalf("got %+v %v", r, err)
	}
	_, err = s.Get(ctx, Request{Identity: alice, Assertion: "t", Scopes: []string{"Files.ReadWrite.All"}})
	var p *problem.Error
	if !errors.As(err, &p) || p.Code != problem.BadRequest || !strings.Contains(p.Detail, "Files.ReadWrite.All") {
		t.Fatalf("unconfigured scope: %v", err)
	}
	if n := f.calls.Load(); n != 1 {
		t.Errorf("%d exchanges, want 1", n)
	}
}
