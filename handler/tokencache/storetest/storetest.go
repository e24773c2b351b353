// Package storetest is the conformance suite every tokencache.Store passes,
// and Memory, a Store for tests.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/addinsso/addinsso/handler/tokencache"
)

// Run checks that the stores open returns behave as tokencache.Store says.
// open is called once per subtest, which may run in parallel, and must return
// an empty store of its own each time.
func Run(t *testing.T, open func(t *testing.T) tokencache.Store) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		test func(t *testing.T, s tokencache.Store)
	}{
		{"get of a missing row", func(t *testing.T, s tokencache.Store) {
			if _, err := s.Get(ctx, partition, rowKey(0)); !errors.Is(err, tokencache.ErrNotFound) {
				t.Fatalf("Get = %v, want ErrNotFound", err)
			}
		}},
		{"get returns what was added, with an ETag", func(t *testing.T, s tokencache.Store) {
			r := row(partition, rowKey(0), "k1", "first")
			mustAdd(t, s, r)
			got := mustGet(t, s, r)
			if got.ETag == "" {
				t.Fatal("Get returned no ETag")
			}
		}},
		{"add of an existing row", func(t *testing.T, s tokencache.Store) {
			r := row(partition, rowKey(0), "k1", "first")
			mustAdd(t, s, r)
			if err := s.Add(ctx, row(partition, rowKey(0), "k2", "second")); !errors.Is(err, tokencache.ErrExists) {
				t.Fatalf("second Add = %v, want ErrExists", err)
			}
			mustGet(t, s, r)
		}},
		{"replace at the version read", func(t *testing.T, s tokencache.Store) {
			mustAdd(t, s, row(partition, rowKey(0), "k1", "first"))
			read := mustGet(t, s, row(partition, rowKey(0), "k1", "first"))
			next := row(partition, rowKey(0), "k2", "second")
			next.ExpiresAt = next.ExpiresAt.Add(time.Hour)
			if err := s.Replace(ctx, next, read.ETag); err != nil {
				t.Fatalf("Replace = %v", err)
			}
			if got := mustGet(t, s, next); got.ETag == read.ETag {
				t.Fatal("the ETag did not change with the row")
			}
		}},
		{"replace at a stale version", func(t *testing.T, s tokencache.Store) {
			first := row(partition, rowKey(0), "k1", "first")
			mustAdd(t, s, first)
			stale := mustGet(t, s, first).ETag
			second := row(partition, rowKey(0), "k1", "second")
			if err := s.Replace(ctx, second, stale); err != nil {
				t.Fatal(err)
			}
			if err := s.Replace(ctx, row(partition, rowKey(0), "k1", "third"), stale); !errors.Is(err, tokencache.ErrChanged) {
				t.Fatalf("Replace at a stale ETag = %v, want ErrChanged", err)
			}
			mustGet(t, s, second)
		}},
		{"replace of a row deleted since it was read", func(t *testing.T, s tokencache.Store) {
			r := row(partition, rowKey(0), "k1", "first")
			mustAdd(t, s, r)
			etag := mustGet(t, s, r).ETag
			if err := s.Delete(ctx, partition, rowKey(0), ""); err != nil {
				t.Fatal(err)
			}
			if err := s.Replace(ctx, r, etag); !errors.Is(err, tokencache.ErrNotFound) {
				t.Fatalf("Replace = %v, want ErrNotFound", err)
			}
			if _, err := s.Get(ctx, partition, rowKey(0)); !errors.Is(err, tokencache.ErrNotFound) {
				t.Fatalf("Replace brought the row back: Get = %v", err)
			}
		}},
		{"delete of a missing row", func(t *testing.T, s tokencache.Store) {
			r := row(partition, rowKey(0), "k1", "first")
			mustAdd(t, s, r)
			etag := mustGet(t, s, r).ETag
			for _, tag := range []string{"", etag} {
				if err := s.Delete(ctx, partition, rowKey(1), tag); !errors.Is(err, tokencache.ErrNotFound) {
					t.Errorf("Delete(etag %q) of a missing row = %v, want ErrNotFound", tag, err)
				}
			}
		}},
		{"conditional delete", func(t *testing.T, s tokencache.Store) {
			first := row(partition, rowKey(0), "k1", "first")
			mustAdd(t, s, first)
			stale := mustGet(t, s, first).ETag
			second := row(partition, rowKey(0), "k1", "second")
			if err := s.Replace(ctx, second, stale); err != nil {
				t.Fatal(err)
			}
			if err := s.Delete(ctx, partition, rowKey(0), stale); !errors.Is(err, tokencache.ErrChanged) {
				t.Fatalf("Delete at a stale ETag = %v, want ErrChanged", err)
			}
			current := mustGet(t, s, second).ETag
			if err := s.Delete(ctx, partition, rowKey(0), current); err != nil {
				t.Fatalf("Delete at the current ETag = %v", err)
			}
			if _, err := s.Get(ctx, partition, rowKey(0)); !errors.Is(err, tokencache.ErrNotFound) {
				t.Fatalf("after Delete, Get = %v, want ErrNotFound", err)
			}
		}},
		{"unconditional delete", func(t *testing.T, s tokencache.Store) {
			r := row(partition, rowKey(0), "k1", "first")
			mustAdd(t, s, r)
			etag := mustGet(t, s, r).ETag
			if err := s.Replace(ctx, row(partition, rowKey(0), "k1", "second"), etag); err != nil {
				t.Fatal(err)
			}
			if err := s.Delete(ctx, partition, rowKey(0), ""); err != nil {
				t.Fatalf("Delete = %v", err)
			}
			if _, err := s.Get(ctx, partition, rowKey(0)); !errors.Is(err, tokencache.ErrNotFound) {
				t.Fatalf("after Delete, Get = %v, want ErrNotFound", err)
			}
		}},
		{"rows are independent", func(t *testing.T, s tokencache.Store) {
			// Same row key in another partition, another row key in the same one.
			a := row(partition, rowKey(0), "k1", "a")
			b := row(otherPartition, rowKey(0), "k1", "b")
			c := row(partition, rowKey(1), "k1", "c")
			for _, r := range []tokencache.Row{a, b, c} {
				mustAdd(t, s, r)
			}
			newA := row(partition, rowKey(0), "k2", "new a")
			if err := s.Replace(ctx, newA, mustGet(t, s, a).ETag); err != nil {
				t.Fatal(err)
			}
			mustGet(t, s, b)
			mustGet(t, s, c)
			if err := s.Delete(ctx, otherPartition, rowKey(0), ""); err != nil {
				t.Fatal(err)
			}
			mustGet(t, s, newA)
			mustGet(t, s, c)
		}},
		{"binary data round-trips byte for byte", func(t *testing.T, s tokencache.Store) {
			every := make([]byte, 512)
			for i := range every {
				every[i] = byte(i)
			}
			largest := bytes.Repeat([]byte{0xff, 0x00, '"', '\\', 0x80}, tokencache.MaxData/5)
			for i, data := range [][]byte{every, largest, []byte("\x00")} {
				r := row(partition, rowKey(i), "k1", "")
				r.Data = data
				mustAdd(t, s, r)
				mustGet(t, s, r)
			}
		}},
		{"the store keeps its own copy of the data", func(t *testing.T, s tokencache.Store) {
			r := row(partition, rowKey(0), "k1", "kept")
			mustAdd(t, s, r)
			r.Data[0] = 'X' // the caller reuses its slice
			got, err := s.Get(ctx, partition, rowKey(0))
			if err != nil {
				t.Fatal(err)
			}
			got.Data[1] = 'Y' // the caller edits what it read
			mustGet(t, s, row(partition, rowKey(0), "k1", "kept"))
		}},
		{"expiry round-trips to the second", func(t *testing.T, s tokencache.Store) {
			for i, at := range []time.Time{
				time.Date(2026, 3, 1, 12, 30, 15, 0, time.UTC),
				time.Date(2026, 3, 1, 12, 30, 15, 987654321, time.UTC),
				time.Date(2026, 3, 1, 13, 30, 15, 0, time.FixedZone("CET", 3600)),
			} {
				r := row(partition, rowKey(i), "k1", "t")
				r.ExpiresAt = at
				mustAdd(t, s, r)
				mustGet(t, s, r)
			}
		}},
		{"concurrent adds: exactly one wins", func(t *testing.T, s tokencache.Store) {
			results := race(8, func(i int) error {
				return s.Add(ctx, row(partition, rowKey(0), "k1", fmt.Sprint("writer ", i)))
			})
			winner := onlyWinner(t, results, tokencache.ErrExists)
			mustGet(t, s, row(partition, rowKey(0), "k1", fmt.Sprint("writer ", winner)))
		}},
		{"concurrent replaces of one version: exactly one wins", func(t *testing.T, s tokencache.Store) {
			r := row(partition, rowKey(0), "k1", "first")
			mustAdd(t, s, r)
			etag := mustGet(t, s, r).ETag
			results := race(8, func(i int) error {
				return s.Replace(ctx, row(partition, rowKey(0), "k1", fmt.Sprint("writer ", i)), etag)
			})
			winner := onlyWinner(t, results, tokencache.ErrChanged)
			mustGet(t, s, row(partition, rowKey(0), "k1", fmt.Sprint("writer ", winner)))
		}},
		{"delete partition", func(t *testing.T, s tokencache.Store) {
			var mine, others []tokencache.Row
			for i := range 3 {
				mine = append(mine, row(partition, rowKey(i), "k1", fmt.Sprint("mine ", i)))
			}
			// Another user, and one whose key extends this one's: only an
			// exact match is this partition.
			for _, pk := range []string{otherPartition, partition + "0", partition[:len(partition)-1]} {
				others = append(others, row(pk, rowKey(0), "k1", "other "+pk))
			}
			for _, r := range append(append([]tokencache.Row{}, mine...), others...) {
				mustAdd(t, s, r)
			}
			if n, err := s.DeletePartition(ctx, partition); err != nil || n != len(mine) {
				t.Fatalf("DeletePartition = %d, %v; want %d, nil", n, err, len(mine))
			}
			for _, r := range mine {
				if _, err := s.Get(ctx, r.PartitionKey, r.RowKey); !errors.Is(err, tokencache.ErrNotFound) {
					t.Errorf("row %s survived: Get = %v", r.RowKey, err)
				}
			}
			for _, r := range others {
				mustGet(t, s, r)
			}
			if n, err := s.DeletePartition(ctx, partition); err != nil || n != 0 {
				t.Fatalf("second DeletePartition = %d, %v; want 0, nil", n, err)
			}
			if n, err := s.DeletePartition(ctx, "33333333-3333-4333-8333-333333333333_"+user); err != nil || n != 0 {
				t.Fatalf("DeletePartition of a partition never written = %d, %v; want 0, nil", n, err)
			}
			// The partition can be written again.
			mustAdd(t, s, mine[0])
			mustGet(t, s, mine[0])
		}},
		{"delete expired", func(t *testing.T, s tokencache.Store) {
			cutoff := time.Date(2026, 3, 1, 13, 0, 0, 0, time.UTC)
			var expired, live []tokencache.Row
			for i, at := range []time.Duration{-24 * time.Hour, -time.Hour, -time.Second, 0, time.Second, time.Hour} {
				pk := partition
				if i%2 == 1 {
					pk = otherPartition
				}
				r := row(pk, rowKey(i), "k1", fmt.Sprint("row ", i))
				r.ExpiresAt = cutoff.Add(at)
				if at < 0 {
					expired = append(expired, r)
				} else {
					live = append(live, r) // at the cutoff itself is not before it
				}
				mustAdd(t, s, r)
			}
			if n, err := s.DeleteExpired(ctx, cutoff, 100); err != nil || n != len(expired) {
				t.Fatalf("DeleteExpired = %d, %v; want %d, nil", n, err, len(expired))
			}
			for _, r := range expired {
				if _, err := s.Get(ctx, r.PartitionKey, r.RowKey); !errors.Is(err, tokencache.ErrNotFound) {
					t.Errorf("row expiring at %v survived: Get = %v", r.ExpiresAt, err)
				}
			}
			for _, r := range live {
				mustGet(t, s, r)
			}
			if n, err := s.DeleteExpired(ctx, cutoff, 100); err != nil || n != 0 {
				t.Fatalf("second DeleteExpired = %d, %v; want 0, nil", n, err)
			}
			// In another zone, the same instant.
			if n, err := s.DeleteExpired(ctx, cutoff.Add(time.Second).In(time.FixedZone("CET", 3600)), 100); err != nil || n != 1 {
				t.Fatalf("DeleteExpired a second later, in CET = %d, %v; want 1 (the row at the cutoff), nil", n, err)
			}
		}},
		{"delete expired honours its limit", func(t *testing.T, s tokencache.Store) {
			cutoff := time.Date(2026, 3, 1, 13, 0, 0, 0, time.UTC)
			for i := range 7 {
				r := row([]string{partition, otherPartition}[i%2], rowKey(i), "k1", "old")
				r.ExpiresAt = cutoff.Add(-time.Duration(i+1) * time.Minute)
				mustAdd(t, s, r)
			}
			live := row(partition, rowKey(99), "k1", "live")
			live.ExpiresAt = cutoff.Add(time.Hour)
			mustAdd(t, s, live)
			for i, want := range []int{3, 3, 1, 0} {
				if n, err := s.DeleteExpired(ctx, cutoff, 3); err != nil || n != want {
					t.Fatalf("run %d: DeleteExpired(limit 3) = %d, %v; want %d, nil", i+1, n, err, want)
				}
			}
			mustGet(t, s, live)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.test(t, open(t))
		})
	}
}

// Keys shaped like the cache's: tenant and object IDs for the partition, the
// hashes of a scope set and of a session for the row.
const (
	user           = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
	partition      = "11111111-1111-4111-8111-111111111111_" + user
	otherPartition = "11111111-1111-4111-8111-111111111111_bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"
)

func rowKey(i int) string {
	return strings.Repeat("0123456789abcdef", 4) + "_" + fmt.Sprintf("%064x", i)
}

func row(pk, rk, keyID, data string) tokencache.Row {
	return tokencache.Row{
		PartitionKey: pk,
		RowKey:       rk,
		KeyID:        keyID,
		ExpiresAt:    time.Date(2026, 3, 1, 13, 0, 0, 0, time.UTC),
		Data:         []byte(data),
	}
}

func mustAdd(t *testing.T, s tokencache.Store, r tokencache.Row) {
	t.Helper()
	if err := s.Add(context.Background(), r); err != nil {
		t.Fatalf("Add(%s, %s) = %v", r.PartitionKey, r.RowKey, err)
	}
}

// mustGet reads want's row and checks it holds what want does.
func mustGet(t *testing.T, s tokencache.Store, want tokencache.Row) tokencache.Row {
	t.Helper()
	got, err := s.Get(context.Background(), want.PartitionKey, want.RowKey)
	switch {
	case err != nil:
		t.Fatalf("Get(%s, %s) = %v", want.PartitionKey, want.RowKey, err)
	case got.PartitionKey != want.PartitionKey || got.RowKey != want.RowKey:
		t.Fatalf("Get(%s, %s) returned row (%s, %s)", want.PartitionKey, want.RowKey, got.PartitionKey, got.RowKey)
	case got.KeyID != want.KeyID:
		t.Fatalf("KeyID = %q, want %q", got.KeyID, want.KeyID)
	case !bytes.Equal(got.Data, want.Data):
		t.Fatalf("Data = %d bytes %.40q, want %d bytes %.40q", len(got.Data), got.Data, len(want.Data), want.Data)
	case got.ExpiresAt.Sub(want.ExpiresAt).Abs() >= time.Second:
		t.Fatalf("ExpiresAt = %v, want %v", got.ExpiresAt, want.ExpiresAt)
	}
	return got
}

// race runs f(0) … f(n-1) at once and returns their results by index.
func race(n int, f func(i int) error) []error {
	results := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			results[i] = f(i)
		})
	}
	close(start)
	wg.Wait()
	return results
}

// onlyWinner checks that exactly one result is nil and every other is lost,
// and returns the winner's index.
func onlyWinner(t *testing.T, results []error, lost error) int {
	t.Helper()
	winner := -1
	for i, err := range results {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("writers %d and %d both won", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, lost):
			t.Fatalf("writer %d: %v, want %v", i, err, lost)
		}
	}
	if winner < 0 {
		t.Fatal("no writer won")
	}
	return winner
}
