package graphtoken

import (
	"sync"
	"time"

	"github.com/addinsso/addinsso/handler/lru"
)

// limiter allows each key at most max events per window (a fixed window,
// starting at the key's first event), remembering at most maxLimited keys:
// a key evicted early only gets a fresh window.
type limiter struct {
	mu      sync.Mutex
	max     int
	window  time.Duration
	now     func() time.Time
	windows *lru.Cache[string, *fixedWindow]
}

type fixedWindow struct {
	start time.Time
	n     int
}

const maxLimited = 10_000

func newLimiter(max int, window time.Duration, now func() time.Time) *limiter {
	return &limiter{max: max, window: window, now: now, windows: lru.New[string, *fixedWindow](maxLimited)}
}

// allow counts an event for key; when the window is full it says how long
// until the next one is allowed.
func (l *limiter) allow(key string) (wait time.Duration, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	w, found := l.windows.Get(key, now)
	if !found {
		w = &fixedWindow{start: now}
		l.windows.Put(key, w, now.Add(l.window))
	}
	if w.n >= l.max {
		return w.start.Add(l.window).Sub(now), false
	}
	w.n++
	return 0, true
}
