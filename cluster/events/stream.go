package events

import (
	"fmt"

	"github.com/gridctl/grid/eventstore"
	"github.com/gridctl/grid/rpc"
	"google.golang.org/grpc"
)

// streamPageSize is how many events one read of a stream sends at most.
const streamPageSize = 1000

// StreamEvents sends the events after req.After in seq order, then follows
// new ones as they are applied, until the client goes away. It is answered
// by the master the client is connected to, from its own replica. A cursor
// older than retention fails with OUT_OF_RANGE instead of silently skipping.
func (p *Pipeline) StreamEvents(req *rpc.StreamEventsRequest, stream grpc.ServerStreamingServer[rpc.Event]) error {
	f := req.GetFilter()
	if err := validateEventFilter(f); err != nil {
		return toStatus(err)
	}
	return toStatus(p.streamEvents(stream, req.GetAfter(), f.GetTypes(), f.GetEntityIds()))
}

// streamEvents is StreamEvents' loop. covered is the highest seq up to which
// every matching event has been sent (it runs ahead of the last sent seq
// when a filter skips events), so pruning of skipped events is no gap.
func (p *Pipeline) streamEvents(stream grpc.ServerStreamingServer[rpc.Event], after uint64, types []rpc.EventType, entities []string) error {
	ctx := stream.Context()
	cursor, covered := after, after
	for {
		store := p.deps.Store.Events()
		notify := store.Notify() // before reading, so nothing appended after the read is missed
		if err := checkPruned(store, covered); err != nil {
			return err
		}
		hi := store.LastSeq()
		page, err := store.Events(eventstore.Filter{
			Types: types, Entities: entities, After: cursor, Limit: streamPageSize, Ascending: true,
		})
		if err != nil {
			if p.deps.Store.Events() != store {
				continue // swapped by a snapshot restore: read the new store
			}
			return fmt.Errorf("stream events after seq %d: %w", cursor, err)
		}
		// A page read after a prune could start past a hole; check again.
		if err := checkPruned(store, covered); err != nil {
			return err
		}
		for _, e := range page {
			if err := stream.Send(e); err != nil {
				return err
			}
			cursor = e.GetSeq()
		}
		covered = max(covered, cursor)
		if len(page) < streamPageSize {
			covered = max(covered, hi)
		}
		if len(page) > 0 {
			continue // there may be more: read again before waiting
		}
		select {
		case <-notify:
		case <-ctx.Done():
			return nil
		case <-p.stopCh:
			return fmt.Errorf("stream events after seq %d: %w", cursor, ErrStopped)
		}
	}
}

// checkPruned fails when events after covered are gone: covered is older
// than the oldest retained event, or everything after it was pruned.
func checkPruned(store *eventstore.Store, covered uint64) error {
	if covered == 0 {
		return nil // from the beginning: whatever is retained is the beginning
	}
	first, last := store.FirstSeq(), store.LastSeq()
	switch {
	case first > 0 && covered < first-1:
		return fmt.Errorf("%w: events after seq %d were pruned; oldest retained is %d", ErrEventsPruned, covered, first)
	case first == 0 && covered < last:
		return fmt.Errorf("%w: events after seq %d were pruned; none are retained (last seq %d)", ErrEventsPruned, covered, last)
	}
	return nil
}
