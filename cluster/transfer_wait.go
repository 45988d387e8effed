package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/raft"
)

// transferAttempts bounds the raft leadership transfers one
// TransferLeadership call starts.
const transferAttempts = 3

// transferRun is one call's view of a leadership transfer: start asks raft
// for one (its future's Error is raft's answer), leads says whether this
// master still leads, and grace is how long a target that got raft's
// TimeoutNow may take to win its election.
type transferRun struct {
	start func() raft.Future
	leads func() bool
	grace time.Duration
	warn  func(attempt int, err error)
	// changed, when set, receives raft's leader and state changes, so a
	// wait ends the moment leadership moves instead of at its next look.
	changed <-chan raft.Observation
}

// mayStillMove reports whether raft's error leaves the transfer possibly
// under way: raft stops waiting for the target after an election timeout
// ("leadership transfer timeout") though the target may still be
// campaigning, and a transfer already in progress may be moving it too.
func mayStillMove(err error) bool {
	return errors.Is(err, raft.ErrLeadershipTransferInProgress) || strings.Contains(err.Error(), "timeout")
}

// run starts the transfer and returns nil once leadership has left this
// master (or raft reports the transfer done), retrying a transfer that
// timed out while this master still leads after the grace. A timeout after
// which this master stops leading within the grace is a success: the
// target won late (on a loaded machine its vote and term fsyncs can take
// longer than raft waits).
func (r transferRun) run(ctx context.Context) error {
	fut := r.start()
	for attempt := 1; ; attempt++ {
		err := fut.Error()
		if err == nil {
			return nil
		}
		if !mayStillMove(err) {
			return fmt.Errorf("transfer leadership: %w", err)
		}
		if r.stepsDownWithin(ctx, r.grace) {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if attempt >= transferAttempts {
			return fmt.Errorf("transfer leadership: %w", err)
		}
		r.warn(attempt, err)
		fut = r.start()
	}
}

// stepsDownWithin waits up to d for this master to stop leading.
func (r transferRun) stepsDownWithin(ctx context.Context, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if !r.leads() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		if !waitChange(ctx, r.changed) {
			return false
		}
	}
}

// lookAgainAfter bounds a wait for a leadership change: raft's
// observations are dropped when their channel is full, so a waiter also
// looks again after this pause (a local read).
const lookAgainAfter = 2 * time.Millisecond

// waitChange waits for a leader or state change on changed (nil: none is
// observed) or lookAgainAfter, whichever comes first; false when ctx ended.
func waitChange(ctx context.Context, changed <-chan raft.Observation) bool {
	t := time.NewTimer(lookAgainAfter)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-changed:
	case <-t.C:
	}
	return true
}

// observeLeadership registers a raft observer of leader and state changes
// (non-blocking: raft drops an observation the channel has no room for)
// and returns its channel and the function that deregisters it.
func observeLeadership(r *raft.Raft) (<-chan raft.Observation, func()) {
	ch := make(chan raft.Observation, 8)
	obs := raft.NewObserver(ch, false, func(o *raft.Observation) bool {
		switch o.Data.(type) {
		case raft.LeaderObservation, raft.RaftState:
			return true
		}
		return false
	})
	r.RegisterObserver(obs)
	return ch, func() { r.DeregisterObserver(obs) }
}
