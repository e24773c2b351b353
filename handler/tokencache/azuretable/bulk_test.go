package azuretable

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/addinsso/addinsso/dev/azurite"
	"github.com/addinsso/addinsso/handler/entra"
	"github.com/addinsso/addinsso/handler/tokencache"
)

// TestBulkDeletesCrossPages: both bulk deletes follow the service's
// continuation across pages, and DeleteExpired stops at its limit.
func TestBulkDeletesCrossPages(t *testing.T) {
	t.Parallel()
	tb := newTable(t, azurite.ForTest(t), Options{})
	tb.pageSize = 2
	ctx := context.Background()
	cutoff := time.Date(2026, 3, 1, 13, 0, 0, 0, time.UTC)
	add := func(pk string, i int, exp time.Time) {
		r := testRow("sealed")
		r.PartitionKey, r.RowKey, r.ExpiresAt = pk, fmt.Sprintf("%064x_%064x", i, i), exp
		if err := tb.Add(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	user := func(i int) string {
		return fmt.Sprintf("11111111-1111-4111-8111-111111111111_aaaaaaaa-aaaa-4aaa-8aaa-%012d", i)
	}
	for i := range 7 {
		add(user(0), i, cutoff.Add(time.Hour))
	}
	for i := range 3 {
		add(user(1), i, cutoff.Add(time.Hour))
	}
	if n, err := tb.DeletePartition(ctx, user(0)); err != nil || n != 7 {
		t.Fatalf("DeletePartition over 4 pages = %d, %v; want 7", n, err)
	}
	if n := len(tb.entities(t)); n != 3 {
		t.Fatalf("%d entities left, want the other user's 3", n)
	}

	for i := range 9 {
		add(user(2+i%3), 10+i, cutoff.Add(-time.Duration(i+1)*time.Minute))
	}
	for i, want := range []int{5, 4, 0} {
		if n, err := tb.DeleteExpired(ctx, cutoff, 5); err != nil || n != want {
			t.Fatalf("run %d: DeleteExpired(limit 5) over pages of 2 = %d, %v; want %d", i+1, n, err, want)
		}
	}
	if n := len(tb.entities(t)); n != 3 {
		t.Fatalf("%d entities left, want the 3 live ones", n)
	}
}

// afterList is a transport that runs hook once, after the first answer to a
// query with a $filter (a list, not a point read), before the caller sees it.
type afterList struct {
	base http.RoundTripper
	once sync.Once
	hook func()
}

func (a *afterList) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := a.base.RoundTrip(r)
	if err == nil && r.Method == http.MethodGet && r.URL.Query().Get("$filter") != "" {
		a.once.Do(a.hook)
	}
	return resp, err
}

// TestBulkDeletesMeetConcurrentWriters: between the list and the deletes,
// another instance deletes one listed row and rewrites another. Neither is an
// error or counted; DeleteExpired keeps the rewritten row (it may hold a
// fresh token), DeletePartition removes it (a sign-out means every row).
func TestBulkDeletesMeetConcurrentWriters(t *testing.T) {
	t.Parallel()
	srv := azurite.ForTest(t)
	ctx := context.Background()
	cutoff := time.Date(2026, 3, 1, 13, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		run       func(s *Store, pk string) (int, error)
		want      int  // rows the call reports
		rewritten bool // whether the rewritten row survives
	}{
		{"DeleteExpired", func(s *Store, _ string) (int, error) { return s.DeleteExpired(ctx, cutoff, 100) }, 1, true},
		{"DeletePartition", func(s *Store, pk string) (int, error) { return s.DeletePartition(ctx, pk) }, 2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			transport := &afterList{base: entra.HTTPClient().Transport}
			tb := newTable(t, srv, Options{HTTPClient: &http.Client{Transport: transport}})
			rows := make([]tokencache.Row, 3)
			for i := range rows {
				rows[i] = testRow(fmt.Sprint("row ", i))
				rows[i].RowKey = fmt.Sprintf("%064x_%064x", i, i)
				rows[i].ExpiresAt = cutoff.Add(-time.Minute)
				if err := tb.Add(ctx, rows[i]); err != nil {
					t.Fatal(err)
				}
			}
			deleted, rewritten := rows[0], rows[1]
			transport.hook = func() {
				if _, err := tb.raw.DeleteEntity(ctx, deleted.PartitionKey, deleted.RowKey, nil); err != nil {
					t.Error(err)
				}
				fresh := rewritten
				fresh.ExpiresAt = cutoff.Add(time.Hour)
				if _, err := tb.raw.UpsertEntity(ctx, encode(fresh), &aztables.UpsertEntityOptions{UpdateMode: aztables.UpdateModeReplace}); err != nil {
					t.Error(err)
				}
			}
			n, err := tc.run(tb.Store, rows[0].PartitionKey)
			if err != nil || n != tc.want {
				t.Fatalf("%s = %d, %v; want %d, nil", tc.name, n, err, tc.want)
			}
			_, err = tb.Get(ctx, rewritten.PartitionKey, rewritten.RowKey)
			if survived := err == nil; survived != tc.rewritten {
				t.Fatalf("the row rewritten meanwhile survived: %v, want %v (Get: %v)", survived, tc.rewritten, err)
			}
		})
	}
}

// TestSweepOnAzurite: the cache's Sweep against a real table. Entries end by
// their Graph token or their session, in many partitions; rows of the
// previous layout go too; a row whose expiry is not an Edm.DateTime is
// skipped, not a fault.
func TestSweepOnAzurite(t *testing.T) {
	t.Parallel()
	tb := newTable(t, azurite.ForTest(t), Options{})
	tb.pageSize = 7 // cross pages
	ctx := context.Background()
	l := newLogs(t)
	start := time.Now().UTC().Truncate(time.Second)
	now := start
	opts := tokencache.Options{Logger: l.logger(), Now: func() time.Time { return now }}
	c := newCache(t, tb, opts)
	const users = 30
	var live []tokencache.Key
	for i := range users {
		k := userA
		k.ObjectID = fmt.Sprintf("aaaaaaaa-aaaa-4aaa-8aaa-%012d", i)
		ended, alive := k, k
		ended.Session, ended.SessionExpiresAt = bootstrapToken(fmt.Sprint("ended ", i)), start.Add(20*time.Minute)
		alive.Session = bootstrapToken(fmt.Sprint("alive ", i))
		c.Put(ctx, ended, l.token(start.Add(time.Hour)))
		c.Put(ctx, alive, l.token(start.Add(time.Hour)))
		live = append(live, alive)
	}
	old := testRow("v1 ciphertext")
	old.PartitionKey, old.RowKey, old.ExpiresAt = userA.TenantID, userA.ObjectID+"_"+strings.Repeat("ab", 32), start.Add(10*time.Minute)
	if err := tb.Add(ctx, old); err != nil {
		t.Fatal(err)
	}
	mistyped, _ := json.Marshal(map[string]any{"PartitionKey": "p", "RowKey": "r", "ExpiresAt": "yesterday"})
	if _, err := tb.raw.AddEntity(ctx, mistyped, nil); err != nil {
		t.Fatal(err)
	}

	now = start.Add(30 * time.Minute)
	before := len(tb.entities(t))
	removed, err := c.Sweep(ctx)
	after := len(tb.entities(t))
	t.Logf("Azurite table rows before the sweep: %d, after: %d; Sweep removed %d", before, after, removed)
	if err != nil || removed != users+1 || before != 2*users+2 || after != users+1 {
		t.Fatalf("Sweep = %d, %v with %d rows before and %d after; want %d removed, %d left", removed, err, before, after, users+1, users+1)
	}
	for _, k := range live {
		if _, src, ok := newCache(t, tb, opts).Get(ctx, k); !ok || src != tokencache.Table {
			t.Fatal("Sweep removed a live row")
		}
	}
	if strings.Contains(l.String(), "call failed") {
		t.Fatalf("a sweep was taken for a fault:\n%s", l.String())
	}
}
