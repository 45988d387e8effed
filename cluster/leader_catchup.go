package cluster

import (
	"errors"

	"github.com/hashicorp/raft"
)

// A new leader must not judge anything before its FSM holds every entry
// committed before its term. raft's Barrier gives that at the cost of one
// more commit round (an entry of its own, replicated and applied). catchUp
// gets it without one: every committed entry is in this leader's log
// (raft's leader completeness), and every entry after the last one of an
// earlier term (prior) is of this term, so the FSM holds every committed
// entry once it applied the last entry at or before prior that raft hands
// to it (a command or configuration entry; raft applies only committed
// entries, in order; the no-ops and barriers between change no state).
// After a graceful transfer or a quiet failover the follower had already
// applied them, so the leader serves without waiting for any commit; else
// it waits for the commit of its term's first entry, as the barrier did.

// errCatchUpBarrier: catchUp cannot tell from the log; use the barrier.
var errCatchUpBarrier = errors.New("catch-up needs a barrier")

// catchUp waits until every entry of an earlier term in this leader's log is
// applied, falling back to raft's Barrier when the log cannot be read back
// to an earlier term or leadership changed meanwhile.
func (m *Master) catchUp(stopCh <-chan struct{}) error {
	err := m.catchUpFromLog(stopCh)
	if errors.Is(err, errCatchUpBarrier) {
		return m.barrier(stopCh)
	}
	return err
}

// catchUpFromLog is catchUp without the fallback.
func (m *Master) catchUpFromLog(stopCh <-chan struct{}) error {
	r := m.consensus.raft
	term := r.CurrentTerm()
	last, err := m.lastFSMEntryBeforeTerm(term, r.LastIndex())
	if err != nil {
		return errCatchUpBarrier
	}
	applied, cancel := m.fsm.WaitApplied(last)
	defer cancel()
	select {
	case <-applied:
	case <-stopCh:
		return errStopped
	case <-m.lifecycle.shutdownCh:
		return errStopped
	}
	if r.State() != raft.Leader || r.CurrentTerm() != term {
		return errCatchUpBarrier
	}
	return nil
}

// lastFSMEntryBeforeTerm scans this master's log back from index to the
// last entry of a term before term that raft hands to the FSM (a command
// or a configuration). It answers 0 for an empty log, and for a log that
// holds no such entry back to its compacted start once it passed an entry
// of an earlier term (the snapshot the log was compacted under came from
// or went into this FSM, so the FSM has applied past it). A log compacted
// inside this term is an error: the caller falls back to the barrier.
func (m *Master) lastFSMEntryBeforeTerm(term, index uint64) (uint64, error) {
	var l raft.Log
	passedTerm := false
	for i := index; i > 0; i-- {
		if err := m.consensus.store.GetLog(i, &l); err != nil {
			if errors.Is(err, raft.ErrLogNotFound) && passedTerm {
				return 0, nil
			}
			return 0, err
		}
		if l.Term >= term {
			continue
		}
		passedTerm = true
		if l.Type == raft.LogCommand || l.Type == raft.LogConfiguration {
			return i, nil
		}
	}
	return 0, nil
}
