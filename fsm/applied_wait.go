package fsm

import (
	"sync"
	"sync/atomic"
)

// appliedWaiters wakes callers waiting for the FSM to reach a Raft index
// (WaitApplied). The apply paths pay one atomic load while nobody waits.
type appliedWaiters struct {
	count   atomic.Int32 // waiters registered
	mu      sync.Mutex
	waiters map[chan struct{}]uint64
}

// setApplied records index as applied (or restored) and wakes the waiters
// it satisfies.
func (f *FSM) setApplied(index uint64) {
	f.applied.Store(index)
	if f.appliedWait.count.Load() == 0 {
		return
	}
	w := &f.appliedWait
	w.mu.Lock()
	defer w.mu.Unlock()
	for ch, want := range w.waiters {
		if index >= want {
			close(ch)
			delete(w.waiters, ch)
			w.count.Add(-1)
		}
	}
}

// WaitApplied returns a channel closed once the FSM has applied (or
// restored) Raft index index, and a cancel that drops the wait. cancel is
// safe to call after the channel closed.
func (f *FSM) WaitApplied(index uint64) (<-chan struct{}, func()) {
	ch := make(chan struct{})
	w := &f.appliedWait
	w.mu.Lock()
	if w.waiters == nil {
		w.waiters = make(map[chan struct{}]uint64)
	}
	w.waiters[ch] = index
	w.count.Add(1)
	w.mu.Unlock()
	// An apply between the registration and here is seen by this check.
	if f.applied.Load() >= index {
		w.drop(ch, true)
	}
	return ch, func() { w.drop(ch, false) }
}

// drop removes the wait for ch, closing ch when done is set.
func (w *appliedWaiters) drop(ch chan struct{}, done bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.waiters[ch]; !ok {
		return
	}
	delete(w.waiters, ch)
	w.count.Add(-1)
	if done {
		close(ch)
	}
}
