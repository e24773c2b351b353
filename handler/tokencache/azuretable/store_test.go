package azuretable

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/addinsso/addinsso/dev/azurite"
	"github.com/addinsso/addinsso/handler/tokencache"
	"github.com/addinsso/addinsso/handler/tokencache/storetest"
)

// TestConformance runs the Store suite against a real Azurite, each subtest
// on its own table.
func TestConformance(t *testing.T) {
	t.Parallel()
	srv := azurite.ForTest(t)
	storetest.Run(t, func(t *testing.T) tokencache.Store { return newTable(t, srv, Options{}) })
}

// TestEntityLayout: a row is one entity holding the Row's fields and nothing
// else, typed so the service keeps them exactly.
func TestEntityLayout(t *testing.T) {
	t.Parallel()
	tb := newTable(t, azurite.ForTest(t), Options{})
	r := testRow("\x00sealed\xff")
	if err := tb.Add(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	got := tb.entities(t)
	if len(got) != 1 {
		t.Fatalf("%d entities, want 1", len(got))
	}
	var e map[string]any
	if err := json.Unmarshal(got[0], &e); err != nil {
		t.Fatal(err)
	}
	var columns []string
	for col := range maps.Keys(e) {
		if !strings.Contains(col, "@odata") && !strings.HasPrefix(col, "odata.") {
			columns = append(columns, col)
		}
	}
	slices.Sort(columns)
	if want := []string{"Data", "ExpiresAt", "KeyID", "PartitionKey", "RowKey", "Timestamp"}; !slices.Equal(columns, want) {
		t.Errorf("columns %v, want %v", columns, want)
	}
	if e["Data@odata.type"] != "Edm.Binary" || e["ExpiresAt@odata.type"] != "Edm.DateTime" {
		t.Errorf("Data is %v and ExpiresAt %v; want Edm.Binary and Edm.DateTime", e["Data@odata.type"], e["ExpiresAt@odata.type"])
	}
	if data, _ := base64.StdEncoding.DecodeString(e["Data"].(string)); !bytes.Equal(data, r.Data) {
		t.Errorf("Data = %q, want %q", data, r.Data)
	}
	if e["PartitionKey"] != r.PartitionKey || e["RowKey"] != r.RowKey || e["KeyID"] != r.KeyID {
		t.Errorf("keys: %v %v %v", e["PartitionKey"], e["RowKey"], e["KeyID"])
	}
}

// TestMistypedEntity: an entity edited by hand with properties of the wrong
// type reads as a row that does not open, not as a fault: the cache answers a
// miss, and its next Put replaces the row.
func TestMistypedEntity(t *testing.T) {
	t.Parallel()
	tb := newTable(t, azurite.ForTest(t), Options{})
	ctx := context.Background()
	l := newLogs(t)
	now := time.Now()
	opts := tokencache.Options{Logger: l.logger(), Now: func() time.Time { return now }}
	newCache(t, tb, opts).Put(ctx, userA, l.token(now.Add(time.Hour)))
	rows := tb.entities(t)
	if len(rows) != 1 {
		t.Fatalf("%d entities, want 1", len(rows))
	}
	var e map[string]any
	if err := json.Unmarshal(rows[0], &e); err != nil {
		t.Fatal(err)
	}
	edited := map[string]any{
		"PartitionKey": e["PartitionKey"],
		"RowKey":       e["RowKey"],
		"KeyID":        7,          // Edm.Int32
		"ExpiresAt":    "tomorrow", // Edm.String
		"Data":         "garbage",  // Edm.String
	}
	body, _ := json.Marshal(edited)
	if _, err := tb.raw.UpsertEntity(ctx, body, &aztables.UpsertEntityOptions{UpdateMode: aztables.UpdateModeReplace}); err != nil {
		t.Fatal(err)
	}
	r, err := tb.Get(ctx, e["PartitionKey"].(string), e["RowKey"].(string))
	if err != nil {
		t.Fatalf("Get of a mistyped entity = %v, want the row", err)
	}
	if r.KeyID != "" || len(r.Data) != 0 || !r.ExpiresAt.IsZero() || r.ETag == "" {
		t.Fatalf("mistyped properties read as %+v; want them empty, with an ETag", r)
	}
	if _, _, ok := newCache(t, tb, opts).Get(ctx, userA); ok {
		t.Fatal("a mistyped entity answered a hit")
	}
	fresh := l.token(now.Add(2 * time.Hour))
	newCache(t, tb, opts).Put(ctx, userA, fresh)
	if got, src, ok := newCache(t, tb, opts).Get(ctx, userA); !ok || src != tokencache.Table || got.AccessToken != fresh.AccessToken {
		t.Fatalf("after a Put the row still does not answer: %v %q\n%s", ok, src, l.String())
	}
}
