package tokencache

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/addinsso/addinsso/dev/azurite"
	"github.com/addinsso/addinsso/handler/config"
)

// BenchmarkGetMemoryHit is the cost of a repeat caller: the path every
// exchange and graph-proxy call takes once a user's token is cached.
func BenchmarkGetMemoryHit(b *testing.B) {
	c, err := New(config.TokenCache{}, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	k := keyOf(tenantA, userA, scopes...)
	c.Put(ctx, k, Token{AccessToken: "token", ExpiresAt: time.Now().Add(time.Hour), Scopes: scopes})
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
	e := newEnv(b, srv)
	c := e.cache(b, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ctx := context.Background()
	k := keyOf(tenantA, userA, scopes...)
	c.Put(ctx, k, Token{AccessToken: string(make([]byte, 2500)) + "x", ExpiresAt: time.Now().Add(time.Hour), Scopes: scopes})
	ek, _ := k.canonical()
	b.ReportAllocs()
	for b.Loop() {
		c.mem.Delete(ek) // forget the promotion so the next Get reads the table
		if _, src, ok := c.Get(ctx, k); !ok || src != Table {
			b.Fatal("not a table hit")
		}
	}
}
