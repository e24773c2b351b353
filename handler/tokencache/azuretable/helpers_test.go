package azuretable

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/addinsso/addinsso/dev/azurite"
	"github.com/addinsso/addinsso/dev/capture"
	"github.com/addinsso/addinsso/handler/config"
	"github.com/addinsso/addinsso/handler/entra"
	"github.com/addinsso/addinsso/handler/tokencache"
)

// tableName is a fresh table name, so tests sharing an Azurite never meet.
func tableName() string {
	b := make([]byte, 8)
	rand.Read(b)
	return "t" + hex.EncodeToString(b)
}

// table is one table in a running Azurite: a Store on it, and the test's own
// client to look at the entities behind the Store's back.
type table struct {
	*Store
	raw *aztables.Client
}

func newTable(t testing.TB, srv *azurite.Server, opts Options) table {
	t.Helper()
	name := tableName()
	s, err := New(Config{ConnectionString: srv.ConnectionString(), Table: name}, opts)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := aztables.NewServiceClientFromConnectionString(srv.ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return table{Store: s, raw: svc.NewClient(name)}
}

// entities lists the table's entities as the service returns them.
func (tb table) entities(t testing.TB) [][]byte {
	t.Helper()
	var out [][]byte
	pager := tb.raw.NewListEntitiesPager(nil)
	for pager.More() {
		page, err := pager.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page.Entities...)
	}
	return out
}

// logs captures a test's log and, when the test ends, fails it if any access
// token it handed out was logged.
type logs struct {
	capture.Buffer
	secrets []string
}

func newLogs(t testing.TB) *logs {
	l := &logs{}
	t.Cleanup(func() {
		for _, s := range l.secrets {
			if strings.Contains(l.String(), s) {
				t.Errorf("an access token reached the log:\n%s", l.String())
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
	l.secrets = append(l.secrets, at)
	return entra.Token{AccessToken: at, ExpiresAt: exp, Scopes: []string{"User.Read"}}
}

// newCache is a fresh cache instance (empty memory) over s.
func newCache(t testing.TB, s tokencache.Store, opts tokencache.Options) *tokencache.Cache {
	t.Helper()
	sum := sha256.Sum256([]byte("test key"))
	c, err := tokencache.New(tokencache.Config{Store: s, Keys: []config.Key{{ID: "k1", Secret: sum[:]}}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var (
	userA = tokencache.Key{TenantID: "11111111-1111-4111-8111-111111111111", ObjectID: "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa", Scopes: []string{"User.Read"}, Session: bootstrapToken("a")}
	userB = tokencache.Key{TenantID: "11111111-1111-4111-8111-111111111111", ObjectID: "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb", Scopes: []string{"User.Read"}, Session: bootstrapToken("b")}
)

// bootstrapToken stands in for the token the pane sends, one per session name.
func bootstrapToken(session string) string {
	return "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.bootstrap-" + session + "." + strings.Repeat("x", 1200)
}

// testRow is a row as the cache writes one: the user's partition, the hashes
// of a scope set and of a session.
func testRow(data string) tokencache.Row {
	return tokencache.Row{
		PartitionKey: userA.TenantID + "_" + userA.ObjectID,
		RowKey:       strings.Repeat("0123456789abcdef", 4) + "_" + strings.Repeat("fedcba9876543210", 4),
		KeyID:        "k1",
		ExpiresAt:    time.Date(2026, 3, 1, 13, 0, 0, 0, time.UTC),
		Data:         []byte(data),
	}
}

// isAnswer reports whether err is one of the answers a Store gives instead of a fault.
func isAnswer(err error) bool {
	for _, answer := range []error{tokencache.ErrNotFound, tokencache.ErrExists, tokencache.ErrChanged} {
		if errors.Is(err, answer) {
			return true
		}
	}
	return false
}
