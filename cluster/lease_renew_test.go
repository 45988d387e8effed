package cluster

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/gridctl/grid/test/waitfor"
	"github.com/hashicorp/raft"
)

// gatedRaft leads in term 1; VerifyLeader rounds after the first wait for
// a value on gate (nil: confirmed).
type gatedRaft struct {
	calls atomic.Int32
	gate  chan error
}

type gatedFuture struct{ gate chan error }

func (f gatedFuture) Error() error {
	if f.gate == nil {
		return nil
	}
	return <-f.gate
}

func (r *gatedRaft) VerifyLeader() raft.Future {
	if r.calls.Add(1) == 1 {
		return gatedFuture{}
	}
	return gatedFuture{gate: r.gate}
}
func (r *gatedRaft) State() raft.RaftState { return raft.Leader }
func (r *gatedRaft) CurrentTerm() uint64   { return 1 }

func (l *readLease) leaseUntil() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.until
}

// A read in the lease's second half is answered at once and starts the
// next round in the background; the renewed lease runs from that round's
// start. A round that a revoke overtook renews nothing, and a failed one
// leaves the lease to run out.
func TestReadLeaseRenewsAheadOfExpiry(t *testing.T) {
	r := &gatedRaft{gate: make(chan error)}
	// Long enough that a busy machine does not let the lease run out
	// between a check and the read after it (a read then would wait on
	// gate in the foreground).
	l := &readLease{length: time.Second}
	if err := l.verify(r); err != nil {
		t.Fatal(err)
	}
	first := l.leaseUntil()
	waitfor.True(t, 5*time.Second, "the lease in its second half", func() bool {
		return time.Until(first) < l.length/2
	})
	// Answered under the current lease while the renewal waits on gate.
	if err := l.verify(r); err != nil {
		t.Fatal(err)
	}
	if n := l.renewals.Load(); n != 1 {
		t.Fatalf("renewals = %d, want 1", n)
	}
	if err := l.verify(r); err != nil { // one renewal in flight at a time
		t.Fatal(err)
	}
	waitfor.True(t, 5*time.Second, "the renewal's round sent", func() bool { return r.calls.Load() >= 2 })
	if n := r.calls.Load(); n != 2 {
		t.Fatalf("VerifyLeader rounds = %d, want 2 (one renewal in flight at a time)", n)
	}
	r.gate <- nil
	waitfor.True(t, 5*time.Second, "the lease renewed", func() bool { return l.leaseUntil().After(first) })

	// A revoke while the renewal is in flight: its answer grants nothing.
	second := l.leaseUntil()
	waitfor.True(t, 5*time.Second, "the renewed lease in its second half", func() bool {
		return time.Until(second) < l.length/2
	})
	if err := l.verify(r); err != nil {
		t.Fatal(err)
	}
	l.revoke()
	r.gate <- nil
	waitfor.True(t, 5*time.Second, "the renewal done", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.flight == nil
	})
	if u := l.leaseUntil(); !u.IsZero() {
		t.Fatalf("a renewal overtaken by revoke extended the lease to %s", u)
	}

	// A renewal that fails (leadership lost) leaves the lease to run out,
	// and the next read after it fails too.
	go func() { r.gate <- nil }()
	if err := l.verify(r); err != nil {
		t.Fatal(err)
	}
	third := l.leaseUntil()
	waitfor.True(t, 5*time.Second, "the lease in its second half", func() bool {
		return time.Until(third) < l.length/2
	})
	if err := l.verify(r); err != nil {
		t.Fatal(err)
	}
	r.gate <- raft.ErrNotLeader
	waitfor.True(t, 5*time.Second, "the failed renewal done", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.flight == nil
	})
	if u := l.leaseUntil(); !u.Equal(third) {
		t.Fatalf("a failed renewal moved the lease from %s to %s", third, u)
	}
	waitfor.True(t, 5*time.Second, "the lease run out", func() bool { return !time.Now().Before(third) })
	go func() { r.gate <- raft.ErrNotLeader }()
	if err := l.verify(r); !isNotLeaderErr(err) {
		t.Fatalf("read after the lease ran out and leadership was lost: %v, want not-leader", err)
	}
}
