package cluster

import (
	"sync"
	"sync/atomic"
)

// leaderReadiness is whether this master serves as a ready leader (its
// barrier has applied every committed entry and establishLeadership ran),
// and a channel that closes the moment it becomes one: a call that reached
// an elected master still establishing waits on it (forward) and is served
// at once, instead of finding out at its next poll. The zero value is not
// ready.
type leaderReadiness struct {
	ready atomic.Bool
	mu    sync.Mutex
	ch    chan struct{} // closed by Store(true); nil until a waiter asks
}

// closedReady is returned to waiters once the leader is ready.
var closedReady = func() chan struct{} { ch := make(chan struct{}); close(ch); return ch }()

// Load reports whether this master is a ready leader.
func (r *leaderReadiness) Load() bool { return r.ready.Load() }

// Store sets readiness; true wakes every waiter.
func (r *leaderReadiness) Store(v bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ready.Store(v)
	if v && r.ch != nil {
		close(r.ch)
		r.ch = nil
	}
}

// wait returns a channel that is closed once this master is a ready
// leader (already closed when it is one). It may never close: leadership
// can end before it is established, so a waiter also looks again after a
// short pause.
func (r *leaderReadiness) wait() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ready.Load() {
		return closedReady
	}
	if r.ch == nil {
		r.ch = make(chan struct{})
	}
	return r.ch
}
