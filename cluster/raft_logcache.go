package cluster

import (
	"fmt"
	"sync"

	"github.com/hashicorp/raft"
)

// logCache keeps the most recent Raft log entries in memory so that
// replication to followers that keep up never reads the log store. It is
// raft.LogCache bounded twice: by entries and by bytes. raft's cache counts
// entries only, and an entry carrying an event batch can be half a
// megabyte: 64 of them held ~30 MB of a loaded leader's heap for good
// (fsm.Encode in the heap profile after 1M events), the largest single
// item of master_rss_mb_1m. Registry entries are a few hundred bytes, so
// the entry bound decides for them and the byte bound for event batches.
//
// The cache holds a contiguous run of indexes [lo, hi]: entries are stored
// in increasing order, and anything else (a follower overwriting its tail,
// a restore) restarts the run, so GetLog never returns a stale entry.
type logCache struct {
	store    raft.LogStore
	maxBytes int

	mu    sync.RWMutex
	ring  []*raft.Log // entry i lives at ring[i % len(ring)]
	lo    uint64      // first cached index; 0 with hi 0 when empty
	hi    uint64      // last cached index
	bytes int         // sum of entrySize over [lo, hi]
}

// newLogCache wraps store with a cache of at most entries entries and
// maxBytes bytes (the newest entry is kept even if it alone is larger).
func newLogCache(store raft.LogStore, entries, maxBytes int) (*logCache, error) {
	if entries <= 0 || maxBytes <= 0 {
		return nil, fmt.Errorf("raft log cache: entries (%d) and bytes (%d) must be positive", entries, maxBytes)
	}
	return &logCache{store: store, maxBytes: maxBytes, ring: make([]*raft.Log, entries)}, nil
}

// entrySize is what a cached entry holds on the heap, near enough: its
// payloads plus the struct.
func entrySize(l *raft.Log) int {
	return len(l.Data) + len(l.Extensions) + 64
}

// IsMonotonic passes through the wrapped store's answer (raft-wal is
// monotonic: raft must not ask it to overwrite a suffix in place).
func (c *logCache) IsMonotonic() bool {
	if s, ok := c.store.(raft.MonotonicLogStore); ok {
		return s.IsMonotonic()
	}
	return false
}

// GetLog answers from the cache when idx is in it, else from the store.
func (c *logCache) GetLog(idx uint64, log *raft.Log) error {
	c.mu.RLock()
	if c.hi != 0 && idx >= c.lo && idx <= c.hi {
		*log = *c.ring[idx%uint64(len(c.ring))]
		c.mu.RUnlock()
		return nil
	}
	c.mu.RUnlock()
	return c.store.GetLog(idx, log)
}

// StoreLog stores one entry.
func (c *logCache) StoreLog(log *raft.Log) error {
	return c.StoreLogs([]*raft.Log{log})
}

// StoreLogs stores entries in the log store and, once that succeeded,
// caches them.
func (c *logCache) StoreLogs(logs []*raft.Log) error {
	if err := c.store.StoreLogs(logs); err != nil {
		return fmt.Errorf("unable to store logs within log store, err: %q", err)
	}
	c.mu.Lock()
	for _, l := range logs {
		c.add(l)
	}
	c.mu.Unlock()
	return nil
}

// add appends l to the cached run (restarting it unless l follows hi) and
// evicts from the front until both bounds hold. Caller holds mu.
func (c *logCache) add(l *raft.Log) {
	switch {
	case c.hi == 0 || l.Index != c.hi+1:
		c.reset()
		c.lo = l.Index
	case c.hi-c.lo+1 == uint64(len(c.ring)):
		c.evictFront() // l takes lo's slot
	}
	c.ring[l.Index%uint64(len(c.ring))] = l
	c.hi = l.Index
	c.bytes += entrySize(l)
	for c.lo < c.hi && c.bytes > c.maxBytes {
		c.evictFront()
	}
}

// evictFront drops the oldest cached entry. Caller holds mu.
func (c *logCache) evictFront() {
	slot := c.lo % uint64(len(c.ring))
	c.bytes -= entrySize(c.ring[slot])
	c.ring[slot] = nil
	c.lo++
}

// reset empties the cache. Caller holds mu.
func (c *logCache) reset() {
	clear(c.ring)
	c.lo, c.hi, c.bytes = 0, 0, 0
}

// FirstIndex is the store's.
func (c *logCache) FirstIndex() (uint64, error) { return c.store.FirstIndex() }

// LastIndex is the store's.
func (c *logCache) LastIndex() (uint64, error) { return c.store.LastIndex() }

// DeleteRange empties the cache and deletes from the store.
func (c *logCache) DeleteRange(min, max uint64) error {
	c.mu.Lock()
	c.reset()
	c.mu.Unlock()
	return c.store.DeleteRange(min, max)
}
