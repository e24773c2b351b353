// Package capture collects output written concurrently (a process's logs, a
// slog handler's lines) so tests and the sandbox can search it afterwards.
package capture

import (
	"bytes"
	"sync"
)

// Limit bounds what a Buffer keeps: the latest bytes win, so a long `make dev`
// cannot grow without end.
const Limit = 4 << 20

// Buffer is a concurrency-safe, bounded byte buffer; the zero value is ready.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if over := b.buf.Len() + len(p) - Limit; over > 0 {
		b.buf.Next(min(over, b.buf.Len()))
	}
	return b.buf.Write(p)
}

// String is everything kept so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
