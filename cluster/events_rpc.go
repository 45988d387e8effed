package cluster

import (
	"context"
	"errors"
	"fmt"

	"github.com/gridctl/grid/eventstore"
	"github.com/gridctl/grid/rpc"
)

// EmitEvents commits events sent by an agent (or a follower master). It is
// forwarded to the leader, where the events join the next Raft entry (group
// commit); the answer comes only after that entry is committed, so an
// acknowledged event is a committed event. Duplicates (a resend after a lost
// answer) are acknowledged but not counted in accepted.
func (s *gridService) EmitEvents(ctx context.Context, req *rpc.EmitEventsRequest) (*rpc.EmitEventsResponse, error) {
	if err := validateEmitRequest(req); err != nil {
		return nil, toStatus(err)
	}
	m := s.m
	resp, err := forward(ctx, m,
		func(ctx context.Context) (*rpc.EmitEventsResponse, error) {
			for _, e := range req.Events {
				e.Seq = 0 // assigned on apply
				if e.Source == "" {
					e.Source = req.Source
				}
			}
			resp, err := m.pipeline().batcher.Submit(ctx, req.Events)
			if errors.Is(err, ErrBatcherStopped) {
				err = fmt.Errorf("%w: %w", ErrShutdown, err)
			}
			return resp, err
		},
		func(ctx context.Context, c rpc.GridMasterClient) (*rpc.EmitEventsResponse, error) {
			return c.EmitEvents(ctx, req)
		})
	if err != nil {
		return nil, toStatus(err)
	}
	return resp, nil
}

// QueryEvents answers a filter from the event graph: on the leader by
// default (consistent), from this master's replica when the filter or the
// call's metadata asks for stale reads.
func (s *gridService) QueryEvents(ctx context.Context, f *rpc.EventFilter) (*rpc.EventList, error) {
	if f == nil {
		f = &rpc.EventFilter{}
	}
	if err := validateEventFilter(f); err != nil {
		return nil, toStatus(err)
	}
	m := s.m
	if f.GetStale() || m.allowStale(ctx) {
		out, err := m.queryEventsLocal(f)
		return out, toStatus(err)
	}
	out, err := forward(ctx, m,
		func(ctx context.Context) (*rpc.EventList, error) {
			if err := m.verifyLeader(); err != nil {
				return nil, err
			}
			return m.queryEventsLocal(f)
		},
		func(ctx context.Context, c rpc.GridMasterClient) (*rpc.EventList, error) {
			return c.QueryEvents(ctx, f)
		})
	return out, toStatus(err)
}

// queryEventsLocal runs f on this master's event graph. last_seq is read
// before the query, so a client following from it misses nothing.
func (m *Master) queryEventsLocal(f *rpc.EventFilter) (*rpc.EventList, error) {
	var out *rpc.EventList
	err := m.withEventStore(func(store *eventstore.Store) error {
		last := store.LastSeq()
		events, err := store.Events(storeFilter(f))
		if err != nil {
			return err
		}
		out = &rpc.EventList{Events: events, LastSeq: last, FirstSeq: store.FirstSeq()}
		return nil
	})
	return out, err
}

// withEventStore runs fn on the current event store, once more on the new
// one when a snapshot restore swapped (and closed) the store under it.
func (m *Master) withEventStore(fn func(*eventstore.Store) error) error {
	store := m.fsm.Events()
	err := fn(store)
	if err != nil && errors.Is(err, eventstore.ErrClosed) {
		if next := m.fsm.Events(); next != store {
			err = fn(next)
		}
	}
	if err != nil {
		return fmt.Errorf("event store: %w", err)
	}
	return nil
}

// storeFilter converts a wire filter (already validated) to the store's.
func storeFilter(f *rpc.EventFilter) eventstore.Filter {
	return eventstore.Filter{
		Types:     f.GetTypes(),
		Entities:  f.GetEntityIds(),
		Since:     f.GetSince(),
		Until:     f.GetUntil(),
		After:     f.GetAfter(),
		Limit:     int(f.GetLimit()),
		Ascending: f.GetAscending(),
	}
}

// storageService is the seeds' StorageService over this master's replicated
// event graph, read-only (writes go through Raft, never through it).
func (m *Master) storageService() rpc.StorageServiceServer {
	return eventstore.NewStorageServer(func() *eventstore.Store { return m.fsm.Events() }, m.ID(), true, m.logger.Named("storage_service"))
}
