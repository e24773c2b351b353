package tokencache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// tableStore is the Table Storage level.
//
// A row:
//
//	PartitionKey  tenant ID
//	RowKey        object ID + "_" + hex SHA-256 of the canonical scope set
//	KeyID         ID of the key that sealed Data
//	ExpiresAt     Edm.DateTime, in the clear: Table Storage has no TTL, so
//	              expired rows are recognised without a key and deleted lazily
//	Data          Edm.Binary: nonce || AES-256-GCM(sealedToken) || tag, with
//	              additional data binding it to PartitionKey, RowKey and KeyID
//
// ExpiresAt in the clear is only a hint for deletion; a hit trusts the expiry
// sealed inside Data.
type tableStore struct {
	client  *aztables.Client
	seal    *sealer
	log     *slog.Logger
	now     func() time.Time
	margin  time.Duration
	timeout time.Duration

	createMu sync.Mutex
	created  atomic.Bool

	// After a fault the table is left alone until downUntil, with the pause
	// doubling on each consecutive fault, so a dead or throttling table costs
	// one slow call per pause rather than one per request.
	mu        sync.Mutex
	downUntil time.Time
	pause     time.Duration
}

const (
	minPause = time.Second
	maxPause = 30 * time.Second
	// maxBlob bounds a sealed token, within Table Storage's 64 KiB per
	// binary property; a MaxAccessTokenBytes JWT with its scopes fits easily.
	maxBlob = 60 << 10
	// maxWriteAttempts bounds the add/read/replace loop when instances race.
	maxWriteAttempts = 3
)

// sealedToken is the plaintext sealed in Data.
type sealedToken struct {
	AccessToken string    `json:"t"`
	ExpiresAt   time.Time `json:"e"`
	Scopes      []string  `json:"s,omitempty"`
}

// entity is a row as written (with the OData types the service needs) and as read.
type entity struct {
	PartitionKey  string `json:"PartitionKey"`
	RowKey        string `json:"RowKey"`
	KeyID         string `json:"KeyID"`
	ExpiresAtType string `json:"ExpiresAt@odata.type,omitempty"`
	ExpiresAt     string `json:"ExpiresAt"`
	DataType      string `json:"Data@odata.type,omitempty"`
	Data          []byte `json:"Data"`
}

// Edm.DateTime allows at most seven fractional digits.
const edmDateTime = "2006-01-02T15:04:05.0000000Z"

func (ts *tableStore) get(ctx context.Context, e entryKey, now time.Time) (Token, bool) {
	parent := ctx
	ctx, cancel, ok := ts.begin(parent)
	defer cancel()
	if !ok {
		return Token{}, false
	}
	pk, rk := e.rowKeys()
	resp, err := ts.client.GetEntity(ctx, pk, rk, nil)
	switch {
	case entityMissing(err):
		ts.recovered()
		return Token{}, false
	case err != nil:
		ts.fault(parent, "read row", err)
		return Token{}, false
	}
	ts.recovered()
	var row entity
	if err := json.Unmarshal(resp.Value, &row); err != nil {
		ts.log.WarnContext(ctx, "token cache: unreadable row, treated as a miss", "reason", "not an entity")
		return Token{}, false
	}
	if exp, err := time.Parse(time.RFC3339Nano, row.ExpiresAt); err == nil && !now.Before(exp.Add(-ts.margin)) {
		ts.deleteStale(ctx, parent, pk, rk, resp.ETag)
		return Token{}, false
	}
	t, err := ts.open(pk, rk, row)
	if err != nil {
		ts.log.WarnContext(ctx, "token cache: row does not decrypt, treated as a miss", "key_id", row.KeyID, "reason", err.Error())
		return Token{}, false
	}
	if !now.Before(t.ExpiresAt.Add(-ts.margin)) {
		return Token{}, false
	}
	return t, true
}

func (ts *tableStore) open(pk, rk string, row entity) (Token, error) {
	if len(row.Data) > maxBlob {
		return Token{}, errors.New("ciphertext too large")
	}
	plain, err := ts.seal.open(pk, rk, row.KeyID, row.Data)
	if err != nil {
		return Token{}, err
	}
	var s sealedToken
	if err := json.Unmarshal(plain, &s); err != nil || s.AccessToken == "" || s.ExpiresAt.IsZero() {
		return Token{}, errors.New("sealed token is malformed")
	}
	return Token(s), nil
}

// deleteStale removes an expired row, but only the version that was read: if
// another instance has refreshed it since, the ETag no longer matches and the
// fresh token stays.
func (ts *tableStore) deleteStale(ctx, parent context.Context, pk, rk string, etag azcore.ETag) {
	_, err := ts.client.DeleteEntity(ctx, pk, rk, &aztables.DeleteEntityOptions{IfMatch: &etag})
	if err != nil && !entityMissing(err) && status(err) != http.StatusPreconditionFailed {
		ts.fault(parent, "delete expired row", err)
	}
}

// put writes t unless the row already holds a token that lives as long or
// longer. Instances race safely: AddEntity fails if the row exists; then the
// row is read and replaced only if the write is newer, conditional on the
// ETag read, so a concurrent writer's row is never overwritten unseen.
func (ts *tableStore) put(ctx context.Context, e entryKey, t Token) {
	parent := ctx
	ctx, cancel, ok := ts.begin(parent)
	defer cancel()
	if !ok {
		return
	}
	pk, rk := e.rowKeys()
	body, ok := ts.sealRow(pk, rk, t)
	if !ok {
		ts.log.WarnContext(ctx, "token cache: token too large for a row; kept in memory only")
		return
	}
	add := true
	for range maxWriteAttempts {
		if add {
			_, err := ts.client.AddEntity(ctx, body, nil)
			if err == nil {
				ts.recovered()
				return
			}
			if status(err) != http.StatusConflict {
				ts.fault(parent, "add row", err)
				return
			}
		}
		resp, err := ts.client.GetEntity(ctx, pk, rk, nil)
		if entityMissing(err) {
			add = true // deleted since: add again
			continue
		}
		if err != nil {
			ts.fault(parent, "read row before replacing it", err)
			return
		}
		var row entity
		if json.Unmarshal(resp.Value, &row) == nil {
			if old, err := ts.open(pk, rk, row); err == nil && !old.ExpiresAt.Before(t.ExpiresAt) {
				return // the row already holds a token living at least as long
			}
		}
		// The row is older, stale, or unreadable (tampered, or sealed with a
		// retired key): replace it, but only as it was when read.
		etag := resp.ETag
		_, err = ts.client.UpdateEntity(ctx, body, &aztables.UpdateEntityOptions{IfMatch: &etag, UpdateMode: aztables.UpdateModeReplace})
		switch {
		case err == nil:
			ts.recovered()
			return
		case status(err) == http.StatusPreconditionFailed:
			add = false // another instance wrote it meanwhile: read it again
		case entityMissing(err):
			add = true
		default:
			ts.fault(parent, "replace row", err)
			return
		}
	}
	ts.log.DebugContext(ctx, "token cache: row contended, leaving it to the other writers")
}

// sealRow builds the entity for t, or reports false if the sealed token
// would not fit the Data column.
func (ts *tableStore) sealRow(pk, rk string, t Token) ([]byte, bool) {
	plain, err := json.Marshal(sealedToken(t))
	if err != nil {
		panic(err) // strings, a time and a slice always marshal
	}
	keyID, blob := ts.seal.seal(pk, rk, plain)
	if len(blob) > maxBlob {
		return nil, false
	}
	body, err := json.Marshal(entity{
		PartitionKey:  pk,
		RowKey:        rk,
		KeyID:         keyID,
		ExpiresAtType: "Edm.DateTime",
		ExpiresAt:     t.ExpiresAt.UTC().Format(edmDateTime),
		DataType:      "Edm.Binary",
		Data:          blob,
	})
	if err != nil {
		panic(err)
	}
	return body, true
}

// begin bounds one operation by the store's timeout and makes sure the table
// exists; ok is false when Table Storage is to be skipped for now.
func (ts *tableStore) begin(parent context.Context) (ctx context.Context, cancel context.CancelFunc, ok bool) {
	if !ts.available() {
		return parent, func() {}, false
	}
	ctx, cancel = context.WithTimeout(parent, ts.timeout)
	if !ts.ensureTable(ctx, parent) {
		cancel()
		return parent, func() {}, false
	}
	return ctx, cancel, true
}

// delete removes e's row. With the token this instance served it removes the
// row only while the row holds that token (or cannot be read), conditional on
// the ETag read; without one it removes the row unconditionally.
func (ts *tableStore) delete(ctx context.Context, e entryKey, served string) {
	parent := ctx
	ctx, cancel, ok := ts.begin(parent)
	defer cancel()
	if !ok {
		return
	}
	pk, rk := e.rowKeys()
	opts := &aztables.DeleteEntityOptions{} // IfMatch nil: any version
	if served != "" {
		resp, err := ts.client.GetEntity(ctx, pk, rk, nil)
		switch {
		case entityMissing(err):
			ts.recovered()
			return
		case err != nil:
			ts.fault(parent, "read row before deleting it", err)
			return
		}
		var row entity
		if json.Unmarshal(resp.Value, &row) == nil {
			if t, err := ts.open(pk, rk, row); err == nil && t.AccessToken != served {
				ts.recovered()
				return // another instance has stored a fresh token since
			}
		}
		opts.IfMatch = &resp.ETag
	}
	_, err := ts.client.DeleteEntity(ctx, pk, rk, opts)
	if err != nil && !entityMissing(err) && status(err) != http.StatusPreconditionFailed {
		ts.fault(parent, "delete row", err)
		return
	}
	ts.recovered()
}

// ensureTable creates the table on first use, not in New, so start-up makes
// no network call. A failure is a fault like any other and is retried after
// the pause.
func (ts *tableStore) ensureTable(ctx, parent context.Context) bool {
	if ts.created.Load() {
		return true
	}
	ts.createMu.Lock()
	defer ts.createMu.Unlock()
	if ts.created.Load() {
		return true
	}
	if !ts.available() { // a concurrent caller just failed: do not queue up behind it
		return false
	}
	_, err := ts.client.CreateTable(ctx, nil)
	switch {
	case err == nil, errorCode(err) == string(aztables.TableAlreadyExists):
	case status(err) == http.StatusForbidden:
		// An identity allowed to use rows but not to create tables: the
		// deployment (Bicep) creates the table, so go on and let row calls tell.
		ts.log.WarnContext(parent, "token cache: not allowed to create the table; assuming the deployment created it", "error", describe(err))
	default:
		ts.fault(parent, "create table", err)
		return false
	}
	ts.created.Store(true)
	return true
}

func (ts *tableStore) available() bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return !ts.now().Before(ts.downUntil)
}

// fault logs err and pauses the table level. A caller that went away is not
// the table's fault; a table deleted under us is created again after the pause.
func (ts *tableStore) fault(parent context.Context, op string, err error) {
	if parent.Err() != nil {
		ts.log.DebugContext(parent, "token cache: request ended during a table call", "op", op)
		return
	}
	if errorCode(err) == string(aztables.TableNotFound) {
		ts.created.Store(false)
	}
	ts.mu.Lock()
	ts.pause = min(max(2*ts.pause, minPause), maxPause)
	ts.downUntil = ts.now().Add(ts.pause)
	pause := ts.pause
	ts.mu.Unlock()
	ts.log.WarnContext(parent, "token cache: Table Storage call failed; using memory only for a while",
		"op", op, "error", describe(err), "pause", pause.String())
}

// recovered ends the pause schedule after a successful call.
func (ts *tableStore) recovered() {
	ts.mu.Lock()
	was := ts.pause
	ts.pause = 0
	ts.mu.Unlock()
	if was != 0 {
		ts.log.Info("token cache: Table Storage is answering again")
	}
}

func status(err error) int {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	return 0
}

func errorCode(err error) string {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return ""
}

// entityMissing is a 404 for the row itself, a plain miss; a 404 for the
// table (TableNotFound) is a fault.
func entityMissing(err error) bool {
	return err != nil && status(err) == http.StatusNotFound && errorCode(err) != string(aztables.TableNotFound)
}

// describe summarises err for the log without the request URL, which names
// the user's row.
func describe(err error) string {
	var re *azcore.ResponseError
	switch {
	case errors.As(err, &re):
		if re.ErrorCode != "" {
			return fmt.Sprintf("HTTP %d %s (%s)", re.StatusCode, http.StatusText(re.StatusCode), re.ErrorCode)
		}
		return fmt.Sprintf("HTTP %d %s", re.StatusCode, http.StatusText(re.StatusCode))
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}
