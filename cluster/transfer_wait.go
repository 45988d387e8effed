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
		select {
		case <-ctx.Done():
			return false
		case <-time.After(2 * time.Millisecond): // a local read
		}
	}
}
