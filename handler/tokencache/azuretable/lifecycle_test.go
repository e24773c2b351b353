package azuretable

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/addinsso/addinsso/dev/azurite"
	"github.com/addinsso/addinsso/handler/tokencache"
)

// TestTableCreatedLazilyAndRetried: the table is created on first use, and a
// failed first use is retried once the table service is back.
func TestTableCreatedLazilyAndRetried(t *testing.T) {
	t.Parallel()
	srv := azurite.ForTest(t)
	port := srv.Port()
	if err := srv.Stop(); err != nil { // the service is down when the handler starts
		t.Fatal(err)
	}
	tb := newTable(t, srv, Options{})
	ctx := context.Background()
	r := testRow("sealed")
	if err := tb.Add(ctx, r); err == nil || isAnswer(err) {
		t.Fatalf("Add with the service down = %v, want a fault", err)
	}
	if tb.created.Load() {
		t.Fatal("table marked created while the service was down")
	}
	if back := azurite.ForTestWith(t, azurite.Options{Port: port}); back.ConnectionString() != srv.ConnectionString() {
		t.Fatal("restarted on another endpoint")
	}
	if err := tb.Add(ctx, r); err != nil {
		t.Fatalf("once the service is back, Add = %v", err)
	}
	if n := len(tb.entities(t)); n != 1 {
		t.Fatalf("%d entities, want the one added", n)
	}
}

// TestTableDeletedUnderUs: a table removed while the handler runs is a fault,
// never a missing row, and the next call creates it again.
func TestTableDeletedUnderUs(t *testing.T) {
	t.Parallel()
	tb := newTable(t, azurite.ForTest(t), Options{})
	ctx := context.Background()
	r := testRow("sealed")
	for _, call := range []struct {
		name string
		do   func() error
	}{
		{"Get", func() error { _, err := tb.Get(ctx, r.PartitionKey, r.RowKey); return err }},
		{"Add", func() error { return tb.Add(ctx, r) }},
		{"Replace", func() error { return tb.Replace(ctx, r, "W/\"any\"") }},
		{"Delete", func() error { return tb.Delete(ctx, r.PartitionKey, r.RowKey, "") }},
		{"DeletePartition", func() error { _, err := tb.DeletePartition(ctx, r.PartitionKey); return err }},
		{"DeleteExpired", func() error { _, err := tb.DeleteExpired(ctx, r.ExpiresAt.Add(time.Hour), 10); return err }},
	} {
		if err := tb.Add(ctx, r); err != nil && !errors.Is(err, tokencache.ErrExists) {
			t.Fatal(err)
		}
		if _, err := tb.raw.Delete(ctx, nil); err != nil {
			t.Fatal(err)
		}
		if err := call.do(); err == nil || isAnswer(err) {
			t.Fatalf("%s on a deleted table = %v, want a fault", call.name, err)
		}
		if err := tb.Add(ctx, r); err != nil {
			t.Fatalf("after %s found the table gone, Add = %v; want it created again", call.name, err)
		}
	}
}

// TestAzuriteStoppedMidRun: when the table dies the cache carries on from
// memory; nothing panics, nothing returns an error, and after the first fault
// the table is left alone.
func TestAzuriteStoppedMidRun(t *testing.T) {
	t.Parallel()
	srv := azurite.ForTest(t)
	l := newLogs(t)
	tb := newTable(t, srv, Options{Logger: l.logger()})
	now := time.Now()
	opts := tokencache.Options{Logger: l.logger(), Now: func() time.Time { return now }, Timeout: 500 * time.Millisecond}
	c := newCache(t, tb, opts)
	ctx := context.Background()
	tok := l.token(now.Add(time.Hour))
	c.Put(ctx, userA, tok)
	if _, src, ok := newCache(t, tb, opts).Get(ctx, userA); !ok || src != tokencache.Table {
		t.Fatal("the row was not written before the stop")
	}

	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	late := l.token(now.Add(time.Hour))
	for _, s := range []struct {
		name string
		do   func() bool // reports whether the outcome is the expected one
	}{
		{"get a cached entry", func() bool {
			got, src, ok := c.Get(ctx, userA)
			return ok && src == tokencache.Memory && got.AccessToken == tok.AccessToken
		}},
		{"get an unknown entry", func() bool { _, _, ok := c.Get(ctx, userB); return !ok }},
		{"put", func() bool { c.Put(ctx, userB, late); return true }},
		{"get what was just put", func() bool {
			got, src, ok := c.Get(ctx, userB)
			return ok && src == tokencache.Memory && got.AccessToken == late.AccessToken
		}},
		{"delete", func() bool { c.Delete(ctx, userA); _, _, ok := c.Get(ctx, userA); return !ok }},
		{"fresh instance misses", func() bool { _, _, ok := newCache(t, tb, opts).Get(ctx, userB); return !ok }},
		// A sign-out must know its rows are not gone: an error, not a miss.
		{"purge user", func() bool { return c.PurgeUser(ctx, userA.TenantID, userA.ObjectID) != nil }},
		{"sweep", func() bool { _, err := c.Sweep(ctx); return err != nil }},
	} {
		if !s.do() {
			t.Errorf("%s: unexpected outcome with the table down", s.name)
		}
	}
	// The clock stands still, so each instance's pause never ends: one fault
	// for c (its first call after the stop) and one for the fresh instance,
	// then one each for the purge and the sweep, which do not wait out a pause.
	if n := strings.Count(l.String(), "shared store call failed"); n != 4 {
		t.Errorf("%d faults logged, want 4 (one per instance, then a pause, and the purge's and sweep's):\n%s", n, l.String())
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
	cfg := Config{ConnectionString: "UseDevelopmentStorage=true", Table: tableName()}
	writer, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := testRow("sealed")
	if err := writer.Add(context.Background(), r); err != nil {
		t.Fatalf("UseDevelopmentStorage=true did not reach Azurite: %v", err)
	}
	reader, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := reader.Get(context.Background(), r.PartitionKey, r.RowKey); err != nil || string(got.Data) != "sealed" {
		t.Fatalf("Get = %q, %v", got.Data, err)
	}
}
