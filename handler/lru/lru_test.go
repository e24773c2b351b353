package lru

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestEvictsLeastRecentlyUsed(t *testing.T) {
	now := time.Now()
	c := New[string, int](2)
	c.Put("a", 1, now.Add(time.Hour))
	c.Put("b", 2, now.Add(time.Hour))
	if _, ok := c.Get("a", now); !ok { // a is now more recent than b
		t.Fatal("a missing")
	}
	c.Put("c", 3, now.Add(time.Hour))
	if _, ok := c.Get("b", now); ok {
		t.Error("b should have been evicted")
	}
	if v, ok := c.Get("a", now); !ok || v != 1 {
		t.Errorf("a = %v, %v", v, ok)
	}
	if c.Len() != 2 {
		t.Errorf("Len = %d, want 2", c.Len())
	}
}

func TestExpiry(t *testing.T) {
	now := time.Now()
	c := New[string, int](10)
	c.Put("a", 1, now.Add(time.Minute))
	if _, ok := c.Get("a", now.Add(59*time.Second)); !ok {
		t.Error("a expired early")
	}
	if _, ok := c.Get("a", now.Add(time.Minute)); ok {
		t.Error("a served at its expiry")
	}
	if c.Len() != 0 {
		t.Error("expired entry kept")
	}
}

func TestPutReplacesAndDelete(t *testing.T) {
	now := time.Now()
	c := New[int, string](3)
	c.Put(1, "x", now.Add(time.Hour))
	c.Put(1, "y", now.Add(time.Hour))
	if v, _ := c.Get(1, now); v != "y" || c.Len() != 1 {
		t.Errorf("got %q, len %d", v, c.Len())
	}
	c.Delete(1)
	if _, ok := c.Get(1, now); ok {
		t.Error("deleted entry served")
	}
}

func TestDeleteFunc(t *testing.T) {
	now := time.Now()
	c := New[string, int](10)
	for _, k := range []string{"alice/1", "bob/1", "alice/2", "carol/1", "alice/3"} {
		c.Put(k, 1, now.Add(time.Hour))
	}
	c.Put("alice/old", 1, now.Add(-time.Minute)) // expired, still held: removed too
	if n := c.DeleteFunc(func(k string) bool { return strings.HasPrefix(k, "alice/") }); n != 4 {
		t.Errorf("DeleteFunc removed %d, want 4", n)
	}
	for _, k := range []string{"alice/1", "alice/2", "alice/3", "alice/old"} {
		if _, ok := c.Get(k, now); ok {
			t.Errorf("%s survived", k)
		}
	}
	for _, k := range []string{"bob/1", "carol/1"} {
		if _, ok := c.Get(k, now); !ok {
			t.Errorf("%s removed", k)
		}
	}
	if c.Len() != 2 {
		t.Errorf("Len = %d, want 2", c.Len())
	}
	// The order survives: what is left still evicts least recently used first.
	c.Get("bob/1", now)
	for i := range 9 {
		c.Put(strconv.Itoa(i), i, now.Add(time.Hour))
	}
	if _, ok := c.Get("carol/1", now); ok {
		t.Error("carol/1, the least recently used, was not evicted first")
	}
	if n := c.DeleteFunc(func(string) bool { return false }); n != 0 || c.Len() != 10 {
		t.Errorf("a DeleteFunc matching nothing removed %d; Len %d", n, c.Len())
	}
}

func TestDeleteExpired(t *testing.T) {
	now := time.Now()
	c := New[int, int](10)
	for i := range 6 {
		c.Put(i, i, now.Add(time.Duration(i-3)*time.Minute)) // 0, 1, 2 expired; 3 expires at now
	}
	if n := c.DeleteExpired(now); n != 4 {
		t.Errorf("DeleteExpired removed %d, want 4 (at its expiry an entry is expired)", n)
	}
	if c.Len() != 2 {
		t.Errorf("Len = %d, want 2", c.Len())
	}
	for i := 4; i < 6; i++ {
		if v, ok := c.Get(i, now); !ok || v != i {
			t.Errorf("live entry %d removed", i)
		}
	}
	if n := c.DeleteExpired(now); n != 0 {
		t.Errorf("a second DeleteExpired removed %d", n)
	}
}
