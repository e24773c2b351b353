package tokencache_test

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/addinsso/addinsso/dev/capture"
	"github.com/addinsso/addinsso/handler/config"
	"github.com/addinsso/addinsso/handler/entra"
	"github.com/addinsso/addinsso/handler/tokencache"
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
func (l *logs) token(exp time.Time) entra.Token {
	b := make([]byte, 24)
	rand.Read(b)
	at := "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.graph-token-" + hex.EncodeToString(b)
	l.mu.Lock()
	l.secrets = append(l.secrets, at)
	l.mu.Unlock()
	return entra.Token{AccessToken: at, ExpiresAt: exp, Scopes: []string{"User.Read", "Mail.Read", "profile"}}
}

// newCache is a new Cache over store: a fresh instance with an empty memory
// level. Without keys it seals with k1.
func newCache(t testing.TB, store tokencache.Store, opts tokencache.Options, keys ...config.Key) *tokencache.Cache {
	t.Helper()
	if len(keys) == 0 {
		keys = []config.Key{testKey("k1")}
	}
	c, err := tokencache.New(tokencache.Config{Store: store, Keys: keys}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// keyOf is the key of user's first session: the same bootstrap token for
// every call with the same tenant and user, valid all day.
func keyOf(tenant, user string, scopes ...string) tokencache.Key {
	return inSession(tokencache.Key{TenantID: tenant, ObjectID: user, Scopes: scopes}, "first")
}

// inSession is k with the bootstrap token of the named session of k's user.
func inSession(k tokencache.Key, name string) tokencache.Key {
	k.Session = bootstrapToken(k.TenantID, k.ObjectID, name)
	k.SessionExpiresAt = time.Time{}
	return k
}

// bootstrapToken stands in for the token the pane sends: a JWT's shape, the
// same for the same user and session name.
func bootstrapToken(tenant, user, name string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(tenant + "/" + user + "/" + name)))
	return "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.bootstrap-" + name + "." + hex.EncodeToString(sum[:]) + strings.Repeat("x", 1200)
}

// rowKeys is where k's row lives for a cache whose first key is first (k1
// when not given).
func rowKeys(k tokencache.Key, first ...config.Key) (partitionKey, rowKey string) {
	if len(first) == 0 {
		first = []config.Key{testKey("k1")}
	}
	return tokencache.RowKeys(k, first[0].Secret)
}

func sameToken(a, b entra.Token) bool {
	return a.AccessToken == b.AccessToken && a.ExpiresAt.Equal(b.ExpiresAt) && strings.Join(a.Scopes, " ") == strings.Join(b.Scopes, " ")
}
