package tokencache_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/addinsso/addinsso/handler/config"
	"github.com/addinsso/addinsso/handler/entra"
	"github.com/addinsso/addinsso/handler/tokencache"
	"github.com/addinsso/addinsso/handler/tokencache/storetest"
)

// TestShared runs the shared level over an in-memory Store; package
// azuretable runs the same Store contract against Azurite.
func TestShared(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	userKey := keyOf(tenantA, userA, scopes...)

	t.Run("the store answers every hit, on every instance", func(t *testing.T) {
		t.Parallel()
		store, l, clk := &storetest.Memory{}, newLogs(t), newClock()
		opts := tokencache.Options{Now: clk.Now, Logger: l.logger()}
		tok := l.token(clk.Now().Add(time.Hour))
		writer := newCache(t, store, opts)
		writer.Put(ctx, userKey, tok)
		c := newCache(t, store, opts)
		for _, reader := range []*tokencache.Cache{c, c, writer} {
			got, src, ok := reader.Get(ctx, userKey)
			if !ok || src != tokencache.Table || !sameToken(got, tok) {
				t.Fatalf("Get = %+v, %q, %v; want the token from the table", got, src, ok)
			}
		}
		// Removed on one instance (sign-out, a token Graph revoked): gone on
		// the other too, though it holds a copy in memory.
		if err := writer.PurgeUser(ctx, tenantA, userA); err != nil {
			t.Fatal(err)
		}
		if _, src, ok := c.Get(ctx, userKey); ok {
			t.Fatalf("an entry removed on another instance answered from %q", src)
		}
		// The largest token accepted fits in a row.
		big := keyOf(tenantB, userB, scopes...)
		tok.AccessToken = strings.Repeat("b", tokencache.MaxAccessTokenBytes)
		newCache(t, store, opts).Put(ctx, big, tok)
		if got, src, ok := newCache(t, store, opts).Get(ctx, big); !ok || src != tokencache.Table || got.AccessToken != tok.AccessToken {
			t.Fatalf("a %d-byte token did not round-trip through the store: %v %q", tokencache.MaxAccessTokenBytes, ok, src)
		}
	})

	t.Run("isolation", func(t *testing.T) {
		t.Parallel()
		store, l, clk := &storetest.Memory{}, newLogs(t), newClock()
		opts := tokencache.Options{Now: clk.Now, Logger: l.logger()}
		checkIsolation(t, l, clk, func() *tokencache.Cache { return newCache(t, store, opts) }, tokencache.Table)
	})

	t.Run("row holds no readable token", func(t *testing.T) {
		t.Parallel()
		store, l, clk := &storetest.Memory{}, newLogs(t), newClock()
		tok := l.token(clk.Now().Add(time.Hour))
		newCache(t, store, tokencache.Options{Now: clk.Now, Logger: l.logger()}).Put(ctx, userKey, tok)
		row := rowOf(t, store, userKey)
		secret := strings.TrimPrefix(tok.AccessToken, "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.")
		if bytes.Contains(row.Data, []byte(secret)) {
			t.Fatal("Data holds the token in the clear")
		}
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawURLEncoding} {
			for shift := range 3 { // each alignment of the token inside an encoded blob
				if b := enc.EncodeToString([]byte(secret[shift:])); bytes.Contains(row.Data, []byte(b[4:40])) {
					t.Fatal("Data holds the token base64-encoded")
				}
			}
		}
		if row.KeyID != "k1" {
			t.Errorf("KeyID = %q, want k1", row.KeyID) // TestRowLayout checks the keys
		}
		if !row.ExpiresAt.Equal(tok.ExpiresAt) {
			t.Errorf("ExpiresAt = %v, want the token's expiry %v in the clear", row.ExpiresAt, tok.ExpiresAt)
		}
	})

	t.Run("tampered rows are misses", func(t *testing.T) {
		t.Parallel()
		store, l, clk := &storetest.Memory{}, newLogs(t), newClock()
		opts := tokencache.Options{Now: clk.Now, Logger: l.logger()}
		keys := []config.Key{testKey("k1"), testKey("k2")}
		victim := keyOf(tenantA, userB, scopes...)
		for _, tc := range []struct {
			name   string
			target tokencache.Key // the row the tampered copy is written to
			edit   func(row *tokencache.Row)
		}{
			{"ciphertext byte flipped", userKey, func(row *tokencache.Row) { row.Data[20] ^= 0x01 }},
			{"tag byte flipped", userKey, func(row *tokencache.Row) { row.Data[len(row.Data)-1] ^= 0x01 }},
			{"ciphertext truncated", userKey, func(row *tokencache.Row) { row.Data = row.Data[:12] }},
			{"ciphertext is garbage", userKey, func(row *tokencache.Row) { row.Data = []byte("garbage") }},
			{"ciphertext too large", userKey, func(row *tokencache.Row) { row.Data = append(row.Data, make([]byte, tokencache.MaxData)...) }},
			{"relabelled with the other configured key", userKey, func(row *tokencache.Row) { row.KeyID = "k2" }},
			{"relabelled with an unknown key", userKey, func(row *tokencache.Row) { row.KeyID = "k9" }},
			{"user A's row copied to user B's row key", victim, func(*tokencache.Row) {}},
			{"user A's row copied to another tenant", keyOf(tenantB, userA, scopes...), func(*tokencache.Row) {}},
			{"user A's row copied to another scope set", keyOf(tenantA, userA, "Files.ReadWrite.All"), func(*tokencache.Row) {}},
			{"user A's row copied to A's other session", inSession(userKey, "second"), func(*tokencache.Row) {}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				tok := l.token(clk.Now().Add(time.Hour))
				newCache(t, store, opts, keys...).Put(ctx, userKey, tok)
				row := rowOf(t, store, userKey)
				tc.edit(&row)
				writeRow(t, store, tc.target, row)
				if got, src, ok := newCache(t, store, opts, keys...).Get(ctx, tc.target); ok {
					t.Fatalf("tampered row answered %q from %q (user A's token: %v)", got.AccessToken, src, got.AccessToken == tok.AccessToken)
				}
				// The next exchange's Put replaces the unreadable row, even
				// though its clear-text expiry claims it is still good.
				fresh := l.token(clk.Now().Add(30 * time.Minute))
				newCache(t, store, opts, keys...).Put(ctx, tc.target, fresh)
				if got, src, ok := newCache(t, store, opts, keys...).Get(ctx, tc.target); !ok || src != tokencache.Table || got.AccessToken != fresh.AccessToken {
					t.Fatalf("after a Put the row still does not answer: %v %q", ok, src)
				}
			})
		}
		if !strings.Contains(l.String(), "does not decrypt") {
			t.Error("tampering was not logged")
		}
	})

	// The first key seals rows and also keys their sessions, so once a new
	// key leads, the rows the old one placed are no longer found: each
	// session makes one extra exchange, and its new row serves from then on.
	t.Run("key rotation", func(t *testing.T) {
		t.Parallel()
		store, l, clk := &storetest.Memory{}, newLogs(t), newClock()
		opts := tokencache.Options{Now: clk.Now, Logger: l.logger()}
		k1, k2 := testKey("k1"), testKey("k2")
		old := l.token(clk.Now().Add(time.Hour))
		newCache(t, store, opts, k1).Put(ctx, userKey, old)

		rotated := newCache(t, store, opts, k2, k1)
		if _, _, ok := rotated.Get(ctx, userKey); ok {
			t.Fatal("a row placed under k1 was found once k2 leads")
		}
		newer := l.token(clk.Now().Add(time.Hour))
		rotated.Put(ctx, userKey, newer)
		if row := rowOf(t, store, userKey, k2); row.KeyID != "k2" {
			t.Fatalf("new row sealed with %q, want k2", row.KeyID)
		}
		if n := store.Len(); n != 2 {
			t.Fatalf("%d rows; want k1's, left for the sweep, and k2's", n)
		}
		// An instance not yet rotated still reads its own row, so a rolling
		// change of the setting is no outage.
		if got, _, ok := newCache(t, store, opts, k1).Get(ctx, userKey); !ok || got.AccessToken != old.AccessToken {
			t.Fatal("an instance still on k1 lost its row")
		}
		if got, _, ok := newCache(t, store, opts, k2).Get(ctx, userKey); !ok || got.AccessToken != newer.AccessToken {
			t.Fatal("a row sealed with k2 is unreadable with k2 alone")
		}
		// A row k1 sealed, copied to where k2 places the entry, does not open
		// even with k1 listed: the row keys are sealed in.
		writeRow(t, store, userKey, rowOf(t, store, userKey, k1), k2)
		if _, _, ok := newCache(t, store, opts, k2, k1).Get(ctx, userKey); ok {
			t.Fatal("k1's row moved to k2's place answered")
		}
	})

	t.Run("expiry and margin", func(t *testing.T) {
		t.Parallel()
		store, l, clk := &storetest.Memory{}, newLogs(t), newClock()
		opts := tokencache.Options{Now: clk.Now, Logger: l.logger(), Margin: 5 * time.Minute}
		writer := newCache(t, store, opts)
		tok := l.token(clk.Now().Add(10 * time.Minute))
		writer.Put(ctx, userKey, tok)
		elapsed := time.Duration(0)
		for _, tc := range []struct {
			after time.Duration
			hit   bool
		}{
			{0, true},
			{4*time.Minute + 59*time.Second, true},
			{5 * time.Minute, false}, // 5 minutes left: inside the margin
			{20 * time.Minute, false},
		} {
			clk.Add(tc.after - elapsed)
			elapsed = tc.after
			for name, c := range map[string]*tokencache.Cache{"memory": writer, "store": newCache(t, store, opts)} {
				if _, _, ok := c.Get(ctx, userKey); ok != tc.hit {
					t.Errorf("%s: hit = %v at +%v, want %v", name, ok, tc.after, tc.hit)
				}
			}
		}
		pk, rk := rowKeys(userKey)
		if _, err := store.Get(ctx, pk, rk); !errors.Is(err, tokencache.ErrNotFound) {
			t.Fatalf("the expired row was not deleted when read: %v", err)
		}
		// A token already inside the margin is not written at all.
		writer.Put(ctx, keyOf(tenantB, userB, scopes...), l.token(clk.Now().Add(4*time.Minute)))
		if n := store.Len(); n != 0 {
			t.Fatalf("%d rows; a token expiring within the margin was written", n)
		}
	})

	t.Run("the clear expiry is only a hint", func(t *testing.T) {
		t.Parallel()
		store, l, clk := &storetest.Memory{}, newLogs(t), newClock()
		opts := tokencache.Options{Now: clk.Now, Logger: l.logger()}
		tok := l.token(clk.Now().Add(time.Hour))
		newCache(t, store, opts).Put(ctx, userKey, tok)
		setHint := func(at time.Time) {
			row := rowOf(t, store, userKey)
			row.ExpiresAt = at
			if err := store.Replace(ctx, row, row.ETag); err != nil {
				t.Fatal(err)
			}
		}
		setHint(time.Time{}) // a store that could not read it
		if got, _, ok := newCache(t, store, opts).Get(ctx, userKey); !ok || got.AccessToken != tok.AccessToken {
			t.Fatal("a row without a readable expiry hint was not served")
		}
		setHint(clk.Now().Add(24 * time.Hour))
		clk.Add(time.Hour) // the sealed expiry has passed
		if _, _, ok := newCache(t, store, opts).Get(ctx, userKey); ok {
			t.Fatal("a hint later than the sealed expiry made an expired token a hit")
		}
	})

	// Each conditional write meets another instance's write landing between
	// its read and its write: the other instance's token must survive.
	t.Run("a row written between read and write survives", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			name   string
			method string // the write the other instance's lands before
			act    func(store tokencache.Store, l *logs, clk *clock)
		}{
			{"lazy delete of an expired row", "Delete", func(store tokencache.Store, l *logs, clk *clock) {
				later := newClock()
				later.Add(20 * time.Minute) // past the first token's expiry
				if _, _, ok := newCache(t, store, tokencache.Options{Now: later.Now, Logger: l.logger()}).Get(ctx, userKey); ok {
					t.Error("an expired row answered a hit")
				}
			}},
			{"delete of a refused token", "Delete", func(store tokencache.Store, l *logs, clk *clock) {
				c := newCache(t, store, tokencache.Options{Now: clk.Now, Logger: l.logger()})
				c.Put(ctx, userKey, l.token(clk.Now().Add(time.Hour))) // the token this instance serves
				c.Delete(ctx, userKey)
			}},
			{"replace by an older token", "Replace", func(store tokencache.Store, l *logs, clk *clock) {
				newCache(t, store, tokencache.Options{Now: clk.Now, Logger: l.logger()}).Put(ctx, userKey, l.token(clk.Now().Add(time.Hour)))
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				store, l, clk := &storetest.Memory{}, newLogs(t), newClock()
				opts := tokencache.Options{Now: clk.Now, Logger: l.logger()}
				newCache(t, store, opts).Put(ctx, userKey, l.token(clk.Now().Add(10*time.Minute)))
				other := l.token(clk.Now().Add(2 * time.Hour))
				landed := false
				store.Intercept(func(ctx context.Context, method string) error {
					if method == tc.method && !landed {
						landed = true
						newCache(t, store, opts).Put(ctx, userKey, other)
					}
					return nil
				})
				tc.act(store, l, clk)
				store.Intercept(nil)
				if !landed {
					t.Fatalf("no %s came after the read: the test proves nothing", tc.method)
				}
				if got, _, ok := newCache(t, store, opts).Get(ctx, userKey); !ok || got.AccessToken != other.AccessToken {
					t.Fatal("the token another instance wrote meanwhile was lost")
				}
			})
		}
	})

	t.Run("an older token never replaces a newer one", func(t *testing.T) {
		t.Parallel()
		store, l, clk := &storetest.Memory{}, newLogs(t), newClock()
		opts := tokencache.Options{Now: clk.Now, Logger: l.logger()}
		steps := []struct {
			exp  time.Duration
			want int // index of the token the row must hold after this step
		}{{60 * time.Minute, 0}, {30 * time.Minute, 0}, {60 * time.Minute, 0}, {90 * time.Minute, 3}}
		var toks []entra.Token
		for i, s := range steps {
			toks = append(toks, l.token(clk.Now().Add(s.exp)))
			newCache(t, store, opts).Put(ctx, userKey, toks[i])
			got, _, ok := newCache(t, store, opts).Get(ctx, userKey)
			if !ok || got.AccessToken != toks[s.want].AccessToken {
				t.Fatalf("step %d: row holds another token than number %d", i, s.want)
			}
		}
	})

	t.Run("racing instances never corrupt a row", func(t *testing.T) {
		t.Parallel()
		store, l, clk := &storetest.Memory{}, newLogs(t), newClock()
		// Yield before every store call, so writers interleave inside the
		// add/read/replace loop.
		store.Intercept(func(context.Context, string) error { runtime.Gosched(); return nil })
		opts := tokencache.Options{Now: clk.Now, Logger: l.logger()}
		writers := []*tokencache.Cache{newCache(t, store, opts), newCache(t, store, opts)}
		written := map[string]time.Time{}
		var toks []entra.Token
		for i := range 40 {
			tok := l.token(clk.Now().Add(time.Hour + time.Duration(i*7%40)*time.Minute))
			toks = append(toks, tok)
			written[tok.AccessToken] = tok.ExpiresAt
		}
		var wg sync.WaitGroup
		for i, tok := range toks {
			wg.Go(func() { writers[i%2].Put(ctx, userKey, tok) })
		}
		stop := make(chan struct{})
		var readErr error
		var reader sync.WaitGroup
		reader.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if got, _, ok := newCache(t, store, opts).Get(ctx, userKey); ok {
					if _, known := written[got.AccessToken]; !known {
						readErr = fmt.Errorf("read a token nobody wrote")
					}
				}
			}
		})
		wg.Wait()
		close(stop)
		reader.Wait()
		if readErr != nil {
			t.Fatal(readErr)
		}
		got, src, ok := newCache(t, store, opts).Get(ctx, userKey)
		if !ok || src != tokencache.Table {
			t.Fatalf("after the race the row does not decrypt: %v %q\n%s", ok, src, l.String())
		}
		if _, known := written[got.AccessToken]; !known {
			t.Fatal("the row holds a token nobody wrote")
		}
		if strings.Contains(l.String(), "call failed") {
			t.Fatalf("racing writers were taken for a store fault:\n%s", l.String())
		}
		if n := store.Len(); n != 1 {
			t.Fatalf("%d rows for one key", n)
		}
	})

	t.Run("delete", func(t *testing.T) {
		t.Parallel()
		store, l, clk := &storetest.Memory{}, newLogs(t), newClock()
		opts := tokencache.Options{Now: clk.Now, Logger: l.logger()}
		c := newCache(t, store, opts)
		c.Put(ctx, userKey, l.token(clk.Now().Add(time.Hour)))
		other := keyOf(tenantA, userB, scopes...)
		c.Put(ctx, other, l.token(clk.Now().Add(time.Hour)))
		c.Delete(ctx, userKey)
		if _, _, ok := c.Get(ctx, userKey); ok {
			t.Fatal("deleted entry still in memory")
		}
		if _, _, ok := newCache(t, store, opts).Get(ctx, userKey); ok {
			t.Fatal("deleted entry still in the store")
		}
		if _, _, ok := newCache(t, store, opts).Get(ctx, other); !ok {
			t.Fatal("Delete removed another user's entry")
		}
		c.Delete(ctx, userKey) // deleting what is gone is fine

		// An instance deleting the token Graph refused leaves a fresher one
		// another instance stored meanwhile.
		refusedBy := newCache(t, store, opts)
		if _, src, ok := refusedBy.Get(ctx, other); !ok || src != tokencache.Table {
			t.Fatal("setup: no hit from the store")
		}
		fresh := l.token(clk.Now().Add(2 * time.Hour))
		newCache(t, store, opts).Put(ctx, other, fresh)
		refusedBy.Delete(ctx, other)
		if got, _, ok := newCache(t, store, opts).Get(ctx, other); !ok || got.AccessToken != fresh.AccessToken {
			t.Fatal("Delete of a refused token removed a fresher one")
		}
		// An instance that served nothing for the key deletes whatever is there.
		newCache(t, store, opts).Delete(ctx, other)
		if _, _, ok := newCache(t, store, opts).Get(ctx, other); ok {
			t.Fatal("unconditional delete left the row")
		}
		if strings.Contains(l.String(), "call failed") {
			t.Fatalf("deleting what is gone was taken for a store fault:\n%s", l.String())
		}
	})

	t.Run("a token too large to seal into a row is not cached", func(t *testing.T) {
		t.Parallel()
		store, l, clk := &storetest.Memory{}, newLogs(t), newClock()
		c := newCache(t, store, tokencache.Options{Now: clk.Now, Logger: l.logger()})
		// JSON escapes each '<' as six bytes, past a row's limit. The store
		// decides every hit, so memory alone cannot keep it either.
		c.Put(ctx, userKey, entra.Token{AccessToken: strings.Repeat("<", tokencache.MaxAccessTokenBytes), ExpiresAt: clk.Now().Add(time.Hour)})
		if _, src, ok := c.Get(ctx, userKey); ok {
			t.Fatalf("answered from %q", src)
		}
		if n := store.Len(); n != 0 {
			t.Fatalf("%d rows written", n)
		}
	})

	t.Run("refused keys write nothing", func(t *testing.T) {
		t.Parallel()
		store, l, clk := &storetest.Memory{}, newLogs(t), newClock()
		c := newCache(t, store, tokencache.Options{Now: clk.Now, Logger: l.logger()})
		for _, k := range []tokencache.Key{
			keyOf("not-a-guid", userA, "User.Read"),
			keyOf(tenantA, "x/y", "User.Read"),
			keyOf(tenantA, userA+"#", "User.Read"),
			keyOf(tenantA, userA),
		} {
			c.Put(ctx, k, l.token(clk.Now().Add(time.Hour)))
		}
		if n := store.Len(); n != 0 {
			t.Fatalf("%d rows written for refused keys", n)
		}
	})
}

// rowOf reads k's row as the store holds it, for a cache whose first key is
// first (k1 when not given).
func rowOf(t *testing.T, store tokencache.Store, k tokencache.Key, first ...config.Key) tokencache.Row {
	t.Helper()
	pk, rk := rowKeys(k, first...)
	row, err := store.Get(context.Background(), pk, rk)
	if err != nil {
		t.Fatal(err)
	}
	return row
}

// writeRow stores row under target's row keys for a cache whose first key is
// first (k1 when not given), whatever is there.
func writeRow(t *testing.T, store tokencache.Store, target tokencache.Key, row tokencache.Row, first ...config.Key) {
	t.Helper()
	ctx := context.Background()
	row.PartitionKey, row.RowKey = rowKeys(target, first...)
	if err := store.Delete(ctx, row.PartitionKey, row.RowKey, ""); err != nil && !errors.Is(err, tokencache.ErrNotFound) {
		t.Fatal(err)
	}
	if err := store.Add(ctx, row); err != nil {
		t.Fatal(err)
	}
}
