package tokencache_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/addinsso/addinsso/handler/config"
	"github.com/addinsso/addinsso/handler/entra"
	"github.com/addinsso/addinsso/handler/tokencache"
	"github.com/addinsso/addinsso/handler/tokencache/storetest"
)

func TestMemoryOnlyIsBounded(t *testing.T) {
	l, clk := newLogs(t), newClock()
	c, err := tokencache.New(tokencache.Config{}, tokencache.Options{MemoryEntries: 2, Now: clk.Now, Logger: l.logger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	keys := []tokencache.Key{keyOf(tenantA, userA, "User.Read"), keyOf(tenantA, userB, "User.Read"), keyOf(tenantB, userA, "User.Read")}
	toks := make([]entra.Token, len(keys))
	for i, k := range keys {
		toks[i] = l.token(clk.Now().Add(time.Hour))
		c.Put(ctx, k, toks[i])
	}
	if _, _, ok := c.Get(ctx, keys[0]); ok {
		t.Error("the least recently used entry survived past the bound")
	}
	for i := 1; i < 3; i++ {
		got, src, ok := c.Get(ctx, keys[i])
		if !ok || src != tokencache.Memory || !sameToken(got, toks[i]) {
			t.Errorf("Get(key %d) = %v, %q, %v; want its token from memory", i, got.AccessToken, src, ok)
		}
	}
}

// TestMemoryKeyIsolation: the memory level alone keeps users, tenants and
// scope sets apart (TestShared/isolation checks the shared level).
func TestMemoryKeyIsolation(t *testing.T) {
	l, clk := newLogs(t), newClock()
	c, err := tokencache.New(tokencache.Config{}, tokencache.Options{Now: clk.Now, Logger: l.logger()})
	if err != nil {
		t.Fatal(err)
	}
	checkIsolation(t, l, clk, func() *tokencache.Cache { return c }, tokencache.Memory)
}

// checkIsolation puts tokens for two users and checks which lookups hit.
// fresh returns the cache to read through (a new instance to force the store).
func checkIsolation(t *testing.T, l *logs, clk *clock, fresh func() *tokencache.Cache, want tokencache.Source) {
	ctx := context.Background()
	writer := fresh()
	tokA, tokB := l.token(clk.Now().Add(time.Hour)), l.token(clk.Now().Add(time.Hour))
	writer.Put(ctx, keyOf(tenantA, userA, "User.Read", "Mail.Read"), tokA)
	writer.Put(ctx, keyOf(tenantA, userB, "User.Read", "Mail.Read"), tokB)
	for _, tc := range []struct {
		name string
		key  tokencache.Key
		want *entra.Token
	}{
		{"same key", keyOf(tenantA, userA, "User.Read", "Mail.Read"), &tokA},
		{"scopes reordered, other case, repeated", keyOf(tenantA, userA, "mail.read", "USER.READ", "Mail.Read"), &tokA},
		{"scopes as one OAuth scope string", keyOf(tenantA, userA, " Mail.Read  User.Read "), &tokA},
		{"upper-case GUIDs", keyOf(strings.ToUpper(tenantA), strings.ToUpper(userA), "User.Read", "Mail.Read"), &tokA},
		{"other user gets their own token", keyOf(tenantA, userB, "User.Read", "Mail.Read"), &tokB},
		{"same user ID in another tenant", keyOf(tenantB, userA, "User.Read", "Mail.Read"), nil},
		{"unknown user", keyOf(tenantA, "cccccccc-cccc-4ccc-8ccc-cccccccccccc", "User.Read", "Mail.Read"), nil},
		{"subset of the scopes", keyOf(tenantA, userA, "User.Read"), nil},
		{"superset of the scopes", keyOf(tenantA, userA, "User.Read", "Mail.Read", "Files.Read"), nil},
		{"no scopes", keyOf(tenantA, userA), nil},
		{"object ID not a GUID", keyOf(tenantA, userA+"/../x", "User.Read", "Mail.Read"), nil},
		{"tenant ID not a GUID", keyOf("common", userA, "User.Read", "Mail.Read"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, src, ok := fresh().Get(ctx, tc.key)
			switch {
			case tc.want == nil && ok:
				t.Fatalf("hit (%q) for a key that was never stored; token belongs to %s", src, owner(got, tokA, tokB))
			case tc.want != nil && !ok:
				t.Fatal("miss, want a hit")
			case tc.want != nil && (!sameToken(got, *tc.want) || src != want):
				t.Fatalf("got %s's token from %q, want %s's from %q", owner(got, tokA, tokB), src, owner(*tc.want, tokA, tokB), want)
			}
		})
	}
}

func owner(got, a, b entra.Token) string {
	switch got.AccessToken {
	case a.AccessToken:
		return "user A"
	case b.AccessToken:
		return "user B"
	}
	return "nobody"
}

func TestPutRefuses(t *testing.T) {
	l, clk := newLogs(t), newClock()
	c, err := tokencache.New(tokencache.Config{}, tokencache.Options{Now: clk.Now, Logger: l.logger()})
	if err != nil {
		t.Fatal(err)
	}
	k := keyOf(tenantA, userA, "User.Read")
	good := l.token(clk.Now().Add(time.Hour))
	for _, tc := range []struct {
		name string
		tok  entra.Token
	}{
		{"empty token", entra.Token{ExpiresAt: good.ExpiresAt}},
		{"oversized token", entra.Token{AccessToken: strings.Repeat("x", tokencache.MaxAccessTokenBytes+1), ExpiresAt: good.ExpiresAt}},
		{"too many scopes", entra.Token{AccessToken: good.AccessToken, ExpiresAt: good.ExpiresAt, Scopes: make([]string, tokencache.MaxTokenScopes+1)}},
		{"scopes too long", entra.Token{AccessToken: good.AccessToken, ExpiresAt: good.ExpiresAt, Scopes: []string{strings.Repeat("s", tokencache.MaxTokenScopeBytes+1)}}},
		{"already expired", entra.Token{AccessToken: good.AccessToken, ExpiresAt: clk.Now().Add(-time.Minute)}},
		{"expires within the margin", entra.Token{AccessToken: good.AccessToken, ExpiresAt: clk.Now().Add(tokencache.DefaultMargin)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.Put(context.Background(), k, tc.tok)
			if _, _, ok := c.Get(context.Background(), k); ok {
				t.Fatal("cached")
			}
		})
	}
	c.Put(context.Background(), k, entra.Token{AccessToken: strings.Repeat("x", tokencache.MaxAccessTokenBytes), ExpiresAt: good.ExpiresAt})
	if _, _, ok := c.Get(context.Background(), k); !ok {
		t.Fatal("a token of exactly the maximum size was refused")
	}
}

// TestReturnedTokenIsACopy: a caller editing a token's scopes cannot change the cache.
func TestReturnedTokenIsACopy(t *testing.T) {
	l, clk := newLogs(t), newClock()
	c, err := tokencache.New(tokencache.Config{}, tokencache.Options{Now: clk.Now, Logger: l.logger()})
	if err != nil {
		t.Fatal(err)
	}
	k := keyOf(tenantA, userA, "User.Read")
	tok := l.token(clk.Now().Add(time.Hour))
	c.Put(context.Background(), k, tok)
	tok.Scopes[0] = "changed"
	got, _, _ := c.Get(context.Background(), k)
	got.Scopes[1] = "changed"
	again, _, _ := c.Get(context.Background(), k)
	if again.Scopes[0] != "User.Read" || again.Scopes[1] != "Mail.Read" {
		t.Fatalf("cached scopes changed through a caller's slice: %v", again.Scopes)
	}
}

func TestNewRejectsBadKeys(t *testing.T) {
	store := &storetest.Memory{}
	for _, tc := range []struct {
		name string
		keys []config.Key
	}{
		{"no key", nil},
		{"a key AES cannot use", []config.Key{testKey("k1"), {ID: "k2", Secret: []byte("short")}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tokencache.New(tokencache.Config{Store: store, Keys: tc.keys}, tokencache.Options{})
			if err == nil || !strings.HasPrefix(err.Error(), "TOKEN_CACHE_ENCRYPTION_KEY:") {
				t.Fatalf("New: err = %v, want one naming TOKEN_CACHE_ENCRYPTION_KEY", err)
			}
		})
	}
	// Keys are needed only to seal rows for a store.
	if _, err := tokencache.New(tokencache.Config{}, tokencache.Options{}); err != nil {
		t.Fatalf("memory only, no key: %v", err)
	}
}

func TestKeyString(t *testing.T) {
	const tid, alice, bob = "aaaaaaaa-0000-4000-8000-00000000000a", "a11ce000-0000-4000-8000-000000000001", "b0b00000-0000-4000-8000-000000000002"
	session := bootstrapToken(tid, alice, "outlook on the web")
	a := tokencache.Key{TenantID: tid, ObjectID: alice, Scopes: []string{"User.Read", "Mail.Read"}, Session: session}
	same := tokencache.Key{TenantID: strings.ToUpper(tid), ObjectID: alice, Scopes: []string{"mail.read user.read", "USER.READ"},
		Session: session, SessionExpiresAt: time.Now()} // the expiry does not name the entry: the token does
	if a.String() != same.String() {
		t.Errorf("%q != %q", a, same)
	}
	for _, other := range []tokencache.Key{
		{TenantID: tid, ObjectID: bob, Scopes: a.Scopes, Session: session},
		{TenantID: tid, ObjectID: alice, Scopes: []string{"User.Read"}, Session: session},
		{TenantID: "not-a-guid", ObjectID: alice, Scopes: a.Scopes, Session: session},
		{TenantID: tid, ObjectID: alice, Scopes: a.Scopes, Session: bootstrapToken(tid, alice, "outlook desktop")},
		{TenantID: tid, ObjectID: alice, Scopes: a.Scopes},
	} {
		if other.String() == a.String() {
			t.Errorf("%q names alice's entry", other)
		}
	}
	// The string joins concurrent exchanges and may reach a log or a
	// profile: it holds a keyed hash of the token, never the token or a part of it.
	secret := strings.TrimPrefix(session, "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.")[:40]
	for _, k := range []tokencache.Key{a, {TenantID: "not-a-guid", ObjectID: alice, Scopes: a.Scopes, Session: session}} {
		if strings.Contains(k.String(), secret) || len(k.String()) > 300 {
			t.Errorf("String quotes the bootstrap token: %.300q", k)
		}
	}
}
