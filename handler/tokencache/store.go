package tokencache

import (
	"context"
	"errors"
	"time"
)

// Store is where sealed rows live, shared by every instance of the app.
// Implementations answer with the sentinel errors below; any other error is a
// fault, which the cache logs (so its text must never hold a row's URL, a
// token or a credential) before leaving the store alone for a while.
//
// A Store makes no network call when built: it creates its table, container
// or keyspace itself, on first use.
type Store interface {
	// Get returns the row, with the ETag of the version read, or ErrNotFound.
	Get(ctx context.Context, partitionKey, rowKey string) (Row, error)
	// Add writes a new row, or returns ErrExists if there is one already.
	Add(ctx context.Context, r Row) error
	// Replace overwrites the row only if it is still the version etag names
	// (as Get returned it): ErrChanged if it was written since, ErrNotFound if
	// it is gone.
	Replace(ctx context.Context, r Row, etag string) error
	// Delete removes the row: whatever it holds when etag is "", else only the
	// version etag names (ErrChanged otherwise). ErrNotFound if it is gone.
	Delete(ctx context.Context, partitionKey, rowKey, etag string) error
}

// Row is one cached token as a Store keeps it. Keys are made of hexadecimal
// digits, '-' and '_' only, and are at most 101 bytes long.
type Row struct {
	PartitionKey string // tenant ID
	RowKey       string // object ID + "_" + hex SHA-256 of the canonical scope set
	KeyID        string // ID of the key that sealed Data
	// ExpiresAt is in the clear, so expired rows are recognised without a key
	// and deleted lazily, whether or not the store expires rows itself. It is
	// only a hint: a hit trusts the expiry sealed in Data. Zero means the
	// store could not read it.
	ExpiresAt time.Time
	// Data is nonce || AES-256-GCM ciphertext || tag, with additional data
	// binding it to PartitionKey, RowKey and KeyID; at most MaxData bytes.
	Data []byte
	ETag string // the version read; set by Get, ignored by Add and Replace
}

// MaxData bounds Row.Data; every Store must hold this much. It fits Table
// Storage's 64 KiB per binary property, and a MaxAccessTokenBytes token with
// its scopes fits it easily.
const MaxData = 60 << 10

// The answers a Store gives instead of a fault.
var (
	ErrNotFound = errors.New("tokencache: no such row")
	ErrExists   = errors.New("tokencache: the row exists already")
	ErrChanged  = errors.New("tokencache: the row changed since it was read")
)
