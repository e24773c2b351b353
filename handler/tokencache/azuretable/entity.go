package azuretable

import (
	"encoding/json"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/addinsso/addinsso/handler/tokencache"
)

// entity is a row as the service holds it, with the OData types it needs.
type entity struct {
	PartitionKey  string `json:"PartitionKey"`
	RowKey        string `json:"RowKey"`
	KeyID         string `json:"KeyID"`
	ExpiresAtType string `json:"ExpiresAt@odata.type"`
	ExpiresAt     string `json:"ExpiresAt"`
	DataType      string `json:"Data@odata.type"`
	Data          []byte `json:"Data"`
}

// Edm.DateTime allows at most seven fractional digits.
const edmDateTime = "2006-01-02T15:04:05.0000000Z"

func encode(r tokencache.Row) []byte {
	body, err := json.Marshal(entity{
		PartitionKey:  r.PartitionKey,
		RowKey:        r.RowKey,
		KeyID:         r.KeyID,
		ExpiresAtType: "Edm.DateTime",
		ExpiresAt:     r.ExpiresAt.UTC().Format(edmDateTime),
		DataType:      "Edm.Binary",
		Data:          r.Data,
	})
	if err != nil {
		panic(err) // strings and bytes always marshal
	}
	return body
}

// decode reads an entity as the SDK returns it. A property of the wrong type
// (a row edited by hand, or tampered with) reads as empty, so the cache sees
// a row that does not open (a miss it then overwrites) rather than a fault
// that would pause it.
func decode(body []byte, etag azcore.ETag) tokencache.Row {
	var e entity
	_ = json.Unmarshal(body, &e) // carries on past a mistyped property, leaving it empty
	r := tokencache.Row{PartitionKey: e.PartitionKey, RowKey: e.RowKey, KeyID: e.KeyID, ETag: string(etag)}
	if exp, err := time.Parse(time.RFC3339Nano, e.ExpiresAt); err == nil && e.ExpiresAtType == "Edm.DateTime" {
		r.ExpiresAt = exp
	}
	if e.DataType == "Edm.Binary" {
		r.Data = e.Data
	}
	return r
}
