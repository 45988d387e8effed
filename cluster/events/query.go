package events

import (
	"context"
	"errors"
	"fmt"

	"github.com/gridctl/grid/eventstore"
	"github.com/gridctl/grid/rpc"
)

// QueryEvents answers a filter from the event graph: on the leader by
// default (consistent), from this master's replica when the filter or the
// call's metadata asks for stale reads.
func (p *Pipeline) QueryEvents(ctx context.Context, f *rpc.EventFilter) (*rpc.EventList, error) {
	if f == nil {
		f = &rpc.EventFilter{}
	}
	if err := validateEventFilter(f); err != nil {
		return nil, toStatus(err)
	}
	if f.GetStale() || p.deps.Forwarder.AllowStale(ctx) {
		out, err := p.queryLocal(f)
		return out, toStatus(err)
	}
	return forward(ctx, p.deps.Forwarder,
		func(ctx context.Context) (*rpc.EventList, error) {
			if err := p.deps.Leadership.VerifyLeader(); err != nil {
				return nil, err
			}
			out, err := p.queryLocal(f)
			return out, ownStatus(err)
		},
		func(ctx context.Context, c rpc.GridMasterClient) (*rpc.EventList, error) {
			return c.QueryEvents(ctx, f)
		})
}

// queryLocal runs f on this master's event graph. last_seq is read
// before the query, so a client following from it misses nothing.
func (p *Pipeline) queryLocal(f *rpc.EventFilter) (*rpc.EventList, error) {
	var out *rpc.EventList
	err := p.withEventStore(func(store *eventstore.Store) error {
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
func (p *Pipeline) withEventStore(fn func(*eventstore.Store) error) error {
	store := p.deps.Store.Events()
	err := fn(store)
	if err != nil && errors.Is(err, eventstore.ErrClosed) {
		if next := p.deps.Store.Events(); next != store {
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
