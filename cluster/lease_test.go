package cluster

import (
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/gridctl/grid/test/waitfor"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// nopFSM is the smallest raft FSM: the lease tests need real elections and
// VerifyLeader rounds, not state.
type nopFSM struct{}

func (nopFSM) Apply(*raft.Log) any                    { return nil }
func (nopFSM) Snapshot() (raft.FSMSnapshot, error)    { return nopSnapshot{}, nil }
func (nopFSM) Restore(rc io.ReadCloser) error         { return rc.Close() }
func (nopSnapshot) Persist(s raft.SnapshotSink) error { return s.Close() }
func (nopSnapshot) Release()                          {}

type nopSnapshot struct{}

// leaseTimings are short Raft timings for the lease tests.
var leaseTimings = RaftTimings{HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond,
	LeaderLeaseTimeout: 100 * time.Millisecond, CommitTimeout: 5 * time.Millisecond}

// raftTrio is three real raft servers on raft's in-memory transport.
type raftTrio struct {
	rafts  []*raft.Raft
	trans  []*raft.InmemTransport
	leases []*readLease
}

func newRaftTrio(t *testing.T) *raftTrio {
	t.Helper()
	tr := &raftTrio{}
	var conf raft.Configuration
	for i := range 3 {
		addr, trans := raft.NewInmemTransport("")
		tr.trans = append(tr.trans, trans)
		conf.Servers = append(conf.Servers, raft.Server{ID: raft.ServerID(fmt.Sprintf("m%d", i)), Address: addr})
	}
	for i, a := range tr.trans {
		for j, b := range tr.trans {
			if i != j {
				a.Connect(b.LocalAddr(), b)
			}
		}
	}
	for i := range 3 {
		rc := raft.DefaultConfig()
		rc.LocalID = conf.Servers[i].ID
		rc.HeartbeatTimeout = leaseTimings.HeartbeatTimeout
		rc.ElectionTimeout = leaseTimings.ElectionTimeout
		rc.LeaderLeaseTimeout = leaseTimings.LeaderLeaseTimeout
		rc.CommitTimeout = leaseTimings.CommitTimeout
		rc.Logger = hclog.NewNullLogger()
		store := raft.NewInmemStore()
		snaps := raft.NewInmemSnapshotStore()
		if err := raft.BootstrapCluster(rc, store, store, snaps, tr.trans[i], conf); err != nil {
			t.Fatal(err)
		}
		r, err := raft.NewRaft(rc, nopFSM{}, store, store, snaps, tr.trans[i])
		if err != nil {
			t.Fatal(err)
		}
		tr.rafts = append(tr.rafts, r)
		tr.leases = append(tr.leases, &readLease{length: leaseLength(leaseTimings)})
	}
	t.Cleanup(func() {
		for _, r := range tr.rafts {
			_ = r.Shutdown().Error()
		}
	})
	return tr
}

// leader waits for one raft server to lead, skipping the excluded index.
func (tr *raftTrio) leader(t *testing.T, exclude int) int {
	t.Helper()
	idx := -1
	waitfor.True(t, 10*time.Second, "a raft leader", func() bool {
		for i, r := range tr.rafts {
			if i != exclude && r.State() == raft.Leader {
				idx = i
				return true
			}
		}
		return false
	})
	return idx
}

// Concurrent reads within one lease window cost one VerifyLeader.
func TestReadLeaseOneVerifyPerWindow(t *testing.T) {
	tr := newRaftTrio(t)
	i := tr.leader(t, -1)
	l := &readLease{length: time.Minute} // a window no test run outlasts
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- l.verify(tr.rafts[i])
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for range 100 {
		if err := l.verify(tr.rafts[i]); err != nil {
			t.Fatal(err)
		}
	}
	if n := l.verifies.Load(); n != 1 {
		t.Fatalf("164 reads in one window made %d VerifyLeader rounds, want 1", n)
	}
	// Revoked (leadership changed hands): the next read verifies again.
	l.revoke()
	if err := l.verify(tr.rafts[i]); err != nil {
		t.Fatal(err)
	}
	if n := l.verifies.Load(); n != 2 {
		t.Fatalf("after revoke: %d rounds, want 2", n)
	}
	// Suspended (a leadership transfer): every read verifies.
	resume := l.suspend()
	for range 3 {
		if err := l.verify(tr.rafts[i]); err != nil {
			t.Fatal(err)
		}
	}
	if n := l.verifies.Load(); n != 5 {
		t.Fatalf("while suspended: %d rounds, want 5", n)
	}
	resume()
	_ = l.verify(tr.rafts[i])
	_ = l.verify(tr.rafts[i])
	if n := l.verifies.Load(); n != 6 {
		t.Fatalf("after resume: %d rounds, want 6", n)
	}
}

// A leader cut off from the others must stop serving lease reads: its
// lease ends before the others can elect a new leader, and afterwards every
// read fails as not-leader.
func TestReadLeaseDeposedLeader(t *testing.T) {
	tr := newRaftTrio(t)
	old := tr.leader(t, -1)
	l := tr.leases[old]
	if err := l.verify(tr.rafts[old]); err != nil {
		t.Fatal(err)
	}
	// Partition the leader from both followers.
	tr.trans[old].DisconnectAll()
	for i, tp := range tr.trans {
		if i != old {
			tp.Disconnect(tr.trans[old].LocalAddr())
		}
	}
	next := tr.leader(t, old)
	l.mu.Lock()
	until := l.until
	l.mu.Unlock()
	if !until.Before(time.Now()) {
		t.Fatalf("m%d was elected while the deposed leader's read lease still held (until %s)", next, until)
	}
	waitfor.True(t, 10*time.Second, "the deposed leader refuses lease reads", func() bool {
		return l.verify(tr.rafts[old]) != nil
	})
	if err := l.verify(tr.rafts[old]); !isNotLeaderErr(err) {
		t.Fatalf("deposed leader's read: %v, want a not-leader error", err)
	}
}
