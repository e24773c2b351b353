package tokencache

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/addinsso/addinsso/dev/azurite"
	"github.com/addinsso/addinsso/handler/config"
)

// TestTable runs the table level against one real Azurite, each subtest on
// its own table.
func TestTable(t *testing.T) {
	t.Parallel()
	srv := azurite.ForTest(t)
	ctx := context.Background()
	userKey := keyOf(tenantA, userA, scopes...)

	t.Run("hit from a fresh instance, then from memory", func(t *testing.T) {
		t.Parallel()
		e, l, clk := newEnv(t, srv), newLogs(t), newClock()
		opts := Options{Now: clk.Now, Logger: l.logger()}
		tok := l.token(clk.Now().Add(time.Hour))
		e.cache(t, opts).Put(ctx, userKey, tok)
		c := e.cache(t, opts)
		for _, want := range []Source{Table, Memory} {
			got, src, ok := c.Get(ctx, userKey)
			if !ok || src != want || !sameToken(got, tok) {
				t.Fatalf("Get = %+v, %q, %v; want the token from %q", got, src, ok, want)
			}
		}
		// The largest token accepted fits in a row.
		big := keyOf(tenantB, userB, scopes...)
		tok.AccessToken = strings.Repeat("b", MaxAccessTokenBytes)
		e.cache(t, opts).Put(ctx, big, tok)
		if got, src, ok := e.cache(t, opts).Get(ctx, big); !ok || src != Table || got.AccessToken != tok.AccessToken {
			t.Fatalf("a %d-byte token did not round-trip through the table: %v %q", MaxAccessTokenBytes, ok, src)
		}
	})

	t.Run("isolation", func(t *testing.T) {
		t.Parallel()
		e, l, clk := newEnv(t, srv), newLogs(t), newClock()
		opts := Options{Now: clk.Now, Logger: l.logger()}
		checkIsolation(t, l, clk, func() *Cache { return e.cache(t, opts) }, Table)
	})

	t.Run("row holds no readable token", func(t *testing.T) {
		t.Parallel()
		e, l, clk := newEnv(t, srv), newLogs(t), newClock()
		tok := l.token(clk.Now().Add(time.Hour))
		e.cache(t, Options{Now: clk.Now, Logger: l.logger()}).Put(ctx, userKey, tok)
		row, raw, err := e.rawRow(t, userKey)
		if err != nil {
			t.Fatal(err)
		}
		secret := strings.TrimPrefix(tok.AccessToken, "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.")
		if bytes.Contains(raw, []byte(secret)) {
			t.Fatalf("the row shows the token: %s", raw)
		}
		data, err := base64.StdEncoding.DecodeString(fmt.Sprint(row["Data"]))
		if err != nil {
			t.Fatalf("Data is not binary: %v", err)
		}
		if bytes.Contains(data, []byte(secret)) {
			t.Fatal("Data holds the token in the clear")
		}
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawURLEncoding} {
			for shift := range 3 { // each alignment of the token inside an encoded blob
				if b := enc.EncodeToString([]byte(secret[shift:])); bytes.Contains(raw, []byte(b[4:40])) {
					t.Fatal("the row holds the token base64-encoded")
				}
			}
		}
		want := map[string]bool{"PartitionKey": true, "RowKey": true, "KeyID": true, "ExpiresAt": true, "Data": true, "Timestamp": true}
		for col := range row {
			if !want[col] && !strings.Contains(col, "@odata") && !strings.HasPrefix(col, "odata.") {
				t.Errorf("unexpected column %q", col)
			}
		}
		if row["KeyID"] != "k1" || row["PartitionKey"] != tenantA || !strings.HasPrefix(fmt.Sprint(row["RowKey"]), userA+"_") {
			t.Errorf("row keys: %v %v %v", row["PartitionKey"], row["RowKey"], row["KeyID"])
		}
	})

	t.Run("tampered rows are misses", func(t *testing.T) {
		t.Parallel()
		e, l, clk := newEnv(t, srv), newLogs(t), newClock()
		opts := Options{Now: clk.Now, Logger: l.logger()}
		keys := []config.Key{testKey("k1"), testKey("k2")}
		victim := keyOf(tenantA, userB, scopes...)
		for _, tc := range []struct {
			name   string
			target Key // the row the tampered copy is written to
			edit   func(row map[string]any)
		}{
			{"ciphertext byte flipped", userKey, func(row map[string]any) { flip(row, 20) }},
			{"tag byte flipped", userKey, func(row map[string]any) { flip(row, -1) }},
			{"ciphertext truncated", userKey, func(row map[string]any) { row["Data"] = fmt.Sprint(row["Data"])[:16] }},
			{"ciphertext is not binary", userKey, func(row map[string]any) { row["Data@odata.type"] = "Edm.String"; row["Data"] = "garbage" }},
			{"relabelled with the other configured key", userKey, func(row map[string]any) { row["KeyID"] = "k2" }},
			{"relabelled with an unknown key", userKey, func(row map[string]any) { row["KeyID"] = "k9" }},
			{"user A's row copied to user B's row key", victim, func(map[string]any) {}},
			{"user A's row copied to another tenant", keyOf(tenantB, userA, scopes...), func(map[string]any) {}},
			{"user A's row copied to another scope set", keyOf(tenantA, userA, "Files.ReadWrite.All"), func(map[string]any) {}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				tok := l.token(clk.Now().Add(time.Hour))
				e.cache(t, opts, keys...).Put(ctx, userKey, tok)
				row, _, err := e.rawRow(t, userKey)
				if err != nil {
					t.Fatal(err)
				}
				tc.edit(row)
				writeRow(t, e, tc.target, row)
				if got, src, ok := e.cache(t, opts, keys...).Get(ctx, tc.target); ok {
					t.Fatalf("tampered row answered %q from %q (user A's token: %v)", got.AccessToken, src, got.AccessToken == tok.AccessToken)
				}
				// The next exchange's Put replaces the unreadable row, even
				// though its clear-text expiry claims it is still good.
				fresh := l.token(clk.Now().Add(30 * time.Minute))
				e.cache(t, opts, keys...).Put(ctx, tc.target, fresh)
				if got, src, ok := e.cache(t, opts, keys...).Get(ctx, tc.target); !ok || src != Table || got.AccessToken != fresh.AccessToken {
					t.Fatalf("after a Put the row still does not answer: %v %q", ok, src)
				}
			})
		}
		if !strings.Contains(l.String(), "does not decrypt") {
			t.Error("tampering was not logged")
		}
	})

	t.Run("key rotation", func(t *testing.T) {
		t.Parallel()
		e, l, clk := newEnv(t, srv), newLogs(t), newClock()
		opts := Options{Now: clk.Now, Logger: l.logger()}
		k1, k2 := testKey("k1"), testKey("k2")
		old := l.token(clk.Now().Add(time.Hour))
		e.cache(t, opts, k1).Put(ctx, userKey, old)

		rotated := e.cache(t, opts, k2, k1)
		if got, src, ok := rotated.Get(ctx, userKey); !ok || src != Table || got.AccessToken != old.AccessToken {
			t.Fatalf("a row sealed with k1 is unreadable once k2 leads: %v %q", ok, src)
		}
		other := keyOf(tenantA, userB, scopes...)
		newer := l.token(clk.Now().Add(time.Hour))
		rotated.Put(ctx, other, newer)
		if row, _, err := e.rawRow(t, other); err != nil || row["KeyID"] != "k2" {
			t.Fatalf("new row sealed with %v (err %v), want k2", row["KeyID"], err)
		}

		retired := e.cache(t, opts, k2)
		if _, _, ok := retired.Get(ctx, userKey); ok {
			t.Fatal("a row sealed with a key no longer listed was read")
		}
		if got, _, ok := retired.Get(ctx, other); !ok || got.AccessToken != newer.AccessToken {
			t.Fatal("a row sealed with k2 is unreadable with k2 alone")
		}
	})

	t.Run("expiry and margin", func(t *testing.T) {
		t.Parallel()
		e, l, clk := newEnv(t, srv), newLogs(t), newClock()
		opts := Options{Now: clk.Now, Logger: l.logger(), Margin: 5 * time.Minute}
		writer := e.cache(t, opts)
		tok := l.token(clk.Now().Add(10 * time.Minute))
		writer.Put(ctx, userKey, tok)
		for _, tc := range []struct {
			after time.Duration
			hit   bool
		}{
			{0, true},
			{4*time.Minute + 59*time.Second, true},
			{5 * time.Minute, false}, // 5 minutes left: inside the margin
			{20 * time.Minute, false},
		} {
			t.Run(fmt.Sprint(tc.after), func(t *testing.T) {
				at := newClock()
				at.Add(tc.after)
				o := opts
				o.Now = at.Now
				for name, c := range map[string]*Cache{"memory": writer, "table": e.cache(t, o)} {
					if name == "memory" {
						c.now = at.Now // the writer's memory level, seen at the later time
					}
					_, _, ok := c.Get(ctx, userKey)
					if ok != tc.hit {
						t.Errorf("%s: hit = %v at +%v, want %v", name, ok, tc.after, tc.hit)
					}
				}
			})
		}
		if _, _, err := e.rawRow(t, userKey); !entityMissing(err) {
			t.Fatalf("the expired row was not deleted when read: %v", err)
		}
		// A token already inside the margin is not written at all.
		writer.now = clk.Now
		writer.Put(ctx, keyOf(tenantB, userB, scopes...), l.token(clk.Now().Add(4*time.Minute)))
		if n := e.count(t); n != 0 {
			t.Fatalf("%d rows; a token expiring within the margin was written", n)
		}
	})

	t.Run("an expired row refreshed meanwhile is not deleted", func(t *testing.T) {
		t.Parallel()
		e, l, clk := newEnv(t, srv), newLogs(t), newClock()
		opts := Options{Now: clk.Now, Logger: l.logger()}
		e.cache(t, opts).Put(ctx, userKey, l.token(clk.Now().Add(time.Hour)))
		_, _, _ = e.rawRow(t, userKey)
		ek, _ := userKey.canonical()
		pk, rk := ek.rowKeys()
		stale, err := e.raw.GetEntity(ctx, pk, rk, nil)
		if err != nil {
			t.Fatal(err)
		}
		fresh := l.token(clk.Now().Add(2 * time.Hour))
		e.cache(t, opts).Put(ctx, userKey, fresh) // another instance refreshes it
		c := e.cache(t, opts)
		c.table.deleteStale(ctx, ctx, pk, rk, stale.ETag) // a reader acting on what it read before
		if got, _, ok := e.cache(t, opts).Get(ctx, userKey); !ok || got.AccessToken != fresh.AccessToken {
			t.Fatal("a lazy delete removed a row refreshed since it was read")
		}
	})

	t.Run("an older token never replaces a newer one", func(t *testing.T) {
		t.Parallel()
		e, l, clk := newEnv(t, srv), newLogs(t), newClock()
		opts := Options{Now: clk.Now, Logger: l.logger()}
		steps := []struct {
			exp  time.Duration
			want int // index of the token the row must hold after this step
		}{{60 * time.Minute, 0}, {30 * time.Minute, 0}, {60 * time.Minute, 0}, {90 * time.Minute, 3}}
		var toks []Token
		for i, s := range steps {
			toks = append(toks, l.token(clk.Now().Add(s.exp)))
			e.cache(t, opts).Put(ctx, userKey, toks[i])
			got, _, ok := e.cache(t, opts).Get(ctx, userKey)
			if !ok || got.AccessToken != toks[s.want].AccessToken {
				t.Fatalf("step %d: row holds another token than number %d", i, s.want)
			}
		}
	})

	t.Run("racing instances never corrupt a row", func(t *testing.T) {
		t.Parallel()
		e, l, clk := newEnv(t, srv), newLogs(t), newClock()
		opts := Options{Now: clk.Now, Logger: l.logger()}
		writers := []*Cache{e.cache(t, opts), e.cache(t, opts)}
		written := map[string]time.Time{}
		var toks []Token
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
		var rmu sync.Mutex
		wg2 := sync.WaitGroup{}
		wg2.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if got, _, ok := e.cache(t, opts).Get(ctx, userKey); ok {
					if _, known := written[got.AccessToken]; !known {
						rmu.Lock()
						readErr = fmt.Errorf("read a token nobody wrote")
						rmu.Unlock()
					}
				}
			}
		})
		wg.Wait()
		close(stop)
		wg2.Wait()
		if readErr != nil {
			t.Fatal(readErr)
		}
		got, src, ok := e.cache(t, opts).Get(ctx, userKey)
		if !ok || src != Table {
			t.Fatalf("after the race the row does not decrypt: %v %q\n%s", ok, src, l.String())
		}
		if _, known := written[got.AccessToken]; !known {
			t.Fatal("the row holds a token nobody wrote")
		}
		var latest time.Time
		for _, exp := range written {
			if exp.After(latest) {
				latest = exp
			}
		}
		t.Logf("row holds a token expiring %v before the latest written", latest.Sub(got.ExpiresAt))
		if n := e.count(t); n != 1 {
			t.Fatalf("%d rows for one key", n)
		}
	})

	t.Run("delete", func(t *testing.T) {
		t.Parallel()
		e, l, clk := newEnv(t, srv), newLogs(t), newClock()
		opts := Options{Now: clk.Now, Logger: l.logger()}
		c := e.cache(t, opts)
		c.Put(ctx, userKey, l.token(clk.Now().Add(time.Hour)))
		other := keyOf(tenantA, userB, scopes...)
		c.Put(ctx, other, l.token(clk.Now().Add(time.Hour)))
		c.Delete(ctx, userKey)
		if _, _, ok := c.Get(ctx, userKey); ok {
			t.Fatal("deleted entry still in memory")
		}
		if _, _, ok := e.cache(t, opts).Get(ctx, userKey); ok {
			t.Fatal("deleted entry still in the table")
		}
		if _, _, ok := e.cache(t, opts).Get(ctx, other); !ok {
			t.Fatal("Delete removed another user's entry")
		}
		c.Delete(ctx, userKey) // deleting what is gone is fine

		// An instance deleting the token Graph refused leaves a fresher one
		// another instance stored meanwhile.
		refusedBy := e.cache(t, opts)
		if _, src, ok := refusedBy.Get(ctx, other); !ok || src != Table {
			t.Fatal("setup: no table hit")
		}
		fresh := l.token(clk.Now().Add(2 * time.Hour))
		e.cache(t, opts).Put(ctx, other, fresh)
		refusedBy.Delete(ctx, other)
		if got, _, ok := e.cache(t, opts).Get(ctx, other); !ok || got.AccessToken != fresh.AccessToken {
			t.Fatal("Delete of a refused token removed a fresher one")
		}
		// An instance that served nothing for the key deletes whatever is there.
		e.cache(t, opts).Delete(ctx, other)
		if _, _, ok := e.cache(t, opts).Get(ctx, other); ok {
			t.Fatal("unconditional delete left the row")
		}
	})

	t.Run("a token too large to seal into a row stays in memory", func(t *testing.T) {
		t.Parallel()
		e, l, clk := newEnv(t, srv), newLogs(t), newClock()
		c := e.cache(t, Options{Now: clk.Now, Logger: l.logger()})
		// JSON escapes each '<' as six bytes, past the Data column's limit.
		c.Put(ctx, userKey, Token{AccessToken: strings.Repeat("<", MaxAccessTokenBytes), ExpiresAt: clk.Now().Add(time.Hour)})
		if _, src, ok := c.Get(ctx, userKey); !ok || src != Memory {
			t.Fatal("not kept in memory")
		}
		if n := e.count(t); n != 0 {
			t.Fatalf("%d rows written", n)
		}
	})

	t.Run("refused keys write nothing", func(t *testing.T) {
		t.Parallel()
		e, l, clk := newEnv(t, srv), newLogs(t), newClock()
		c := e.cache(t, Options{Now: clk.Now, Logger: l.logger()})
		for _, k := range []Key{
			keyOf("not-a-guid", userA, "User.Read"),
			keyOf(tenantA, "x/y", "User.Read"),
			keyOf(tenantA, userA+"#", "User.Read"),
			keyOf(tenantA, userA),
		} {
			c.Put(ctx, k, l.token(clk.Now().Add(time.Hour)))
		}
		if n := e.count(t); n != 0 {
			t.Fatalf("%d rows written for refused keys", n)
		}
	})
}

// flip changes one byte of the row's Data (a negative index counts from the end).
func flip(row map[string]any, i int) {
	data, _ := base64.StdEncoding.DecodeString(fmt.Sprint(row["Data"]))
	if i < 0 {
		i += len(data)
	}
	data[i] ^= 0x01
	row["Data"] = base64.StdEncoding.EncodeToString(data)
}

// writeRow stores row (as read from the service) under target's row keys.
func writeRow(t *testing.T, e *env, target Key, row map[string]any) {
	t.Helper()
	ek, err := target.canonical()
	if err != nil {
		t.Fatal(err)
	}
	row["PartitionKey"], row["RowKey"] = ek.rowKeys()
	for k := range row {
		if strings.HasPrefix(k, "odata.") || k == "Timestamp" || k == "Timestamp@odata.type" {
			delete(row, k)
		}
	}
	body, err := json.Marshal(row)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.raw.UpsertEntity(context.Background(), body, &aztables.UpsertEntityOptions{UpdateMode: aztables.UpdateModeReplace}); err != nil {
		t.Fatal(err)
	}
}
