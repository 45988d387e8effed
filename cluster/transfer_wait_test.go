package cluster

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// answered is a raft future already answered with err.
type answered struct{ err error }

func (a answered) Error() error { return a.err }

var errRaftTransferTimeout = errors.New("leadership transfer timeout") // raft's text

// transferScript answers raft's transfers in turn and says whether this
// master leads (it stops leading stepDownAfter after the transfer numbered
// stepDownOn started; 0: never).
type transferScript struct {
	answers       []error
	stepDownOn    int
	stepDownAfter time.Duration
	starts        atomic.Int32
	steppedAt     atomic.Int64
}

func (s *transferScript) run() transferRun {
	return transferRun{
		start: func() raft.Future {
			n := int(s.starts.Add(1))
			if n == s.stepDownOn {
				s.steppedAt.Store(time.Now().Add(s.stepDownAfter).UnixNano())
			}
			return answered{s.answers[min(n, len(s.answers))-1]}
		},
		leads: func() bool {
			at := s.steppedAt.Load()
			return at == 0 || time.Now().UnixNano() < at
		},
		grace: 100 * time.Millisecond,
		warn:  func(int, error) {},
	}
}

// TestTransferRunTimeoutThenLeadershipMoves: raft reports its transfer
// timeout but the target wins shortly after: that is a transfer, not an
// error, and no second transfer starts.
func TestTransferRunTimeoutThenLeadershipMoves(t *testing.T) {
	s := &transferScript{answers: []error{errRaftTransferTimeout}, stepDownOn: 1, stepDownAfter: 30 * time.Millisecond}
	if err := s.run().run(context.Background()); err != nil {
		t.Fatalf("transfer whose target won late: %v", err)
	}
	if n := s.starts.Load(); n != 1 {
		t.Fatalf("%d transfers started, want 1", n)
	}
}

// TestTransferRunInProgressThenLeadershipMoves: a transfer already in
// progress that moves leadership counts as done.
func TestTransferRunInProgressThenLeadershipMoves(t *testing.T) {
	s := &transferScript{answers: []error{raft.ErrLeadershipTransferInProgress}, stepDownOn: 1, stepDownAfter: 10 * time.Millisecond}
	if err := s.run().run(context.Background()); err != nil {
		t.Fatalf("transfer in progress that moved leadership: %v", err)
	}
}

// TestTransferRunRetriesWhileStillLeading: a timeout after which this
// master still leads is retried; a later success is the answer.
func TestTransferRunRetriesWhileStillLeading(t *testing.T) {
	s := &transferScript{answers: []error{errRaftTransferTimeout, nil}}
	if err := s.run().run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := s.starts.Load(); n != 2 {
		t.Fatalf("%d transfers started, want 2", n)
	}
}

// TestTransferRunGivesUp: timeouts while this master keeps leading fail
// after transferAttempts transfers.
func TestTransferRunGivesUp(t *testing.T) {
	s := &transferScript{answers: []error{errRaftTransferTimeout}}
	err := s.run().run(context.Background())
	if err == nil || !errors.Is(err, errRaftTransferTimeout) {
		t.Fatalf("err = %v, want raft's timeout", err)
	}
	if n := s.starts.Load(); n != transferAttempts {
		t.Fatalf("%d transfers started, want %d", n, transferAttempts)
	}
}

// TestTransferRunOtherErrorFailsAtOnce: an error that is no timeout (an
// unknown target, say) fails without a retry.
func TestTransferRunOtherErrorFailsAtOnce(t *testing.T) {
	bad := errors.New("cannot find peer")
	s := &transferScript{answers: []error{bad}, stepDownOn: 1}
	if err := s.run().run(context.Background()); !errors.Is(err, bad) {
		t.Fatalf("err = %v, want %v", err, bad)
	}
	if n := s.starts.Load(); n != 1 {
		t.Fatalf("%d transfers started, want 1", n)
	}
}
