package storetest

import (
	"bytes"
	"cmp"
	"context"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/addinsso/addinsso/handler/tokencache"
)

// Memory is a tokencache.Store in a map, safe for concurrent use; the zero
// value is empty and ready. Tests use it where a real store adds nothing, and
// Intercept makes it slow or faulty.
type Memory struct {
	mu        sync.Mutex
	rows      map[[2]string]tokencache.Row
	version   uint64
	intercept func(ctx context.Context, method string) error
}

var _ tokencache.Store = (*Memory)(nil)

// Intercept makes f run before every call, with the call's context and method
// name ("Get", "Add", "Replace", "Delete", "DeletePartition" or
// "DeleteExpired"), outside the store's lock. An
// error from f is the call's answer, and f may block to make the store slow.
// Nil removes it.
func (m *Memory) Intercept(f func(ctx context.Context, method string) error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.intercept = f
}

// Len is the number of rows held.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.rows)
}

func (m *Memory) Get(ctx context.Context, partitionKey, rowKey string) (tokencache.Row, error) {
	if err := m.enter(ctx, "Get"); err != nil {
		return tokencache.Row{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.rows[[2]string{partitionKey, rowKey}]
	if !ok {
		return tokencache.Row{}, tokencache.ErrNotFound
	}
	r.Data = bytes.Clone(r.Data)
	return r, nil
}

func (m *Memory) Add(ctx context.Context, r tokencache.Row) error {
	if err := m.enter(ctx, "Add"); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.rows[[2]string{r.PartitionKey, r.RowKey}]; ok {
		return tokencache.ErrExists
	}
	m.store(r)
	return nil
}

func (m *Memory) Replace(ctx context.Context, r tokencache.Row, etag string) error {
	if err := m.enter(ctx, "Replace"); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.match(r.PartitionKey, r.RowKey, etag); err != nil {
		return err
	}
	m.store(r)
	return nil
}

func (m *Memory) Delete(ctx context.Context, partitionKey, rowKey, etag string) error {
	if err := m.enter(ctx, "Delete"); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.match(partitionKey, rowKey, etag); err != nil {
		return err
	}
	delete(m.rows, [2]string{partitionKey, rowKey})
	return nil
}

func (m *Memory) DeletePartition(ctx context.Context, partitionKey string) (int, error) {
	if err := m.enter(ctx, "DeletePartition"); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for k := range m.rows {
		if k[0] == partitionKey {
			delete(m.rows, k)
			n++
		}
	}
	return n, nil
}

func (m *Memory) DeleteExpired(ctx context.Context, before time.Time, limit int) (int, error) {
	if err := m.enter(ctx, "DeleteExpired"); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for k, r := range m.rows {
		if n >= limit {
			break
		}
		// A zero ExpiresAt is a hint the store could not read, as a table's
		// filter skips a property it cannot compare.
		if !r.ExpiresAt.IsZero() && r.ExpiresAt.Before(before) {
			delete(m.rows, k)
			n++
		}
	}
	return n, nil
}

// Rows is a copy of every row held, ordered by partition and row key.
func (m *Memory) Rows() []tokencache.Row {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]tokencache.Row, 0, len(m.rows))
	for _, r := range m.rows {
		r.Data = bytes.Clone(r.Data)
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b tokencache.Row) int {
		return cmp.Or(cmp.Compare(a.PartitionKey, b.PartitionKey), cmp.Compare(a.RowKey, b.RowKey))
	})
	return out
}

// enter runs the interceptor, then fails a call whose context is done, as a
// store across a network would.
func (m *Memory) enter(ctx context.Context, method string) error {
	m.mu.Lock()
	f := m.intercept
	m.mu.Unlock()
	if f != nil {
		if err := f(ctx, method); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// match checks that the row exists and, unless etag is "", is that version.
func (m *Memory) match(partitionKey, rowKey, etag string) error {
	held, ok := m.rows[[2]string{partitionKey, rowKey}]
	switch {
	case !ok:
		return tokencache.ErrNotFound
	case etag != "" && etag != held.ETag:
		return tokencache.ErrChanged
	}
	return nil
}

// store keeps a copy of r as a new version.
func (m *Memory) store(r tokencache.Row) {
	if m.rows == nil {
		m.rows = make(map[[2]string]tokencache.Row)
	}
	m.version++
	r.ETag = strconv.FormatUint(m.version, 10)
	r.Data = bytes.Clone(r.Data)
	m.rows[[2]string{r.PartitionKey, r.RowKey}] = r
}
