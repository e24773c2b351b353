package tokencache_test

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/addinsso/addinsso/handler/tokencache"
	"github.com/addinsso/addinsso/handler/tokencache/storetest"
)

// TestPurgeUser: every entry of the user goes, whatever the session or scope
// set, from the store and from this instance's memory; nobody else's does.
func TestPurgeUser(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, l, clk := &storetest.Memory{}, newLogs(t), newClock()
	opts := tokencache.Options{Now: clk.Now, Logger: l.logger()}
	c := newCache(t, store, opts)
	var purged, kept []tokencache.Key
	for _, session := range []string{"web", "desktop"} {
		for _, set := range [][]string{scopes, {"Files.Read"}} {
			purged = append(purged, inSession(keyOf(tenantA, userA, set...), session))
		}
	}
	kept = append(kept,
		keyOf(tenantA, userB, scopes...), // another user of the tenant
		keyOf(tenantB, userA, scopes...), // the same object ID in another tenant
	)
	for _, k := range append(append([]tokencache.Key{}, purged...), kept...) {
		c.Put(ctx, k, l.token(clk.Now().Add(time.Hour)))
	}
	if n := store.Len(); n != 6 {
		t.Fatalf("setup: %d rows, want 6", n)
	}

	if err := c.PurgeUser(ctx, strings.ToUpper(tenantA), strings.ToUpper(userA)); err != nil {
		t.Fatalf("PurgeUser = %v", err)
	}
	if n := store.Len(); n != len(kept) {
		t.Fatalf("%d rows after the purge, want %d", n, len(kept))
	}
	for _, k := range purged {
		if _, src, ok := c.Get(ctx, k); ok {
			t.Errorf("a purged entry answered from %q", src)
		}
	}
	for _, k := range kept {
		if _, src, ok := c.Get(ctx, k); !ok || src != tokencache.Table {
			t.Errorf("another user's entry: hit %v from %q; want it still in the table", ok, src)
		}
	}
	if err := c.PurgeUser(ctx, tenantA, userA); err != nil {
		t.Fatalf("purging a user with nothing cached = %v", err)
	}

	t.Run("memory only", func(t *testing.T) {
		mem, err := tokencache.New(tokencache.Config{}, opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range append(append([]tokencache.Key{}, purged...), kept...) {
			mem.Put(ctx, k, l.token(clk.Now().Add(time.Hour)))
		}
		if err := mem.PurgeUser(ctx, tenantA, userA); err != nil {
			t.Fatal(err)
		}
		if n := mem.MemoryLen(); n != len(kept) {
			t.Fatalf("%d memory entries after the purge, want %d", n, len(kept))
		}
	})

	t.Run("refuses IDs that are not GUIDs", func(t *testing.T) {
		for _, ids := range [][2]string{{"common", userA}, {tenantA, userA + "/.."}, {tenantA, ""}} {
			if err := c.PurgeUser(ctx, ids[0], ids[1]); err == nil {
				t.Errorf("PurgeUser(%q, %q) = nil, want an error", ids[0], ids[1])
			}
		}
	})
}

// TestPurgeUserReportsFaults: the caller answers a sign-out with PurgeUser's
// error, so a store fault, or a deadline, is an error, and a purge reaches
// the store even while faults have paused it for Get and Put.
func TestPurgeUserReportsFaults(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, l, clk := newFaultyStore(), newLogs(t), newClock()
	c := newCache(t, store, tokencache.Options{Now: clk.Now, Logger: l.logger()})
	k := keyOf(tenantA, userA, scopes...)
	c.Put(ctx, k, l.token(clk.Now().Add(time.Hour)))

	store.failing("DeletePartition", scriptedFault)
	if err := c.PurgeUser(ctx, tenantA, userA); !errors.Is(err, errScripted) {
		t.Fatalf("PurgeUser with the store failing = %v, want the fault", err)
	}
	if _, _, ok := c.Get(ctx, k); ok {
		t.Fatal("the memory entry survived a purge whose store call failed")
	}
	if store.Len() != 1 {
		t.Fatal("setup: the row should still be there")
	}
	store.healthy()
	// The fault paused the store for Get and Put (the clock stands still);
	// the purge goes through anyway.
	if err := c.PurgeUser(ctx, tenantA, userA); err != nil || store.Len() != 0 {
		t.Fatalf("PurgeUser during the pause = %v, %d rows left", err, store.Len())
	}

	store.failing("DeletePartition", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := c.PurgeUser(short, tenantA, userA); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("PurgeUser past its deadline = %v", err)
	}
}

// TestSweep: a sweep removes the rows no Get would serve any more (clear
// expiry within the margin of now), in every partition, old-format rows
// included, and only those; it reports how many; it honours its limit.
func TestSweep(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, l, clk := &storetest.Memory{}, newLogs(t), newClock()
	opts := tokencache.Options{Now: clk.Now, Logger: l.logger(), Margin: 5 * time.Minute}
	c := newCache(t, store, opts)
	start := clk.Now()
	put := func(k tokencache.Key, graph, session time.Duration) {
		if session != 0 {
			k.SessionExpiresAt = start.Add(session)
		}
		c.Put(ctx, k, l.token(start.Add(graph)))
	}
	put(keyOf(tenantA, userA, scopes...), 10*time.Minute, 0)                         // ended at +10
	put(inSession(keyOf(tenantA, userA, scopes...), "b"), time.Hour, 30*time.Minute) // its session ends at +30: inside the margin at +26
	put(keyOf(tenantB, userB, scopes...), 20*time.Minute, 0)                         // another partition, ended at +20
	put(keyOf(tenantA, userB, scopes...), time.Hour, 0)                              // live
	put(inSession(keyOf(tenantB, userA, scopes...), "c"), time.Hour, 40*time.Minute) // live until +40
	// A row of the previous layout (per tenant, sealed as v1), expired.
	if err := store.Add(ctx, tokencache.Row{PartitionKey: tenantA, RowKey: userA + "_" + strings.Repeat("ab", 32), KeyID: "k1",
		ExpiresAt: start.Add(15 * time.Minute), Data: []byte("v1 ciphertext")}); err != nil {
		t.Fatal(err)
	}
	clk.Add(26 * time.Minute)
	before := store.Len()
	removed, err := c.Sweep(ctx)
	t.Logf("table rows before the sweep: %d, after: %d; Sweep removed %d", before, store.Len(), removed)
	if err != nil || removed != 4 || store.Len() != 2 {
		t.Fatalf("Sweep = %d, %v, leaving %d rows; want 4 removed, 2 left", removed, err, store.Len())
	}
	for _, k := range []tokencache.Key{keyOf(tenantA, userB, scopes...), inSession(keyOf(tenantB, userA, scopes...), "c")} {
		if _, src, ok := newCache(t, store, opts).Get(ctx, k); !ok || src != tokencache.Table {
			t.Error("Sweep removed a live row")
		}
	}
	// This instance's expired memory entries went too.
	if n := c.MemoryLen(); n != 2 {
		t.Errorf("%d memory entries after the sweep, want the 2 live ones", n)
	}
	if removed, err := c.Sweep(ctx); removed != 0 || err != nil {
		t.Fatalf("second Sweep = %d, %v", removed, err)
	}

	t.Run("limit", func(t *testing.T) {
		store := &storetest.Memory{}
		opts := opts
		opts.SweepLimit = 3
		c := newCache(t, store, opts)
		for i := range 7 {
			c.Put(ctx, inSession(keyOf(tenantA, userA, scopes...), string(rune('a'+i))), l.token(clk.Now().Add(time.Duration(10+i)*time.Minute)))
		}
		clk.Add(time.Hour)
		defer clk.Add(-time.Hour)
		for i, want := range []int{3, 3, 1, 0} {
			before := store.Len()
			removed, err := c.Sweep(ctx)
			t.Logf("run %d: table rows before the sweep: %d, after: %d", i+1, before, store.Len())
			if err != nil || removed != want {
				t.Fatalf("run %d: Sweep = %d, %v; want %d", i+1, removed, err, want)
			}
		}
	})

	t.Run("memory only", func(t *testing.T) {
		mem, err := tokencache.New(tokencache.Config{}, tokencache.Options{Now: clk.Now, Logger: l.logger()})
		if err != nil {
			t.Fatal(err)
		}
		mem.Put(ctx, keyOf(tenantA, userA, scopes...), l.token(clk.Now().Add(10*time.Minute)))
		mem.Put(ctx, keyOf(tenantA, userB, scopes...), l.token(clk.Now().Add(time.Hour)))
		clk.Add(5 * time.Minute)
		defer clk.Add(-5 * time.Minute)
		if removed, err := mem.Sweep(ctx); removed != 0 || err != nil || mem.MemoryLen() != 1 {
			t.Fatalf("Sweep = %d, %v, leaving %d memory entries; want 0, nil, 1", removed, err, mem.MemoryLen())
		}
	})

	t.Run("reports faults", func(t *testing.T) {
		store := newFaultyStore()
		c := newCache(t, store, opts)
		store.failing("DeleteExpired", scriptedFault)
		if _, err := c.Sweep(ctx); !errors.Is(err, errScripted) {
			t.Fatalf("Sweep with the store failing = %v, want the fault", err)
		}
	})
}

// TestOldFormatRowsAreMisses: a row sealed in the previous format, even at
// the place this format uses and under the current key, fails to open (a
// miss, and the next Put replaces it), never misparses.
func TestOldFormatRowsAreMisses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	k := keyOf(tenantA, userA, scopes...)
	pk, rk := rowKeys(k)
	exp := newClock().Now().Add(time.Hour)
	for _, tc := range []struct {
		name, label string
		plain       any
	}{
		{"v1", "addinsso/tokencache/v1", map[string]any{"t": "v1-token", "e": exp, "s": scopes}},
		// The current label over a plaintext without the entry's expiry, as
		// a v1 writer would have sealed it: refused, not served uncapped.
		{"v2 label, v1 plaintext", "addinsso/tokencache/v2", map[string]any{"t": "v1-token", "e": exp, "s": scopes}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			store, l, clk := &storetest.Memory{}, newLogs(t), newClock()
			opts := tokencache.Options{Now: clk.Now, Logger: l.logger()}
			plain, err := json.Marshal(tc.plain)
			if err != nil {
				t.Fatal(err)
			}
			block, err := aes.NewCipher(testKey("k1").Secret)
			if err != nil {
				t.Fatal(err)
			}
			aead, err := cipher.NewGCM(block)
			if err != nil {
				t.Fatal(err)
			}
			nonce := make([]byte, aead.NonceSize())
			rand.Read(nonce)
			data := aead.Seal(nonce, nonce, plain, []byte(tc.label+"\x00"+pk+"\x00"+rk+"\x00k1"))
			if err := store.Add(ctx, tokencache.Row{PartitionKey: pk, RowKey: rk, KeyID: "k1", ExpiresAt: exp, Data: data}); err != nil {
				t.Fatal(err)
			}
			if got, _, ok := newCache(t, store, opts).Get(ctx, k); ok {
				t.Fatalf("an old-format row answered %q", got.AccessToken)
			}
			if !strings.Contains(l.String(), "does not decrypt") {
				t.Errorf("not logged as a row that does not open:\n%s", l.String())
			}
			fresh := l.token(clk.Now().Add(30 * time.Minute))
			newCache(t, store, opts).Put(ctx, k, fresh)
			if got, src, ok := newCache(t, store, opts).Get(ctx, k); !ok || src != tokencache.Table || got.AccessToken != fresh.AccessToken {
				t.Fatal("the next Put did not replace the old-format row")
			}
		})
	}
}
