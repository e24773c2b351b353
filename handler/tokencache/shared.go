package tokencache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/addinsso/addinsso/handler/entra"
)

// sharedLevel keeps sealed tokens in a Store, one Row per entry.
type sharedLevel struct {
	store   Store
	seal    *sealer
	log     *slog.Logger
	now     func() time.Time
	margin  time.Duration
	timeout time.Duration
	backoff backoff
}

// maxWriteAttempts bounds the add/read/replace loop when instances race.
const maxWriteAttempts = 3

// sealedToken is the plaintext sealed in Row.Data.
type sealedToken struct {
	AccessToken string    `json:"t"`
	ExpiresAt   time.Time `json:"e"` // the Graph token's, as callers see it
	Until       time.Time `json:"u"` // the entry's: the earlier of ExpiresAt and the session's expiry
	Scopes      []string  `json:"s,omitempty"`
}

// get returns the token e's row holds, and until when the entry lives.
// answered is false when the store could not be asked or failed: then a miss
// says nothing about the row.
func (s *sharedLevel) get(ctx context.Context, e entryKey, now time.Time) (tok entra.Token, until time.Time, hit, answered bool) {
	pk, rk := e.rowKeys()
	answered = s.run(ctx, func(ctx context.Context) error {
		row, err := s.store.Get(ctx, pk, rk)
		switch {
		case errors.Is(err, ErrNotFound):
			return nil
		case err != nil:
			return fmt.Errorf("read row: %w", err)
		case !row.ExpiresAt.IsZero() && !now.Before(row.ExpiresAt.Add(-s.margin)):
			// Only the version read: a token another instance stored since stays.
			return s.remove(ctx, "delete expired row", pk, rk, row.ETag)
		}
		t, err := s.open(pk, rk, row)
		if err != nil {
			s.log.WarnContext(ctx, "token cache: row does not decrypt, treated as a miss", "key_id", row.KeyID, "reason", err.Error())
			return nil
		}
		if now.Before(t.Until.Add(-s.margin)) {
			tok, until, hit = t.token(), t.Until, true
		}
		return nil
	})
	return tok, until, hit, answered
}

// put writes t, to live until until, unless the row already holds an entry
// that lives as long or longer. Instances race safely: Add fails if the row
// exists; then the row is read and replaced only if the write is newer,
// conditional on the ETag read, so a concurrent writer's row is never
// overwritten unseen.
func (s *sharedLevel) put(ctx context.Context, e entryKey, t entra.Token, until time.Time) {
	pk, rk := e.rowKeys()
	row, ok := s.sealRow(pk, rk, t, until)
	if !ok {
		s.log.WarnContext(ctx, "token cache: token too large for a row; not cached")
		return
	}
	s.run(ctx, func(ctx context.Context) error {
		add := true
		for range maxWriteAttempts {
			if add {
				err := s.store.Add(ctx, row)
				if err == nil {
					return nil
				}
				if !errors.Is(err, ErrExists) {
					return fmt.Errorf("add row: %w", err)
				}
			}
			held, err := s.store.Get(ctx, pk, rk)
			if errors.Is(err, ErrNotFound) {
				add = true // deleted since: add again
				continue
			}
			if err != nil {
				return fmt.Errorf("read row before replacing it: %w", err)
			}
			if old, err := s.open(pk, rk, held); err == nil && !old.Until.Before(until) {
				return nil // the row already holds an entry living at least as long
			}
			// The row is older, stale, or unreadable (tampered, or sealed with a
			// retired key): replace it, but only as it was when read.
			err = s.store.Replace(ctx, row, held.ETag)
			switch {
			case err == nil:
				return nil
			case errors.Is(err, ErrChanged):
				add = false // another instance wrote it meanwhile: read it again
			case errors.Is(err, ErrNotFound):
				add = true
			default:
				return fmt.Errorf("replace row: %w", err)
			}
		}
		s.log.DebugContext(ctx, "token cache: row contended, leaving it to the other writers")
		return nil
	})
}

// delete removes e's row. With the token this instance served it removes the
// row only while the row holds that token (or cannot be read), conditional on
// the ETag read; without one it removes the row unconditionally.
func (s *sharedLevel) delete(ctx context.Context, e entryKey, served string) {
	pk, rk := e.rowKeys()
	s.run(ctx, func(ctx context.Context) error {
		etag := "" // any version
		if served != "" {
			row, err := s.store.Get(ctx, pk, rk)
			switch {
			case errors.Is(err, ErrNotFound):
				return nil
			case err != nil:
				return fmt.Errorf("read row before deleting it: %w", err)
			}
			if t, err := s.open(pk, rk, row); err == nil && t.AccessToken != served {
				return nil // another instance has stored a fresh token since
			}
			etag = row.ETag
		}
		return s.remove(ctx, "delete row", pk, rk, etag)
	})
}

// remove deletes a row, only the version etag names unless etag is "". A row
// gone or changed meanwhile is no fault: someone else has dealt with it.
func (s *sharedLevel) remove(ctx context.Context, op, pk, rk, etag string) error {
	err := s.store.Delete(ctx, pk, rk, etag)
	if err == nil || errors.Is(err, ErrNotFound) || errors.Is(err, ErrChanged) {
		return nil
	}
	return fmt.Errorf("%s: %w", op, err)
}

// run does one operation on the store within the timeout, unless the store is
// paused, and reports whether it ran and succeeded. An error from op is a
// fault: logged, and the store is paused.
func (s *sharedLevel) run(parent context.Context, op func(ctx context.Context) error) bool {
	if !s.backoff.ready(s.now()) {
		return false
	}
	ctx, cancel := context.WithTimeout(parent, s.timeout)
	defer cancel()
	err := op(ctx)
	s.report(parent, err)
	return err == nil
}

// report feeds the outcome of a store call made under parent to the backoff
// and the log. A caller that went away is not the store's fault.
func (s *sharedLevel) report(parent context.Context, err error) {
	switch {
	case err == nil:
		if s.backoff.success() {
			s.log.InfoContext(parent, "token cache: the shared store is answering again")
		}
	case parent.Err() != nil:
		s.log.DebugContext(parent, "token cache: request ended during a shared store call", "error", err.Error())
	default:
		pause := s.backoff.fault(s.now())
		s.log.WarnContext(parent, "token cache: shared store call failed; using memory only for a while",
			"error", err.Error(), "pause", pause.String())
	}
}

// sealRow builds the row for t living until until, or reports false if the
// sealed token would not fit a row. The clear ExpiresAt is the entry's
// lifetime, not the Graph token's, so a row goes when its session does.
func (s *sharedLevel) sealRow(pk, rk string, t entra.Token, until time.Time) (Row, bool) {
	plain, err := json.Marshal(sealedToken{AccessToken: t.AccessToken, ExpiresAt: t.ExpiresAt, Until: until, Scopes: t.Scopes})
	if err != nil {
		panic(err) // strings, times and a slice always marshal
	}
	keyID, blob := s.seal.seal(pk, rk, plain)
	if len(blob) > MaxData {
		return Row{}, false
	}
	return Row{PartitionKey: pk, RowKey: rk, KeyID: keyID, ExpiresAt: until, Data: blob}, true
}

// open returns the token sealed in row, which was read at pk and rk: a row
// copied there from elsewhere does not open, whatever keys it names itself.
func (s *sharedLevel) open(pk, rk string, row Row) (sealedToken, error) {
	if len(row.Data) > MaxData {
		return sealedToken{}, errors.New("ciphertext too large")
	}
	plain, err := s.seal.open(pk, rk, row.KeyID, row.Data)
	if err != nil {
		return sealedToken{}, err
	}
	var t sealedToken
	if err := json.Unmarshal(plain, &t); err != nil || t.AccessToken == "" || t.ExpiresAt.IsZero() || t.Until.IsZero() || t.Until.After(t.ExpiresAt) {
		return sealedToken{}, errors.New("sealed token is malformed")
	}
	return t, nil
}

func (t sealedToken) token() entra.Token {
	return entra.Token{AccessToken: t.AccessToken, ExpiresAt: t.ExpiresAt, Scopes: t.Scopes}
}
