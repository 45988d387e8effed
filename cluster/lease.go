package cluster

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// readLease lets the leader answer consistent reads without a quorum round
// per read: one raft VerifyLeader confirms leadership for a window of
// leaseLength after the verify was sent, and every read in the window
// skips the round. Concurrent reads that find no lease share one verify.
//
// Why it is safe: a follower that acknowledged the verify's heartbeat (sent
// at start or later) keeps this master as its leader, and refuses any other
// candidate's vote, until it has heard nothing for HeartbeatTimeout (raft,
// and watchLeaderContact, start an election only then). A verify succeeds
// only with a quorum of such acknowledgements, so no other master can be
// elected, let alone commit a write, before start + HeartbeatTimeout. The
// lease ends well before that (leaseLength, half of HeartbeatTimeout: the
// rest is margin for clock rate drift and a pause between the check and the
// read). The one exception is a leadership transfer, whose target is voted
// for at once: suspend turns the lease off for the transfer's duration.
// Leadership loss (revoke) and a term change end the lease too.
//
// While reads keep arriving, a read in the lease's second half starts the
// next round in the background (renewal ahead of expiry), so a steady
// stream of reads never waits for a round; the renewed lease is measured
// from that round's start like any other, so it is exactly as safe.
//
// Only reads use it: fencing actions (stopping an orphan node, nodes'
// Fencing.Verify) keep a real VerifyLeader every time (verifyLeader).
type readLease struct {
	mu        sync.Mutex
	length    time.Duration
	until     time.Time // the lease holds while time.Now() is before it
	term      uint64    // the raft term the lease was granted in
	gen       uint64    // bumped by revoke: an older verify grants nothing
	suspended int       // transfers in progress: no lease while > 0
	flight    *leaseFlight
	verifies  atomic.Uint64 // VerifyLeader rounds made (tests)
	renewals  atomic.Uint64 // of which begun ahead of expiry, in the background (tests)
}

// leaseFlight is one VerifyLeader round that concurrent reads share.
type leaseFlight struct {
	done  chan struct{}
	err   error
	start time.Time // when the round began: its answer vouches for reads until start+length
	// joined counts the reads waiting on this round besides its starter.
	joined int
}

// leaseRaft is what the lease needs of raft (a *raft.Raft).
type leaseRaft interface {
	VerifyLeader() raft.Future
	State() raft.RaftState
	CurrentTerm() uint64
}

// leaseLength is the read lease for Raft timings: half the heartbeat
// timeout (never more than the election timeout).
func leaseLength(t RaftTimings) time.Duration {
	return min(t.HeartbeatTimeout, t.ElectionTimeout) / 2
}

// verify returns nil when this master leads: at once while the lease holds,
// else after a VerifyLeader round (shared with concurrent callers) that
// renews the lease.
func (l *readLease) verify(r leaseRaft) error {
	l.mu.Lock()
	now := time.Now()
	if l.suspended == 0 && r.State() == raft.Leader && now.Before(l.until) && r.CurrentTerm() == l.term {
		// In the lease's second half, with no round in flight, renew it
		// in the background: reads keep arriving, and the next one after
		// the lease ran out would otherwise wait for a whole round.
		// This read is answered under the current lease, as before.
		if l.flight == nil && l.until.Sub(now) < l.length/2 {
			f, gen := l.startFlight(now)
			l.renewals.Add(1)
			go l.round(r, f, gen)
		}
		l.mu.Unlock()
		return nil
	}
	if f := l.flight; f != nil {
		// Share the round in flight; if the lease was revoked or
		// suspended meanwhile (a transfer began after this read arrived),
		// its answer may predate that: verify again. The round may also
		// have begun before this read arrived, so its answer vouches for
		// this read only within the lease window it opened (no other
		// leader before start+HeartbeatTimeout); a round slower than
		// that says nothing about now: verify again.
		gen := l.gen
		f.joined++
		l.mu.Unlock()
		<-f.done
		l.mu.Lock()
		again := l.gen != gen || !time.Now().Before(f.start.Add(l.length))
		l.mu.Unlock()
		if again && f.err == nil {
			return l.verify(r)
		}
		return f.err
	}
	f, gen := l.startFlight(time.Now())
	l.mu.Unlock()
	return l.round(r, f, gen)
}

// startFlight registers a VerifyLeader round beginning at start (l.mu held).
func (l *readLease) startFlight(start time.Time) (*leaseFlight, uint64) {
	f := &leaseFlight{done: make(chan struct{}), start: start}
	l.flight = f
	return f, l.gen
}

// round runs the VerifyLeader round f (registered at generation gen) and
// renews the lease to f.start+length when it confirms leadership and
// nothing revoked or suspended the lease meanwhile. A renewal ahead of
// expiry runs the same round: the lease never reaches past the moment its
// round was sent plus the lease length.
func (l *readLease) round(r leaseRaft, f *leaseFlight, gen uint64) error {
	term := r.CurrentTerm()
	err := r.VerifyLeader().Error()
	l.verifies.Add(1)

	l.mu.Lock()
	l.flight = nil
	if err == nil && gen == l.gen && l.suspended == 0 && r.CurrentTerm() == term {
		l.until, l.term = f.start.Add(l.length), term
	}
	l.mu.Unlock()
	if err != nil {
		err = fmt.Errorf("%w: %v", ErrNotLeader, err)
	}
	f.err = err
	close(f.done)
	return err
}

// revoke ends the lease (leadership lost or gained: start afresh).
func (l *readLease) revoke() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.gen++
	l.until = time.Time{}
}

// suspend ends the lease and grants none until the returned func is called
// (around a leadership transfer).
func (l *readLease) suspend() (resume func()) {
	l.mu.Lock()
	l.gen++
	l.until = time.Time{}
	l.suspended++
	l.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			l.suspended--
			l.mu.Unlock()
		})
	}
}

// verifyLeaderRead checks, for a consistent read (no x-grid-stale), that
// this master leads, through the read lease.
func (m *Master) verifyLeaderRead() error {
	return m.consensus.lease.verify(m.consensus.raft)
}
