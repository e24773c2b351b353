package tokencache_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/addinsso/addinsso/dev/azurite"
	"github.com/addinsso/addinsso/handler/entra"
	"github.com/addinsso/addinsso/handler/tokencache"
	"github.com/addinsso/addinsso/handler/tokencache/azuretable"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// BenchmarkGetMemoryHit is the cost of a repeat caller: the path every
// exchange and graph-proxy call takes once a user's token is cached.
func BenchmarkGetMemoryHit(b *testing.B) {
	c, err := tokencache.New(tokencache.Config{}, tokencache.Options{Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	k := keyOf(tenantA, userA, scopes...)
	c.Put(ctx, k, entra.Token{AccessToken: "token", ExpiresAt: time.Now().Add(time.Hour), Scopes: scopes})
	b.ReportAllocs()
	for b.Loop() {
		if _, _, ok := c.Get(ctx, k); !ok {
			b.Fatal("miss")
		}
	}
}

// BenchmarkGetTableHit is the cost of a first call on an instance that has
// not seen the user yet while another instance has (a scale-out or restart):
// one Table Storage read and a decryption, here against a local Azurite.
func BenchmarkGetTableHit(b *testing.B) {
	srv := azurite.ForTest(b)
	store, err := azuretable.New(azuretable.Config{ConnectionString: srv.ConnectionString(), Table: "bench"}, azuretable.Options{Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	// One memory entry and two users: each Get evicts the other user's
	// entry, so every Get reads the table.
	c := newCache(b, store, tokencache.Options{Logger: quiet, MemoryEntries: 1})
	ctx := context.Background()
	users := []tokencache.Key{keyOf(tenantA, userA, scopes...), keyOf(tenantA, userB, scopes...)}
	for _, k := range users {
		c.Put(ctx, k, entra.Token{AccessToken: string(make([]byte, 2500)) + "x", ExpiresAt: time.Now().Add(time.Hour), Scopes: scopes})
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ { // users[0] first: the last Put left users[1] in memory
		if _, src, ok := c.Get(ctx, users[i%2]); !ok || src != tokencache.Table {
			b.Fatal("not a table hit")
		}
	}
}
