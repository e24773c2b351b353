package tokencache

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/addinsso/addinsso/dev/azurite"
	"github.com/addinsso/addinsso/handler/config"
)

// TestAzuriteStoppedMidRun: when the table dies the cache carries on from
// memory; nothing panics, nothing returns an error, and no call waits long.
func TestAzuriteStoppedMidRun(t *testing.T) {
	t.Parallel()
	srv := azurite.ForTest(t)
	e, l := newEnv(t, srv), newLogs(t)
	const timeout = 500 * time.Millisecond
	c := e.cache(t, Options{Logger: l.logger(), Timeout: timeout})
	ctx := context.Background()
	cached, other := keyOf(tenantA, userA, scopes...), keyOf(tenantA, userB, scopes...)
	tok := l.token(time.Now().Add(time.Hour))
	c.Put(ctx, cached, tok)
	if _, src, ok := e.cache(t, Options{Logger: l.logger()}).Get(ctx, cached); !ok || src != Table {
		t.Fatal("the row was not written before the stop")
	}

	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	late := l.token(time.Now().Add(time.Hour))
	steps := []struct {
		name string
		do   func() bool // reports whether the outcome is the expected one
	}{
		{"get a cached entry", func() bool {
			got, src, ok := c.Get(ctx, cached)
			return ok && src == Memory && got.AccessToken == tok.AccessToken
		}},
		{"get an unknown entry", func() bool { _, _, ok := c.Get(ctx, other); return !ok }},
		{"put", func() bool { c.Put(ctx, other, late); return true }},
		{"get what was just put", func() bool {
			got, src, ok := c.Get(ctx, other)
			return ok && src == Memory && got.AccessToken == late.AccessToken
		}},
		{"delete", func() bool { c.Delete(ctx, cached); _, _, ok := c.Get(ctx, cached); return !ok }},
		{"fresh instance misses", func() bool {
			_, _, ok := e.cache(t, Options{Logger: l.logger(), Timeout: timeout}).Get(ctx, other)
			return !ok
		}},
	}
	for _, s := range steps {
		start := time.Now()
		if !s.do() {
			t.Errorf("%s: unexpected outcome with the table down", s.name)
		}
		if d := time.Since(start); d > timeout+time.Second {
			t.Errorf("%s took %v with the table down; the bound is %v", s.name, d, timeout)
		}
	}
	if c.table.available() {
		t.Error("the table level is not paused after a fault")
	}
	if !strings.Contains(l.String(), "Table Storage call failed") {
		t.Errorf("the fault was not logged:\n%s", l.String())
	}
}

// TestFaultyTable: whatever way the table fails, a Get is a bounded miss and
// a Put is kept in memory; after a fault the table is left alone for a while.
func TestFaultyTable(t *testing.T) {
	t.Parallel()
	const timeout = 300 * time.Millisecond
	for _, tc := range []struct {
		name  string
		serve func(t *testing.T, hits *atomic.Int32) string // returns host:port
	}{
		{"connection refused", func(t *testing.T, hits *atomic.Int32) string {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ln.Close()
			return ln.Addr().String()
		}},
		{"accepts and never answers", func(t *testing.T, hits *atomic.Int32) string {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ln.Close() })
			go func() {
				for {
					conn, err := ln.Accept()
					if err != nil {
						return
					}
					hits.Add(1)
					t.Cleanup(func() { conn.Close() })
				}
			}()
			return ln.Addr().String()
		}},
		{"503 server busy", statusServer(http.StatusServiceUnavailable, "ServerBusy")},
		{"500 internal error", statusServer(http.StatusInternalServerError, "InternalError")},
		{"429 throttled", statusServer(http.StatusTooManyRequests, "")},
		{"403 forbidden", statusServer(http.StatusForbidden, "AuthorizationPermissionMismatch")},
		{"200 with garbage", func(t *testing.T, hits *atomic.Int32) string {
			s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				w.Header().Set("Content-Type", "application/json")
				w.Write([]byte("{not json"))
			}))
			t.Cleanup(s.Close)
			return s.Listener.Addr().String()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hits atomic.Int32
			addr := tc.serve(t, &hits)
			l, clk := newLogs(t), newClock()
			cfg := config.TokenCache{
				ConnectionString: "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=" + devAccountKey + ";TableEndpoint=http://" + addr + "/devstoreaccount1;",
				Table:            "graphtokens",
				Keys:             []config.Key{testKey("k1")},
			}
			c, err := New(cfg, Options{Logger: l.logger(), Now: clk.Now, Timeout: timeout})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			k := keyOf(tenantA, userA, scopes...)

			start := time.Now()
			if _, _, ok := c.Get(ctx, k); ok {
				t.Fatal("hit from a faulty table")
			}
			if d := time.Since(start); d > timeout+time.Second {
				t.Fatalf("first Get took %v; the bound is %v", d, timeout)
			}
			if c.table.available() {
				t.Fatal("not paused after the fault")
			}
			before := hits.Load()
			start = time.Now()
			tok := l.token(clk.Now().Add(time.Hour))
			c.Put(ctx, k, tok)
			if got, src, ok := c.Get(ctx, k); !ok || src != Memory || got.AccessToken != tok.AccessToken {
				t.Fatal("Put was lost with the table faulty")
			}
			c.Get(ctx, keyOf(tenantB, userB, scopes...))
			c.Delete(ctx, keyOf(tenantB, userB, scopes...))
			if d := time.Since(start); d > timeout/2 {
				t.Errorf("calls during the pause took %v: the table was not skipped", d)
			}
			if n := hits.Load() - before; n != 0 {
				t.Errorf("%d requests reached the table during the pause", n)
			}

			// After the pause the table is tried again, and a second fault pauses longer.
			clk.Add(minPause)
			c.Get(ctx, keyOf(tenantB, userB, scopes...))
			if hits.Load() == before && tc.name != "connection refused" {
				t.Error("the table was not tried again after the pause")
			}
			if p := c.table.pause; p != 2*minPause {
				t.Errorf("second consecutive pause = %v, want %v", p, 2*minPause)
			}
			if !strings.Contains(l.String(), "Table Storage call failed") {
				t.Errorf("fault not logged:\n%s", l.String())
			}
		})
	}
}

func statusServer(status int, code string) func(t *testing.T, hits *atomic.Int32) string {
	return func(t *testing.T, hits *atomic.Int32) string {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			if code != "" {
				w.Header().Set("x-ms-error-code", code)
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			w.Write([]byte(`{"odata.error":{"code":"` + code + `","message":{"value":"scripted"}}}`))
		}))
		t.Cleanup(s.Close)
		return s.Listener.Addr().String()
	}
}

// TestTableCreatedLazilyAndRetried: the table is created on first use, and a
// failed first use is retried after the pause once the table service is back.
func TestTableCreatedLazilyAndRetried(t *testing.T) {
	t.Parallel()
	srv := azurite.ForTest(t)
	e, l, clk := newEnv(t, srv), newLogs(t), newClock()
	port := srv.Port()
	if err := srv.Stop(); err != nil { // the service is down when the handler starts
		t.Fatal(err)
	}
	opts := Options{Logger: l.logger(), Now: clk.Now}
	c := e.cache(t, opts)
	ctx := context.Background()
	first, second := keyOf(tenantA, userA, scopes...), keyOf(tenantA, userB, scopes...)
	c.Put(ctx, first, l.token(clk.Now().Add(time.Hour)))
	if c.table.created.Load() {
		t.Fatal("table marked created while the service was down")
	}

	back := azurite.ForTestWith(t, azurite.Options{Port: port})
	if back.ConnectionString() != srv.ConnectionString() {
		t.Fatal("restarted on another endpoint")
	}
	c.Put(ctx, second, l.token(clk.Now().Add(time.Hour)))
	if n := e.count(t); n != 0 {
		t.Fatalf("%d rows written during the pause", n)
	}
	clk.Add(maxPause)
	tok := l.token(clk.Now().Add(time.Hour))
	c.Put(ctx, second, tok)
	if got, src, ok := e.cache(t, opts).Get(ctx, second); !ok || src != Table || got.AccessToken != tok.AccessToken {
		t.Fatalf("after the pause the table was not created and written: %v %q\n%s", ok, src, l.String())
	}
	if !strings.Contains(l.String(), "answering again") {
		t.Error("recovery not logged")
	}
}

// TestTableDeletedUnderUs: a table removed while the handler runs is created again.
func TestTableDeletedUnderUs(t *testing.T) {
	t.Parallel()
	srv := azurite.ForTest(t)
	e, l, clk := newEnv(t, srv), newLogs(t), newClock()
	opts := Options{Logger: l.logger(), Now: clk.Now}
	c := e.cache(t, opts)
	ctx := context.Background()
	k := keyOf(tenantA, userA, scopes...)
	c.Put(ctx, k, l.token(clk.Now().Add(time.Hour)))
	if _, err := e.raw.Delete(ctx, nil); err != nil {
		t.Fatal(err)
	}
	c.Put(ctx, k, l.token(clk.Now().Add(2*time.Hour))) // fails: TableNotFound
	clk.Add(maxPause)
	tok := l.token(clk.Now().Add(3 * time.Hour))
	c.Put(ctx, k, tok)
	if got, _, ok := e.cache(t, opts).Get(ctx, k); !ok || got.AccessToken != tok.AccessToken {
		t.Fatalf("the table was not created again:\n%s", l.String())
	}
}

// TestUseDevelopmentStorage runs the shorthand against a real Azurite on the
// well-known port 10002, when that port is free.
func TestUseDevelopmentStorage(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:"+devTablePort)
	if err != nil {
		t.Skipf("port %s is in use (another Azurite?), so the shorthand cannot be checked against our own: %v", devTablePort, err)
	}
	ln.Close()
	srv := azurite.ForTestWith(t, azurite.Options{Port: 10002})
	if strconv.Itoa(srv.Port()) != devTablePort {
		t.Fatal("Azurite is not on the well-known port")
	}
	l, clk := newLogs(t), newClock()
	cfg := config.TokenCache{ConnectionString: "UseDevelopmentStorage=true", Table: tableName(), Keys: []config.Key{testKey("k1")}}
	opts := Options{Logger: l.logger(), Now: clk.Now}
	c, err := New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	k := keyOf(tenantA, userA, scopes...)
	tok := l.token(clk.Now().Add(time.Hour))
	c.Put(context.Background(), k, tok)
	fresh, err := New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got, src, ok := fresh.Get(context.Background(), k); !ok || src != Table || got.AccessToken != tok.AccessToken {
		t.Fatalf("UseDevelopmentStorage=true did not reach Azurite: %v %q\n%s", ok, src, l.String())
	}
}

// TestCancelledCaller: a caller that goes away is not a table fault, and its
// Put still reaches the table.
func TestCancelledCaller(t *testing.T) {
	t.Parallel()
	srv := azurite.ForTest(t)
	e, l, clk := newEnv(t, srv), newLogs(t), newClock()
	opts := Options{Logger: l.logger(), Now: clk.Now}
	c := e.cache(t, opts)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	k := keyOf(tenantA, userA, scopes...)
	tok := l.token(clk.Now().Add(time.Hour))
	c.Put(ctx, k, tok)
	if got, _, ok := e.cache(t, opts).Get(context.Background(), k); !ok || got.AccessToken != tok.AccessToken {
		t.Fatal("a Put under a cancelled context did not reach the table")
	}
	if _, _, ok := e.cache(t, opts).Get(ctx, keyOf(tenantB, userB, scopes...)); ok {
		t.Fatal("hit")
	}
	if !c.table.available() || strings.Contains(l.String(), "call failed") {
		t.Fatalf("a cancelled caller was taken for a table fault:\n%s", l.String())
	}
}
