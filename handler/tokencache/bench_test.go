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

// BenchmarkGetTableHit is the cost of a repeat caller with Table Storage:
// every hit is one Table Storage read and a decryption (the store decides, so
// a removal on any instance holds on all), here against a local Azurite.
func BenchmarkGetTableHit(b *testing.B) {
	srv := azurite.ForTest(b)
	store, err := azuretable.New(azuretable.Config{ConnectionString: srv.ConnectionString(), Table: "bench"}, azuretable.Options{Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	c := newCache(b, store, tokencache.Options{Logger: quiet})
	ctx := context.Background()
	users := []tokencache.Key{keyOf(tenantA, userA, scopes...), keyOf(tenantA, userB, scopes...)}
	for _, k := range users {
		c.Put(ctx, k, entra.Token{AccessToken: string(make([]byte, 2500)) + "x", ExpiresAt: time.Now().Add(time.Hour), Scopes: scopes})
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, src, ok := c.Get(ctx, users[i%2]); !ok || src != tokencache.Table {
			b.Fatal("not a table hit")
		}
	}
}
