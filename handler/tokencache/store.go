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

	// DeletePartition removes every row of the partition, whatever it holds,
	// and returns how many it removed: signing a user out removes their every
	// row at once. A partition with no rows is no error. Rows removed by
	// someone else meanwhile are not errors and are not counted. On an error
	// the count is of the rows removed before it.
	DeletePartition(ctx context.Context, partitionKey string) (int, error)
	// DeleteExpired removes at most limit (at least 1) rows, in any partition,
	// whose ExpiresAt is before before (rows without one stay), and returns how many it removed, so rows
	// nobody reads again do not pile up. A row written again since it was
	// found stays, and rows removed by someone else meanwhile are not errors
	// and are not counted. On an error the count is of the rows removed
	// before it.
	DeleteExpired(ctx context.Context, before time.Time, limit int) (int, error)
}

// Row is one cached token as a Store keeps it. Keys are made of hexadecimal
// digits, '-' and '_' only, and are at most 129 bytes long.
type Row struct {
	// PartitionKey is the user: tenant ID + "_" + object ID, so all of a
	// user's rows can be found and removed at once.
	PartitionKey string
	// RowKey is hex SHA-256 of the canonical scope set + "_" + hex
	// HMAC-SHA256 of the session's bootstrap token under a key derived from
	// the sealing key: no token can be found or checked against it without
	// that key. (The scope sets are the app's configured ones, no secret.)
	RowKey string
	KeyID  string // ID of the key that sealed Data
	// ExpiresAt is in the clear, so expired rows are recognised without a key
	// and deleted (lazily when read, in bulk by DeleteExpired), whether or not
	// the store expires rows itself. It is only a hint: a hit trusts the
	// expiry sealed in Data. Zero means the store could not read it.
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
