// Package lru is a bounded, concurrency-safe map whose entries expire at their
// own times. The verified-token memo and the Graph token cache's memory level
// both use it, so neither can grow without bound however many distinct tokens
// arrive.
package lru

import (
	"container/list"
	"sync"
	"time"
)

// Cache holds at most a fixed number of entries, evicting the least recently used.
type Cache[K comparable, V any] struct {
	mu      sync.Mutex
	max     int
	order   *list.List // front: most recently used
	entries map[K]*list.Element
}

type entry[K comparable, V any] struct {
	key     K
	value   V
	expires time.Time
}

// New returns a cache of at most max entries (max >= 1).
func New[K comparable, V any](max int) *Cache[K, V] {
	if max < 1 {
		max = 1
	}
	return &Cache[K, V]{max: max, order: list.New(), entries: make(map[K]*list.Element)}
}

// Get returns the value for key if present and not expired at now.
func (c *Cache[K, V]) Get(key K, now time.Time) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var zero V
	el, ok := c.entries[key]
	if !ok {
		return zero, false
	}
	e := el.Value.(*entry[K, V])
	if !now.Before(e.expires) {
		c.order.Remove(el)
		delete(c.entries, key)
		return zero, false
	}
	c.order.MoveToFront(el)
	return e.value, true
}

// Put stores value until expires, evicting the least recently used entry when full.
func (c *Cache[K, V]) Put(key K, value V, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[key]; ok {
		e := el.Value.(*entry[K, V])
		e.value, e.expires = value, expires
		c.order.MoveToFront(el)
		return
	}
	if c.order.Len() >= c.max {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.entries, oldest.Value.(*entry[K, V]).key)
	}
	c.entries[key] = c.order.PushFront(&entry[K, V]{key: key, value: value, expires: expires})
}

// Delete removes key.
func (c *Cache[K, V]) Delete(key K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[key]; ok {
		c.order.Remove(el)
		delete(c.entries, key)
	}
}

// DeleteFunc removes every entry whose key f reports, expired or not, and
// returns how many it removed. It holds the lock while it visits every entry,
// so it is for rare calls (purging a user), not for a request's path.
func (c *Cache[K, V]) DeleteFunc(f func(K) bool) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.deleteIf(func(e *entry[K, V]) bool { return f(e.key) })
}

// DeleteExpired removes every entry expired at now, and returns how many it
// removed. Get drops an expired entry it meets, and Put evicts, so this only
// frees sooner the memory of entries nobody asks for again; like DeleteFunc,
// it visits every entry under the lock.
func (c *Cache[K, V]) DeleteExpired(now time.Time) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.deleteIf(func(e *entry[K, V]) bool { return !now.Before(e.expires) })
}

func (c *Cache[K, V]) deleteIf(drop func(*entry[K, V]) bool) int {
	n := 0
	for el := c.order.Front(); el != nil; {
		next := el.Next() // Remove clears el's links
		if e := el.Value.(*entry[K, V]); drop(e) {
			c.order.Remove(el)
			delete(c.entries, e.key)
			n++
		}
		el = next
	}
	return n
}

// Len is the number of entries, expired ones included until they are touched or evicted.
func (c *Cache[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
