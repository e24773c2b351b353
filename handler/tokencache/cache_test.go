package tokencache

import (
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/addinsso/addinsso/handler/config"
)

func TestMemoryOnlyIsBounded(t *testing.T) {
	l, clk := newLogs(t), newClock()
	c, err := New(config.TokenCache{}, Options{MemoryEntries: 2, Now: clk.Now, Logger: l.logger()})
	if err != nil {
		t.Fatal(err)
	}
	if c.table != nil {
		t.Fatal("no Table Storage setting, yet a table level")
	}
	ctx := context.Background()
	keys := []Key{keyOf(tenantA, userA, "User.Read"), keyOf(tenantA, userB, "User.Read"), keyOf(tenantB, userA, "User.Read")}
	toks := make([]Token, len(keys))
	for i, k := range keys {
		toks[i] = l.token(clk.Now().Add(time.Hour))
		c.Put(ctx, k, toks[i])
	}
	if n := c.mem.Len(); n != 2 {
		t.Errorf("memory holds %d entries, want the bound 2", n)
	}
	if _, _, ok := c.Get(ctx, keys[0]); ok {
		t.Error("the least recently used entry survived past the bound")
	}
	for i := 1; i < 3; i++ {
		got, src, ok := c.Get(ctx, keys[i])
		if !ok || src != Memory || !sameToken(got, toks[i]) {
			t.Errorf("Get(key %d) = %v, %q, %v; want its token from memory", i, got.AccessToken, src, ok)
		}
	}
}

// TestMemoryKeyIsolation: the memory level alone keeps users, tenants and
// scope sets apart (TestTable/isolation checks the table level).
func TestMemoryKeyIsolation(t *testing.T) {
	l, clk := newLogs(t), newClock()
	c, err := New(config.TokenCache{}, Options{Now: clk.Now, Logger: l.logger()})
	if err != nil {
		t.Fatal(err)
	}
	checkIsolation(t, l, clk, func() *Cache { return c }, Memory)
}

// checkIsolation puts tokens for two users and checks which lookups hit.
// fresh returns the cache to read through (a new instance to force the table).
func checkIsolation(t *testing.T, l *logs, clk *clock, fresh func() *Cache, want Source) {
	ctx := context.Background()
	writer := fresh()
	tokA, tokB := l.token(clk.Now().Add(time.Hour)), l.token(clk.Now().Add(time.Hour))
	writer.Put(ctx, keyOf(tenantA, userA, "User.Read", "Mail.Read"), tokA)
	writer.Put(ctx, keyOf(tenantA, userB, "User.Read", "Mail.Read"), tokB)
	for _, tc := range []struct {
		name string
		key  Key
		want *Token
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

func owner(got, a, b Token) string {
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
	c, err := New(config.TokenCache{}, Options{Now: clk.Now, Logger: l.logger()})
	if err != nil {
		t.Fatal(err)
	}
	k := keyOf(tenantA, userA, "User.Read")
	good := l.token(clk.Now().Add(time.Hour))
	for _, tc := range []struct {
		name string
		tok  Token
	}{
		{"empty token", Token{ExpiresAt: good.ExpiresAt}},
		{"oversized token", Token{AccessToken: strings.Repeat("x", MaxAccessTokenBytes+1), ExpiresAt: good.ExpiresAt}},
		{"too many scopes", Token{AccessToken: good.AccessToken, ExpiresAt: good.ExpiresAt, Scopes: make([]string, maxTokenScopes+1)}},
		{"scopes too long", Token{AccessToken: good.AccessToken, ExpiresAt: good.ExpiresAt, Scopes: []string{strings.Repeat("s", maxTokenScopeBytes+1)}}},
		{"already expired", Token{AccessToken: good.AccessToken, ExpiresAt: clk.Now().Add(-time.Minute)}},
		{"expires within the margin", Token{AccessToken: good.AccessToken, ExpiresAt: clk.Now().Add(DefaultMargin)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.Put(context.Background(), k, tc.tok)
			if _, _, ok := c.Get(context.Background(), k); ok {
				t.Fatal("cached")
			}
		})
	}
	c.Put(context.Background(), k, Token{AccessToken: strings.Repeat("x", MaxAccessTokenBytes), ExpiresAt: good.ExpiresAt})
	if _, _, ok := c.Get(context.Background(), k); !ok {
		t.Fatal("a token of exactly the maximum size was refused")
	}
}

// TestReturnedTokenIsACopy: a caller editing a token's scopes cannot change the cache.
func TestReturnedTokenIsACopy(t *testing.T) {
	l, clk := newLogs(t), newClock()
	c, _ := New(config.TokenCache{}, Options{Now: clk.Now, Logger: l.logger()})
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

func TestNewRejectsBadConfig(t *testing.T) {
	k1 := testKey("k1")
	for _, tc := range []struct {
		name    string
		cfg     config.TokenCache
		setting string
	}{
		{"both stores", config.TokenCache{ConnectionString: "UseDevelopmentStorage=true", Endpoint: "https://a.table.core.windows.net", Keys: []config.Key{k1}}, "TOKEN_CACHE_ENDPOINT"},
		{"no key", config.TokenCache{ConnectionString: "UseDevelopmentStorage=true"}, "TOKEN_CACHE_ENCRYPTION_KEY"},
		{"short key", config.TokenCache{ConnectionString: "UseDevelopmentStorage=true", Keys: []config.Key{{ID: "k", Secret: make([]byte, 16)}}}, "TOKEN_CACHE_ENCRYPTION_KEY"},
		{"duplicate key ID", config.TokenCache{ConnectionString: "UseDevelopmentStorage=true", Keys: []config.Key{k1, k1}}, "TOKEN_CACHE_ENCRYPTION_KEY"},
		{"malformed connection string", config.TokenCache{ConnectionString: "not a connection string", Keys: []config.Key{k1}}, "TOKEN_CACHE_CONNECTION_STRING"},
		{"UseDevelopmentStorage=false", config.TokenCache{ConnectionString: "UseDevelopmentStorage=false", Keys: []config.Key{k1}}, "TOKEN_CACHE_CONNECTION_STRING"},
		{"proxy without development storage", config.TokenCache{ConnectionString: "DevelopmentStorageProxyUri=http://proxy", Keys: []config.Key{k1}}, "TOKEN_CACHE_CONNECTION_STRING"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg, Options{})
			if err == nil || !strings.HasPrefix(err.Error(), tc.setting+":") {
				t.Fatalf("New: err = %v, want one naming %s", err, tc.setting)
			}
		})
	}
}

func TestExplicitConnectionString(t *testing.T) {
	const key = "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
	local := "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;" + key + "TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"
	real := "DefaultEndpointsProtocol=https;AccountName=prod;AccountKey=c2VjcmV0;EndpointSuffix=core.windows.net"
	for _, tc := range []struct{ in, want string }{
		{"UseDevelopmentStorage=true", local},
		{"UseDevelopmentStorage=true;", local},
		{" usedevelopmentstorage = TRUE ", local},
		{"UseDevelopmentStorage=true;DevelopmentStorageProxyUri=http://ipv4.fiddler", "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;" + key + "TableEndpoint=http://ipv4.fiddler:10002/devstoreaccount1;"},
		{"DevelopmentStorageProxyUri=https://azurite:1234/;UseDevelopmentStorage=true", "DefaultEndpointsProtocol=https;AccountName=devstoreaccount1;" + key + "TableEndpoint=https://azurite:10002/devstoreaccount1;"},
		{"UseDevelopmentStorage=true;DevelopmentStorageProxyUri=http://[::1]", "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;" + key + "TableEndpoint=http://[::1]:10002/devstoreaccount1;"},
		{real, real},
		{local, local},
	} {
		got, err := explicitConnectionString(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("explicitConnectionString(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{
		"UseDevelopmentStorage=false",
		"UseDevelopmentStorage=true;AccountName=x",
		"UseDevelopmentStorage=true;DevelopmentStorageProxyUri=ftp://x",
		"UseDevelopmentStorage=true;DevelopmentStorageProxyUri=not a url",
		"DevelopmentStorageProxyUri=http://x",
	} {
		if got, err := explicitConnectionString(bad); err == nil {
			t.Errorf("explicitConnectionString(%q) = %q, want an error", bad, got)
		}
	}
}

// countingCredential records that it was asked for a token.
type countingCredential struct{ calls atomic.Int32 }

func (c *countingCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.calls.Add(1)
	return azcore.AccessToken{Token: "fake", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// TestNewMakesNoNetworkCall: the handler must answer the host's first ping at
// once, so building the cache touches neither the table nor the identity endpoint.
func TestNewMakesNoNetworkCall(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepts atomic.Int32
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			accepts.Add(1)
			conn.Close()
		}
	}()
	addr := ln.Addr().String()
	cred := &countingCredential{}
	l := newLogs(t)
	keys := []config.Key{testKey("k1")}
	caches := []*Cache{}
	for _, cfg := range []config.TokenCache{
		{Endpoint: "https://" + addr, Keys: keys},
		{ConnectionString: "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=" + devAccountKey + ";TableEndpoint=http://" + addr + "/devstoreaccount1", Keys: keys},
	} {
		start := time.Now()
		c, err := New(cfg, Options{Credential: cred, Logger: l.logger()})
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > 100*time.Millisecond {
			t.Errorf("New took %v", d)
		}
		caches = append(caches, c)
	}
	// The default credentials must build without a network call too.
	for _, id := range []string{"", "dddddddd-dddd-4ddd-8ddd-dddddddddddd"} {
		if _, err := New(config.TokenCache{Endpoint: "https://" + addr, Keys: keys}, Options{ManagedIdentityClientID: id}); err != nil {
			t.Errorf("New with the default credential (client ID %q): %v", id, err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	if n, calls := accepts.Load(), cred.calls.Load(); n != 0 || calls != 0 {
		t.Fatalf("New made %d connections and %d token requests; want none", n, calls)
	}
	// The listener does see the first use, so the check above can fail.
	for _, c := range caches {
		c.Get(context.Background(), keyOf(tenantA, userA, "User.Read"))
	}
	if accepts.Load() == 0 {
		t.Fatal("first use made no connection: the check above proves nothing")
	}
}

func TestKeyString(t *testing.T) {
	const tid, alice, bob = "aaaaaaaa-0000-4000-8000-00000000000a", "a11ce000-0000-4000-8000-000000000001", "b0b00000-0000-4000-8000-000000000002"
	a := Key{TenantID: tid, ObjectID: alice, Scopes: []string{"User.Read", "Mail.Read"}}
	same := Key{TenantID: strings.ToUpper(tid), ObjectID: alice, Scopes: []string{"mail.read user.read", "USER.READ"}}
	if a.String() != same.String() {
		t.Errorf("%q != %q", a, same)
	}
	for _, other := range []Key{
		{TenantID: tid, ObjectID: bob, Scopes: a.Scopes},
		{TenantID: tid, ObjectID: alice, Scopes: []string{"User.Read"}},
		{TenantID: "not-a-guid", ObjectID: alice, Scopes: a.Scopes},
	} {
		if other.String() == a.String() {
			t.Errorf("%q names alice's entry", other)
		}
	}
}
