package tokencache_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/addinsso/addinsso/handler/tokencache"
	"github.com/addinsso/addinsso/handler/tokencache/storetest"
)

// TestSessionBinding: an entry answers only the bootstrap token it was
// exchanged for. Another session of the same user (Outlook desktop without
// MFA, say, after Outlook on the web with MFA filled the cache) misses and
// makes its own exchange, which Conditional Access evaluates; its Put does not
// touch the first session's entry.
func TestSessionBinding(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, level := range []struct {
		name string
		src  tokencache.Source
		// cache returns the cache a step reads or writes through: the same
		// memory-only one, or a fresh instance over a shared store.
		cache func(t *testing.T, l *logs, clk *clock) (func() *tokencache.Cache, *storetest.Memory)
	}{
		{"memory", tokencache.Memory, func(t *testing.T, l *logs, clk *clock) (func() *tokencache.Cache, *storetest.Memory) {
			c, err := tokencache.New(tokencache.Config{}, tokencache.Options{Now: clk.Now, Logger: l.logger()})
			if err != nil {
				t.Fatal(err)
			}
			return func() *tokencache.Cache { return c }, nil
		}},
		{"store", tokencache.Table, func(t *testing.T, l *logs, clk *clock) (func() *tokencache.Cache, *storetest.Memory) {
			store := &storetest.Memory{}
			opts := tokencache.Options{Now: clk.Now, Logger: l.logger()}
			return func() *tokencache.Cache { return newCache(t, store, opts) }, store
		}},
	} {
		t.Run(level.name, func(t *testing.T) {
			t.Parallel()
			l, clk := newLogs(t), newClock()
			cache, store := level.cache(t, l, clk)
			web := keyOf(tenantA, userA, scopes...)
			desktop := inSession(web, "desktop")
			stolen := inSession(web, "stolen")

			webTok := l.token(clk.Now().Add(time.Hour))
			cache().Put(ctx, web, webTok)
			for name, k := range map[string]tokencache.Key{"another session": desktop, "a stolen bootstrap token": stolen} {
				if got, src, ok := cache().Get(ctx, k); ok {
					t.Fatalf("%s of the same user got a hit from %q (the first session's token: %v)", name, src, got.AccessToken == webTok.AccessToken)
				}
			}

			desktopTok := l.token(clk.Now().Add(2 * time.Hour)) // lives longer: must still not replace web's
			cache().Put(ctx, desktop, desktopTok)
			for _, want := range []struct {
				k   tokencache.Key
				tok string
			}{{web, webTok.AccessToken}, {desktop, desktopTok.AccessToken}} {
				if got, src, ok := cache().Get(ctx, want.k); !ok || src != level.src || got.AccessToken != want.tok {
					t.Fatalf("after both sessions' Puts, Get = %v from %q; want each session's own token from %q", ok, src, level.src)
				}
			}

			// Same session, another scope set: a separate entry.
			files := web
			files.Scopes = []string{"Files.Read"}
			if _, _, ok := cache().Get(ctx, files); ok {
				t.Fatal("another scope set of the same session hit")
			}
			filesTok := l.token(clk.Now().Add(time.Hour))
			cache().Put(ctx, files, filesTok)
			if got, _, ok := cache().Get(ctx, web); !ok || got.AccessToken != webTok.AccessToken {
				t.Fatal("a Put for another scope set replaced the session's entry")
			}
			if got, _, ok := cache().Get(ctx, files); !ok || got.AccessToken != filesTok.AccessToken {
				t.Fatal("the second scope set's entry is missing")
			}

			if store != nil {
				rows := store.Rows()
				if len(rows) != 3 {
					t.Fatalf("%d rows, want 3 (two sessions, one with two scope sets)", len(rows))
				}
				for _, r := range rows {
					if r.PartitionKey != rows[0].PartitionKey {
						t.Fatalf("one user's rows in partitions %q and %q", rows[0].PartitionKey, r.PartitionKey)
					}
				}
			}
		})
	}
}

// TestSessionRequired: a key without a session is refused like a key
// without a GUID: logged, a miss, nothing written.
func TestSessionRequired(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, l, clk := &storetest.Memory{}, newLogs(t), newClock()
	c := newCache(t, store, tokencache.Options{Now: clk.Now, Logger: l.logger()})
	for name, k := range map[string]tokencache.Key{
		"empty":     {TenantID: tenantA, ObjectID: userA, Scopes: scopes},
		"oversized": {TenantID: tenantA, ObjectID: userA, Scopes: scopes, Session: strings.Repeat("x", 16<<10+1)},
	} {
		c.Put(ctx, k, l.token(clk.Now().Add(time.Hour)))
		if _, _, ok := c.Get(ctx, k); ok {
			t.Errorf("%s session: hit", name)
		}
	}
	if n := store.Len(); n != 0 {
		t.Fatalf("%d rows written for keys without a session", n)
	}
	if !strings.Contains(l.String(), "refusing key") || !strings.Contains(l.String(), "session") {
		t.Fatalf("the refusal was not logged:\n%s", l.String())
	}
	// The largest session the verifier lets through is accepted.
	k := inSession(keyOf(tenantA, userA, scopes...), "big")
	k.Session += strings.Repeat("y", 16<<10-len(k.Session))
	c.Put(ctx, k, l.token(clk.Now().Add(time.Hour)))
	if _, _, ok := newCache(t, store, tokencache.Options{Now: clk.Now, Logger: l.logger()}).Get(ctx, k); !ok {
		t.Fatal("a 16 KiB session was refused")
	}
}

// TestRowLayout: partition = the user, row = hashed scope set + keyed hash
// of the session. The test derives the row key itself, so every instance's
// agreement on it is pinned, and shows that nothing in it can be computed
// without the server's key.
func TestRowLayout(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, l, clk := &storetest.Memory{}, newLogs(t), newClock()
	k := keyOf(strings.ToUpper(tenantA), strings.ToUpper(userA), "User.Read", "mail.read")
	newCache(t, store, tokencache.Options{Now: clk.Now, Logger: l.logger()}).Put(ctx, k, l.token(clk.Now().Add(time.Hour)))
	rows := store.Rows()
	if len(rows) != 1 {
		t.Fatalf("%d rows, want 1", len(rows))
	}
	row := rows[0]

	if want := tenantA + "_" + userA; row.PartitionKey != want {
		t.Errorf("PartitionKey = %q, want %q (lower case)", row.PartitionKey, want)
	}
	scopeSum := sha256.Sum256([]byte("mail.read user.read"))
	serverKey := mac(testKey("k1").Secret, "addinsso/tokencache/session/v1")
	want := hex.EncodeToString(scopeSum[:]) + "_" + hex.EncodeToString(mac(serverKey, k.Session))
	if row.RowKey != want {
		t.Fatalf("RowKey = %q\nwant      %q", row.RowKey, want)
	}
	if len(row.RowKey) != 129 || strings.Trim(row.RowKey, "0123456789abcdef_") != "" {
		t.Errorf("RowKey %q is not 129 bytes of hex and '_'", row.RowKey)
	}

	// What someone without the server's key could compute from a token they
	// hold, or guess: none of it is in the row key.
	_, sessionHash, _ := strings.Cut(row.RowKey, "_")
	plain := sha256.Sum256([]byte(k.Session))
	for name, guess := range map[string]string{
		"the token's SHA-256":                  hex.EncodeToString(plain[:]),
		"HMAC under another sealing key":       hex.EncodeToString(mac(mac(testKey("k2").Secret, "addinsso/tokencache/session/v1"), k.Session)),
		"HMAC under the sealing key, no label": hex.EncodeToString(mac(testKey("k1").Secret, k.Session)),
		"HMAC under an empty key":              hex.EncodeToString(mac(nil, k.Session)),
	} {
		if guess == sessionHash {
			t.Errorf("the session's hash in the row key equals %s", name)
		}
	}
	secret := strings.TrimPrefix(k.Session, "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.")
	for i := 0; i+16 <= 80; i += 8 {
		if strings.Contains(row.PartitionKey+row.RowKey, secret[i:i+16]) {
			t.Fatal("the row's keys quote the bootstrap token")
		}
	}
}

func mac(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// TestSessionExpiryCaps: an entry lives until the earlier of the Graph
// token's expiry and its session's, in memory, in the row's clear hint and in
// the sealed check; the token handed out keeps Graph's own expiry.
func TestSessionExpiryCaps(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name         string
		graph, sess  time.Duration // from the Put; sess 0: no cap
		lastHit, end time.Duration // the last instant that hits, and the entry's end
	}{
		{"session ends first", time.Hour, 20 * time.Minute, 15*time.Minute - time.Nanosecond, 20 * time.Minute},
		{"Graph token ends first", 30 * time.Minute, time.Hour, 25*time.Minute - time.Nanosecond, 30 * time.Minute},
		{"no session expiry", 30 * time.Minute, 0, 25*time.Minute - time.Nanosecond, 30 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			store, l, clk := &storetest.Memory{}, newLogs(t), newClock()
			opts := tokencache.Options{Now: clk.Now, Logger: l.logger(), Margin: 5 * time.Minute}
			start := clk.Now()
			k := keyOf(tenantA, userA, scopes...)
			if tc.sess != 0 {
				k.SessionExpiresAt = start.Add(tc.sess)
			}
			tok := l.token(start.Add(tc.graph))
			writer := newCache(t, store, opts)
			writer.Put(ctx, k, tok)
			if row := rowOf(t, store, k); !row.ExpiresAt.Equal(start.Add(tc.end)) {
				t.Errorf("the row's clear expiry is %v, want %v", row.ExpiresAt.Sub(start), tc.end)
			}
			for name, c := range map[string]*tokencache.Cache{"memory": writer, "store": newCache(t, store, opts)} {
				got, _, ok := c.Get(ctx, k)
				if !ok || !got.ExpiresAt.Equal(tok.ExpiresAt) {
					t.Fatalf("%s: Get = %v, expiring at +%v; want the token with Graph's expiry +%v", name, ok, got.ExpiresAt.Sub(start), tc.graph)
				}
			}
			clk.Add(tc.lastHit)
			for name, c := range map[string]*tokencache.Cache{"memory": writer, "store": newCache(t, store, opts)} {
				if _, _, ok := c.Get(ctx, k); !ok {
					t.Errorf("%s: miss at +%v, the last instant outside the margin", name, tc.lastHit)
				}
			}
			// The sealed expiry is what a hit trusts: a hint pushed later
			// does not make the entry outlive its session.
			row := rowOf(t, store, k)
			row.ExpiresAt = start.Add(24 * time.Hour)
			if err := store.Replace(ctx, row, row.ETag); err != nil {
				t.Fatal(err)
			}
			clk.Add(time.Nanosecond)
			for name, c := range map[string]*tokencache.Cache{"memory": writer, "store": newCache(t, store, opts)} {
				if _, _, ok := c.Get(ctx, k); ok {
					t.Errorf("%s: hit at +%v, inside the margin of the entry's end +%v", name, tc.lastHit+time.Nanosecond, tc.end)
				}
			}
		})
	}

	t.Run("a session inside the margin is not cached", func(t *testing.T) {
		t.Parallel()
		store, l, clk := &storetest.Memory{}, newLogs(t), newClock()
		c := newCache(t, store, tokencache.Options{Now: clk.Now, Logger: l.logger()})
		k := keyOf(tenantA, userA, scopes...)
		k.SessionExpiresAt = clk.Now().Add(tokencache.DefaultMargin)
		c.Put(ctx, k, l.token(clk.Now().Add(time.Hour)))
		if _, _, ok := c.Get(ctx, k); ok || store.Len() != 0 {
			t.Fatalf("cached (memory hit %v, %d rows)", ok, store.Len())
		}
	})
}
