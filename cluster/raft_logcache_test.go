package cluster

import (
	"bytes"
	"testing"

	"github.com/hashicorp/raft"
)

// cachedIndexes stores entries first..last of size bytes each through c,
// then empties the backing store behind the cache's back, so GetLog
// answers only what the cache holds; it returns the indexes answered.
func cachedIndexes(t *testing.T, c *logCache, backing *raft.InmemStore, first, last uint64) []uint64 {
	t.Helper()
	if err := backing.DeleteRange(first, last); err != nil {
		t.Fatal(err)
	}
	var got []uint64
	for i := first; i <= last; i++ {
		var l raft.Log
		if err := c.GetLog(i, &l); err == nil {
			if l.Index != i {
				t.Fatalf("GetLog(%d) answered entry %d", i, l.Index)
			}
			got = append(got, i)
		}
	}
	return got
}

func storeEntries(t *testing.T, c *logCache, first, last uint64, size int, fill byte) {
	t.Helper()
	for i := first; i <= last; i++ {
		if err := c.StoreLogs([]*raft.Log{{Index: i, Term: 1, Data: bytes.Repeat([]byte{fill}, size)}}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLogCacheKeepsNewestEntriesWithinCount(t *testing.T) {
	backing := raft.NewInmemStore()
	c, err := newLogCache(backing, 8, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	storeEntries(t, c, 1, 20, 10, 'a')
	got := cachedIndexes(t, c, backing, 1, 20)
	if len(got) != 8 || got[0] != 13 || got[7] != 20 {
		t.Fatalf("cached %v, want 13..20", got)
	}
}

func TestLogCacheBoundsBytes(t *testing.T) {
	backing := raft.NewInmemStore()
	c, err := newLogCache(backing, 256, 4<<20)
	if err != nil {
		t.Fatal(err)
	}
	storeEntries(t, c, 1, 20, 1<<20, 'b') // 20 entries of 1 MiB
	got := cachedIndexes(t, c, backing, 1, 20)
	// Each entry is 1 MiB plus overhead, so 3 fit in 4 MiB.
	if len(got) != 3 || got[0] != 18 || got[2] != 20 {
		t.Fatalf("cached %v, want 18..20", got)
	}
	if c.bytes > 4<<20 {
		t.Fatalf("cache holds %d bytes, bound 4 MiB", c.bytes)
	}
}

func TestLogCacheKeepsOneOversizedEntry(t *testing.T) {
	backing := raft.NewInmemStore()
	c, err := newLogCache(backing, 16, 1024)
	if err != nil {
		t.Fatal(err)
	}
	storeEntries(t, c, 1, 3, 4096, 'c')
	if got := cachedIndexes(t, c, backing, 1, 3); len(got) != 1 || got[0] != 3 {
		t.Fatalf("cached %v, want [3]", got)
	}
}

// A follower whose log tail is overwritten (a new leader's entries at
// indexes it already had) must never be answered the old entry.
func TestLogCacheOverwrittenTailIsNotServedStale(t *testing.T) {
	backing := raft.NewInmemStore()
	c, err := newLogCache(backing, 16, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	storeEntries(t, c, 1, 10, 10, 'd')
	storeEntries(t, c, 6, 6, 10, 'e') // the new leader's entry 6
	var l raft.Log
	if err := c.GetLog(6, &l); err != nil || l.Data[0] != 'e' {
		t.Fatalf("GetLog(6) = %q, %v; want the new entry", l.Data, err)
	}
	// 7..10 were cut from the cache with the old tail; the store answers.
	if got := cachedIndexes(t, c, backing, 7, 10); len(got) != 0 {
		t.Fatalf("stale entries %v still cached", got)
	}
}

func TestLogCacheDeleteRangeEmptiesIt(t *testing.T) {
	backing := raft.NewInmemStore()
	c, err := newLogCache(backing, 16, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	storeEntries(t, c, 1, 5, 10, 'f')
	if err := c.DeleteRange(1, 5); err != nil {
		t.Fatal(err)
	}
	var l raft.Log
	if err := c.GetLog(3, &l); err == nil {
		t.Fatalf("GetLog(3) after DeleteRange answered %+v", l)
	}
	storeEntries(t, c, 6, 7, 10, 'g')
	if got := cachedIndexes(t, c, backing, 6, 7); len(got) != 2 {
		t.Fatalf("cached %v after delete and append, want [6 7]", got)
	}
}

func TestLogCacheRefusesZeroBounds(t *testing.T) {
	if _, err := newLogCache(raft.NewInmemStore(), 0, 1); err == nil {
		t.Fatal("entries 0 accepted")
	}
	if _, err := newLogCache(raft.NewInmemStore(), 1, 0); err == nil {
		t.Fatal("bytes 0 accepted")
	}
}
