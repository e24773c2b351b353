package tokencache

import (
	"context"
	"fmt"
	"strings"

	"github.com/addinsso/addinsso/handler/entra"
)

// PurgeUser removes every entry of the user, whatever the session or scope
// set: this instance's memory entries and every row of the user's partition
// in the Store. A sign-out calls it, so unlike Get and Put it reports when the
// Store could not be reached, or ctx ended first (the caller's deadline bounds
// it, since a user may have many rows), and it does not wait out a pause
// after a fault. Other instances' memory entries stay until they expire, at
// the latest with the session they were exchanged for.
//
// An exchange in flight when PurgeUser runs may still store its token
// afterwards, under its own session.
func (c *Cache) PurgeUser(ctx context.Context, tenantID, objectID string) error {
	switch {
	case !entra.IsGUID(tenantID):
		return fmt.Errorf("token cache: purge user: %w", errTenant)
	case !entra.IsGUID(objectID):
		return fmt.Errorf("token cache: purge user: %w", errObject)
	}
	tenant, object := strings.ToLower(tenantID), strings.ToLower(objectID)
	dropped := c.mem.DeleteFunc(func(e entryKey) bool { return e.tenant == tenant && e.object == object })
	if c.shared == nil {
		c.log.DebugContext(ctx, "token cache: user purged", "memory_entries", dropped)
		return nil
	}
	rows, err := c.shared.store.DeletePartition(ctx, userPartition(tenant, object))
	c.shared.report(ctx, err)
	if err != nil {
		return fmt.Errorf("token cache: purge user: %d rows removed, then: %w", rows, err)
	}
	c.log.DebugContext(ctx, "token cache: user purged", "memory_entries", dropped, "rows", rows)
	return nil
}

// Sweep removes the rows, in every partition, whose clear expiry is within
// the margin of now: rows no Get would serve any more (Get deletes such a row
// when it meets one; Sweep finds the ones nobody asks for again, such as an
// ended session's). It also drops this instance's expired memory entries. It
// removes at most Options.SweepLimit rows per call, and stops when ctx ends;
// removed counts rows only. A timer calls it every few minutes, so the table
// holds little more than the live entries. Like PurgeUser it reports a Store
// fault, and does not wait out a pause.
//
// A row whose expiry the Store could not read is not swept; Put replaces it.
func (c *Cache) Sweep(ctx context.Context) (removed int, err error) {
	now := c.now()
	dropped := c.mem.DeleteExpired(now) // memory entries expire at their end minus the margin already
	if c.shared == nil {
		c.log.DebugContext(ctx, "token cache: swept", "memory_entries", dropped)
		return 0, nil
	}
	removed, err = c.shared.store.DeleteExpired(ctx, now.Add(c.margin), c.sweepLimit)
	c.shared.report(ctx, err)
	if err != nil {
		return removed, fmt.Errorf("token cache: sweep: %d rows removed, then: %w", removed, err)
	}
	c.log.InfoContext(ctx, "token cache: swept expired entries", "rows", removed, "memory_entries", dropped, "limit_reached", removed == c.sweepLimit)
	return removed, nil
}
