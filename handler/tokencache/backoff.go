package tokencache

import (
	"sync"
	"time"
)

// The pause after a fault doubles from minPause to maxPause while faults go on.
const (
	minPause = time.Second
	maxPause = 30 * time.Second
)

// backoff leaves a faulty store alone for a while, so a dead or throttling
// store costs one slow call per pause rather than one per request.
type backoff struct {
	mu    sync.Mutex
	until time.Time
	pause time.Duration // 0: no fault since the last success
}

// ready reports whether the store may be called at now.
func (b *backoff) ready(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !now.Before(b.until)
}

// fault starts the next, longer pause at now and returns its length.
func (b *backoff) fault(now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.pause = min(max(2*b.pause, minPause), maxPause)
	b.until = now.Add(b.pause)
	return b.pause
}

// success ends the schedule and reports whether a fault preceded it.
func (b *backoff) success() (recovered bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	recovered, b.pause = b.pause != 0, 0
	return recovered
}
