package graphtoken

import (
	"context"
	"errors"
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
	calls, fresh atomic.Int64
	lastClaims   atomic.Value
	delay        time.Duration
	fail         error
}

func (f *fakeEntra) Exchange(ctx context.Context, assertion, tid string, scopes []string, claims string) (entra.Token, error) {
	f.calls.Add(1)
	f.lastClaims.Store(claims)
	return f.answer(ctx, tid+"/"+assertion+"/cached", scopes)
}

func (f *fakeEntra) ExchangeFresh(ctx context.Context, assertion, tid string, scopes []string) (entra.Token, error) {
	f.fresh.Add(1)
	return f.answer(ctx, tid+"/"+assertion+"/fresh", scopes)
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
	alice = &token.Identity{TenantID: "aaaaaaaa-0000-4000-8000-00000000000a", ObjectID: "a11ce000-0000-4000-8000-000000000001"}
	bob   = &token.Identity{TenantID: "aaaaaaaa-0000-4000-8000-00000000000a", ObjectID: "b0b00000-0000-4000-8000-000000000002"}
)

func newBroker(t *testing.T, f *fakeEntra) *Broker {
	t.Helper()
	cache, err := tokencache.New(tokencache.Config{}, tokencache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return New(Config{Scopes: []string{"User.Read", "Mail.Read"}, Cache: cache, Exchanger: f})
}

func TestCacheThenEntra(t *testing.T) {
	f := &fakeEntra{}
	s := newBroker(t, f)
	ctx := context.Background()
	r, err := s.Get(ctx, Request{Identity: alice, Assertion: "t1", Scopes: []string{"User.Read"}})
	if err != nil || r.Source != FromEntra {
		t.Fatalf("first: %+v %v", r, err)
	}
	// A new bootstrap token of the same user is served from the cache.
	r, err = s.Get(ctx, Request{Identity: alice, Assertion: "t2", Scopes: []string{"user.read"}})
	if err != nil || r.Source != tokencache.Memory || r.AccessToken != alice.TenantID+"/t1/cached" {
		t.Fatalf("second: %+v %v", r, err)
	}
	// Another user, or another scope set, is another entry.
	if r, _ := s.Get(ctx, Request{Identity: bob, Assertion: "t3", Scopes: []string{"User.Read"}}); r.AccessToken != alice.TenantID+"/t3/cached" {
		t.Fatalf("bob got %q", r.AccessToken)
	}
	if r, _ := s.Get(ctx, Request{Identity: alice, Assertion: "t4"}); r.Source != FromEntra || len(r.Scopes) != 2 {
		t.Fatalf("all scopes: %+v", r)
	}
	if n := f.calls.Load(); n != 3 {
		t.Errorf("%d exchanges, want 3", n)
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

func TestClaimsAndFreshSkipTheCache(t *testing.T) {
	f := &fakeEntra{}
	s := newBroker(t, f)
	ctx := context.Background()
	s.Get(ctx, Request{Identity: alice, Assertion: "t1"})
	claims := `{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`
	r, err := s.Get(ctx, Request{Identity: alice, Assertion: "t2", Claims: claims})
	if err != nil || r.Source != FromEntra || f.lastClaims.Load() != claims {
		t.Fatalf("claims: %+v %v", r, err)
	}
	r, err = s.Get(ctx, Request{Identity: alice, Assertion: "t3", Refused: true})
	if err != nil || r.AccessToken != alice.TenantID+"/t3/fresh" || f.fresh.Load() != 1 {
		t.Fatalf("fresh: %+v %v", r, err)
	}
	// The fresh token replaced the cached one.
	if r, _ := s.Get(ctx, Request{Identity: alice, Assertion: "t4"}); r.AccessToken != alice.TenantID+"/t3/fresh" {
		t.Errorf("after fresh, cache holds %q", r.AccessToken)
	}
	s.Forget(ctx, Request{Identity: alice})
	if r, _ := s.Get(ctx, Request{Identity: alice, Assertion: "t5"}); r.Source != FromEntra {
		t.Errorf("after forget: %+v", r)
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
