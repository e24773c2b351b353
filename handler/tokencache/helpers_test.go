package tokencache

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/addinsso/addinsso/dev/azurite"
	"github.com/addinsso/addinsso/handler/config"

	"github.com/addinsso/addinsso/dev/capture"
)

const (
	tenantA = "11111111-1111-4111-8111-111111111111"
	tenantB = "22222222-2222-4222-8222-222222222222"
	userA   = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
	userB   = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"
)

var scopes = []string{"User.Read", "Mail.Read"}

// testKey derives a fixed 32-byte key from its ID.
func testKey(id string) config.Key {
	sum := sha256.Sum256([]byte("test key " + id))
	return config.Key{ID: id, Secret: sum[:]}
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// logs captures a test's log and, when the test ends, fails it if any access
// token it handed out was logged.
type logs struct {
	capture.Buffer
	mu      sync.Mutex // guards secrets
	secrets []string
}

func newLogs(t testing.TB) *logs {
	l := &logs{}
	t.Cleanup(func() {
		out := l.String()
		for _, s := range l.secrets {
			if strings.Contains(out, s) {
				t.Errorf("an access token reached the log:\n%s", out)
			}
		}
	})
	return l
}

func (l *logs) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// token makes a distinctive access token and remembers it as a secret.
func (l *logs) token(exp time.Time) Token {
	b := make([]byte, 24)
	rand.Read(b)
	at := "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.graph-token-" + hex.EncodeToString(b)
	l.mu.Lock()
	l.secrets = append(l.secrets, at)
	l.mu.Unlock()
	return Token{AccessToken: at, ExpiresAt: exp, Scopes: []string{"User.Read", "Mail.Read", "profile"}}
}

// tableName is a fresh table name, so tests sharing an Azurite never meet.
func tableName() string {
	b := make([]byte, 8)
	rand.Read(b)
	return "t" + hex.EncodeToString(b)
}

// env is one table in a running Azurite, with the settings to reach it.
type env struct {
	srv   *azurite.Server
	table string
	raw   *aztables.Client // the test's own view of the rows
}

func newEnv(t testing.TB, srv *azurite.Server) *env {
	svc, err := aztables.NewServiceClientFromConnectionString(srv.ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	name := tableName()
	return &env{srv: srv, table: name, raw: svc.NewClient(name)}
}

func (e *env) config(keys ...config.Key) config.TokenCache {
	return config.TokenCache{ConnectionString: e.srv.ConnectionString(), Table: e.table, Keys: keys}
}

// cache is a new Cache on e's table: a fresh instance with an empty memory level.
func (e *env) cache(t testing.TB, opts Options, keys ...config.Key) *Cache {
	t.Helper()
	if len(keys) == 0 {
		keys = []config.Key{testKey("k1")}
	}
	c, err := New(e.config(keys...), opts)
	if err != nil {
		t.Fatal(err)
	}
	if c.table == nil {
		t.Fatal("New with a connection string built a memory-only cache")
	}
	return c
}

// rawRow reads the stored entity of k as the service returns it.
func (e *env) rawRow(t testing.TB, k Key) (map[string]any, []byte, error) {
	t.Helper()
	ek, err := k.canonical()
	if err != nil {
		t.Fatal(err)
	}
	pk, rk := ek.rowKeys()
	resp, err := e.raw.GetEntity(context.Background(), pk, rk, nil)
	if err != nil {
		return nil, nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(resp.Value, &m); err != nil {
		t.Fatal(err)
	}
	return m, resp.Value, nil
}

func (e *env) count(t testing.TB) int {
	t.Helper()
	n := 0
	pager := e.raw.NewListEntitiesPager(nil)
	for pager.More() {
		page, err := pager.NextPage(context.Background())
		if err != nil {
			if entityMissing(err) || errorCode(err) == string(aztables.TableNotFound) {
				return 0
			}
			t.Fatal(err)
		}
		n += len(page.Entities)
	}
	return n
}

func keyOf(tenant, user string, scopes ...string) Key {
	return Key{TenantID: tenant, ObjectID: user, Scopes: scopes}
}

func sameToken(a, b Token) bool {
	return a.AccessToken == b.AccessToken && a.ExpiresAt.Equal(b.ExpiresAt) && strings.Join(a.Scopes, " ") == strings.Join(b.Scopes, " ")
}
