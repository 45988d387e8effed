package fsm

import (
	"errors"
	"fmt"

	"github.com/gridctl/grid/eventstore"
	"github.com/gridctl/grid/rpc"
)

// storeEventsLocked stores the events of one command (batches of it) in
// one event-store transaction. It returns an error only for a deterministic
// refusal (the same on every replica, nothing stored); an I/O error stops
// the master. Caller holds f.mu.
func (f *FSM) storeEventsLocked(index uint64, batches ...[]*rpc.Event) error {
	n := 0
	for _, b := range batches {
		n += len(b)
	}
	if n == 0 {
		return nil
	}
	if _, err := f.store.AppendEventBatches(batches); err != nil {
		f.failUnlessRefused(index, "store events", err)
		return err
	}
	return nil
}

// refused reports whether a store error is a deterministic refusal of the
// input (every replica refuses it the same way) or a store that is closing
// under a shutdown, rather than a failure of this master's disk.
func refused(err error) bool {
	return errors.Is(err, eventstore.ErrInvalid) || errors.Is(err, eventstore.ErrClosed)
}

// failUnlessRefused stops the master on a store failure while applying the
// entry at index (see fail); a refusal returns.
func (f *FSM) failUnlessRefused(index uint64, op string, err error) {
	if !refused(err) {
		f.fail(index, op, err)
	}
}

// fail is the end of this master on an event-store I/O error (disk full,
// corrupt page): applying past the entry would leave this replica without
// state every other one has. It logs what failed and at which index, calls
// Config.OnStoreFailure (the Master's exits the process non-zero) and, if
// that returns, panics with the same message; either way raft never hands
// this FSM the next entry. After a restart the event graph is rebuilt from
// the snapshot and the log, so the master catches up once the cause is fixed.
func (f *FSM) fail(index uint64, op string, err error) {
	err = fmt.Errorf("fsm: store failure at index %d: %s: %w", index, op, err)
	f.logger.Error("event store failure: stopping this master without applying past the entry", "index", index, "op", op, "error", err)
	if f.onStoreFailure != nil {
		f.onStoreFailure(err)
	}
	panic(err.Error())
}
