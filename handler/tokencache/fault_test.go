package tokencache_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/addinsso/addinsso/handler/tokencache"
	"github.com/addinsso/addinsso/handler/tokencache/storetest"
)

// faultyStore is an in-memory store whose calls can be made to fail, and
// which counts the calls that reach it.
type faultyStore struct {
	*storetest.Memory
	calls atomic.Int32
	fail  atomic.Value // func(ctx context.Context, method string) error, or nil
}

func newFaultyStore() *faultyStore {
	s := &faultyStore{Memory: &storetest.Memory{}}
	s.Intercept(func(ctx context.Context, method string) error {
		s.calls.Add(1)
		if f, _ := s.fail.Load().(func(context.Context, string) error); f != nil {
			return f(ctx, method)
		}
		return nil
	})
	return s
}

// failing makes calls of method fail as f says from now on; "" is every method.
func (s *faultyStore) failing(method string, f func(ctx context.Context) error) {
	s.fail.Store(func(ctx context.Context, m string) error {
		if method == "" || m == method {
			return f(ctx)
		}
		return nil
	})
}

func (s *faultyStore) healthy() { s.fail.Store(func(context.Context, string) error { return nil }) }

var errScripted = errors.New("scripted fault")

func scriptedFault(context.Context) error { return errScripted }

// TestBackoff: after a fault the store is left alone for 1 s, doubling with
// each consecutive fault up to 30 s; a success starts the schedule again.
func TestBackoff(t *testing.T) {
	store, l, clk := newFaultyStore(), newLogs(t), newClock()
	c := newCache(t, store, tokencache.Options{Now: clk.Now, Logger: l.logger()})
	k := keyOf(tenantA, userA, scopes...)
	reaches := func() bool {
		before := store.calls.Load()
		c.Get(context.Background(), k)
		return store.calls.Load() != before
	}
	store.failing("", scriptedFault)
	for i, pause := range []time.Duration{1, 2, 4, 8, 16, 30, 30} {
		pause *= time.Second
		if !reaches() {
			t.Fatalf("fault %d: the store was not tried", i+1)
		}
		clk.Add(pause - time.Nanosecond)
		if reaches() {
			t.Fatalf("after fault %d the store was tried before its %v pause ended", i+1, pause)
		}
		clk.Add(time.Nanosecond)
	}
	store.healthy()
	if !reaches() {
		t.Fatal("after the last pause the store was not tried")
	}
	if !strings.Contains(l.String(), "answering again") {
		t.Errorf("recovery not logged:\n%s", l.String())
	}
	store.failing("", scriptedFault)
	if !reaches() {
		t.Fatal("the store was not tried after a success")
	}
	clk.Add(time.Second - time.Nanosecond)
	if reaches() {
		t.Fatal("after a success, the next fault paused for more than 1 s")
	}
	clk.Add(time.Nanosecond)
	if !reaches() {
		t.Fatal("after a success, the next fault paused for more than 1 s")
	}
}

// TestStoreFaults: whichever store call fails, and however (an error, or no
// answer within the timeout), a Get is a miss, a Put is kept in memory, the
// fault is logged, and the store is left alone for the pause.
func TestStoreFaults(t *testing.T) {
	t.Parallel()
	const timeout = 50 * time.Millisecond
	ctx := context.Background()
	cached, other := keyOf(tenantA, userA, scopes...), keyOf(tenantB, userB, scopes...)
	for _, kind := range []struct {
		name string
		fail func(t *testing.T) func(ctx context.Context) error
	}{
		{"error", func(*testing.T) func(context.Context) error { return scriptedFault }},
		{"no answer", func(t *testing.T) func(context.Context) error {
			return func(ctx context.Context) error {
				if deadline, ok := ctx.Deadline(); !ok || time.Until(deadline) > timeout {
					t.Errorf("a store call without the %v bound (deadline %v, %v)", timeout, deadline, ok)
					return errScripted
				}
				<-ctx.Done()
				return ctx.Err()
			}
		}},
	} {
		for _, op := range []struct {
			name   string
			method string                                                 // the store call that fails
			do     func(c *tokencache.Cache, l *logs, now time.Time) bool // reports whether the outcome is the expected one
		}{
			{"get", "Get", func(c *tokencache.Cache, _ *logs, _ time.Time) bool { _, _, ok := c.Get(ctx, cached); return !ok }},
			{"add", "Add", func(c *tokencache.Cache, l *logs, now time.Time) bool {
				tok := l.token(now.Add(time.Hour))
				c.Put(ctx, other, tok)
				got, src, ok := c.Get(ctx, other)
				return ok && src == tokencache.Memory && got.AccessToken == tok.AccessToken
			}},
			{"read before replacing", "Get", func(c *tokencache.Cache, l *logs, now time.Time) bool {
				c.Put(ctx, cached, l.token(now.Add(2*time.Hour)))
				_, src, ok := c.Get(ctx, cached)
				return ok && src == tokencache.Memory
			}},
			{"replace", "Replace", func(c *tokencache.Cache, l *logs, now time.Time) bool {
				c.Put(ctx, cached, l.token(now.Add(2*time.Hour)))
				_, src, ok := c.Get(ctx, cached)
				return ok && src == tokencache.Memory
			}},
			{"delete", "Delete", func(c *tokencache.Cache, _ *logs, _ time.Time) bool {
				c.Delete(ctx, cached)
				_, _, ok := c.Get(ctx, cached)
				return !ok
			}},
		} {
			t.Run(kind.name+"/"+op.name, func(t *testing.T) {
				t.Parallel()
				store, l, clk := newFaultyStore(), newLogs(t), newClock()
				opts := tokencache.Options{Now: clk.Now, Logger: l.logger(), Timeout: timeout}
				newCache(t, store, opts).Put(ctx, cached, l.token(clk.Now().Add(time.Hour)))
				c := newCache(t, store, opts)
				store.failing(op.method, kind.fail(t))
				before := store.calls.Load()
				if !op.do(c, l, clk.Now()) {
					t.Error("unexpected outcome with the store failing")
				}
				if store.calls.Load() == before {
					t.Fatal("the store was never called: the test proves nothing")
				}
				if !strings.Contains(l.String(), "shared store call failed") {
					t.Errorf("the fault was not logged:\n%s", l.String())
				}
				// During the pause nothing reaches the store, healthy or not.
				store.healthy()
				before = store.calls.Load()
				c.Get(ctx, other)
				c.Put(ctx, other, l.token(clk.Now().Add(time.Hour)))
				c.Delete(ctx, cached)
				if n := store.calls.Load() - before; n != 0 {
					t.Errorf("%d calls reached the store during the pause", n)
				}
			})
		}
	}
}

// TestExpiredRowDeleteFault: a failed lazy delete of an expired row is a
// fault too, and the read is a miss.
func TestExpiredRowDeleteFault(t *testing.T) {
	store, l, clk := newFaultyStore(), newLogs(t), newClock()
	opts := tokencache.Options{Now: clk.Now, Logger: l.logger()}
	k := keyOf(tenantA, userA, scopes...)
	newCache(t, store, opts).Put(context.Background(), k, l.token(clk.Now().Add(10*time.Minute)))
	clk.Add(time.Hour)
	store.failing("Delete", scriptedFault)
	if _, _, ok := newCache(t, store, opts).Get(context.Background(), k); ok {
		t.Fatal("an expired row answered a hit")
	}
	if !strings.Contains(l.String(), "delete expired row") || !strings.Contains(l.String(), errScripted.Error()) {
		t.Fatalf("the failed delete was not logged:\n%s", l.String())
	}
}

// TestCancelledCaller: a caller that goes away is not a store fault, and its
// Put and Delete still reach the store.
func TestCancelledCaller(t *testing.T) {
	t.Parallel()
	store, l, clk := newFaultyStore(), newLogs(t), newClock()
	opts := tokencache.Options{Logger: l.logger(), Now: clk.Now}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	k, other := keyOf(tenantA, userA, scopes...), keyOf(tenantB, userB, scopes...)
	tok := l.token(clk.Now().Add(time.Hour))
	newCache(t, store, opts).Put(ctx, k, tok)
	if got, _, ok := newCache(t, store, opts).Get(context.Background(), k); !ok || got.AccessToken != tok.AccessToken {
		t.Fatal("a Put under a cancelled context did not reach the store")
	}
	c := newCache(t, store, opts)
	if _, _, ok := c.Get(ctx, other); ok {
		t.Fatal("hit")
	}
	before := store.calls.Load()
	c.Get(context.Background(), other)
	if store.calls.Load() == before || strings.Contains(l.String(), "call failed") {
		t.Fatalf("a cancelled caller was taken for a store fault:\n%s", l.String())
	}
	newCache(t, store, opts).Delete(ctx, k)
	if _, _, ok := newCache(t, store, opts).Get(context.Background(), k); ok {
		t.Fatal("a Delete under a cancelled context did not reach the store")
	}
}
