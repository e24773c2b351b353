package lru

import (
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
