package azuretable

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"golang.org/x/sync/errgroup"

	"github.com/addinsso/addinsso/handler/tokencache"
)

const (
	// maxPageSize is the most entities the service lists in one answer.
	maxPageSize = 1000
	// deleters bounds the deletes in flight: one request per row (a batch
	// transaction would need one partition and fail whole on a row deleted
	// meanwhile), run a few at a time, well within Table Storage's targets.
	deleters = 8
)

// DeletePartition removes every row listed in the partition, whatever version
// it is at: signing out removes a row even if it was rewritten meanwhile.
func (s *Store) DeletePartition(ctx context.Context, partitionKey string) (int, error) {
	return s.deleteListed(ctx, "PartitionKey eq "+quote(partitionKey), 0, false)
}

// DeleteExpired removes rows whose ExpiresAt (an Edm.DateTime) is before the
// given time; a row whose ExpiresAt has another type does not match.
// Each delete is conditional on the ETag listed, so a row a Put rewrote with
// a fresh token since stays.
func (s *Store) DeleteExpired(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit < 1 {
		return 0, nil
	}
	return s.deleteListed(ctx, "ExpiresAt lt datetime'"+before.UTC().Format(edmDateTime)+"'", limit, true)
}

// deleteListed lists the rows filter selects, only their keys, and deletes
// each; at most limit of them unless limit is 0. A row gone or changed since
// it was listed is skipped, not counted.
func (s *Store) deleteListed(ctx context.Context, filter string, limit int, conditional bool) (int, error) {
	if err := s.ensureTable(ctx); err != nil {
		return 0, err
	}
	var removed atomic.Int64
	sel := "PartitionKey,RowKey"
	listed := 0
	opts := &aztables.ListEntitiesOptions{Filter: &filter, Select: &sel}
	for {
		top := int32(s.pageSize)
		if limit > 0 {
			top = int32(min(s.pageSize, limit-listed))
		}
		opts.Top = &top
		// A pager per page, so each page asks for no more than is left of limit.
		page, err := s.client.NewListEntitiesPager(opts).NextPage(ctx)
		if err != nil {
			return int(removed.Load()), s.answer(err)
		}
		keys, err := entityKeys(page.Entities)
		if err != nil {
			return int(removed.Load()), err
		}
		listed += len(keys)
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(deleters)
		for _, k := range keys {
			g.Go(func() error {
				etag := ""
				if conditional {
					etag = k.ETag
				}
				err := s.Delete(gctx, k.PartitionKey, k.RowKey, etag)
				switch {
				case err == nil:
					removed.Add(1)
				case errors.Is(err, tokencache.ErrNotFound), errors.Is(err, tokencache.ErrChanged):
				default:
					return err
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return int(removed.Load()), err
		}
		if (limit > 0 && listed >= limit) || (empty(page.NextPartitionKey) && empty(page.NextRowKey)) {
			return int(removed.Load()), nil
		}
		opts.NextPartitionKey, opts.NextRowKey = page.NextPartitionKey, page.NextRowKey
	}
}

// listedKey is an entity as listed with only its keys selected.
type listedKey struct {
	PartitionKey string `json:"PartitionKey"`
	RowKey       string `json:"RowKey"`
	ETag         string `json:"odata.etag"`
}

func entityKeys(entities [][]byte) ([]listedKey, error) {
	keys := make([]listedKey, 0, len(entities))
	for _, body := range entities {
		var k listedKey
		if err := json.Unmarshal(body, &k); err != nil || k.ETag == "" {
			return nil, errors.New("table storage: a listed entity has no keys or ETag")
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// empty reports whether a continuation header is absent: the last page.
func empty(s *string) bool { return s == nil || *s == "" }

// quote makes s an OData string literal.
func quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
