package cluster

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gridctl/grid/test/waitfor"
	"github.com/hashicorp/raft"
)

// heldRaft leads in term 1; its first VerifyLeader round answers only when
// release is closed, later rounds at once.
type heldRaft struct {
	calls   atomic.Int32
	release chan struct{}
}

type heldFuture struct{ wait chan struct{} }

func (f heldFuture) Error() error {
	if f.wait != nil {
		<-f.wait
	}
	return nil
}

func (r *heldRaft) VerifyLeader() raft.Future {
	if r.calls.Add(1) == 1 {
		return heldFuture{wait: r.release}
	}
	return heldFuture{}
}
func (r *heldRaft) State() raft.RaftState { return raft.Leader }
func (r *heldRaft) CurrentTerm() uint64   { return 1 }

// A read that joins a VerifyLeader round begun before it arrived may use
// that round's answer only inside the window the round opened: a round that
// outlasts the window vouches for nothing now, so the read verifies again.
func TestReadLeaseSlowRoundVerifiesJoinerAgain(t *testing.T) {
	r := &heldRaft{release: make(chan struct{})}
	l := &readLease{length: 20 * time.Millisecond}
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Add(1)
	go func() { defer wg.Done(); errs <- l.verify(r) }()
	waitfor.True(t, 5*time.Second, "the first round in flight", func() bool { return r.calls.Load() == 1 })
	l.mu.Lock()
	f := l.flight
	l.mu.Unlock()
	if f == nil {
		t.Fatal("no round in flight")
	}
	wg.Add(1)
	go func() { defer wg.Done(); errs <- l.verify(r) }()
	waitfor.True(t, 5*time.Second, "a second read joined the round", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return f.joined == 1
	})
	waitfor.True(t, 5*time.Second, "the round outlasted its window", func() bool {
		return time.Since(f.start) > l.length
	})
	close(r.release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := r.calls.Load(); got != 2 {
		t.Fatalf("VerifyLeader rounds = %d, want 2 (the joiner must not ride a round older than its window)", got)
	}
}
