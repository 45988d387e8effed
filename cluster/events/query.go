package events

import (
	"context"
	"errors"
	"fmt"

	"github.com/gridctl/grid/eventstore"
	"github.com/gridctl/grid/rpc"
	"google.golang.org/grpc"
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
	encoded := encodedReply(ctx)
	if f.GetStale() || p.deps.Forwarder.AllowStale(ctx) {
		out, err := p.queryLocal(f, encoded)
		return out, toStatus(err)
	}
	return forward(ctx, p.deps.Forwarder,
		func(ctx context.Context) (*rpc.EventList, error) {
			if err := p.deps.Leadership.VerifyLeader(); err != nil {
				return nil, err
			}
			out, err := p.queryLocal(f, encoded)
			return out, ownStatus(err)
		},
		func(ctx context.Context, c rpc.GridMasterClient) (*rpc.EventList, error) {
			return c.QueryEvents(ctx, f)
		})
}

// encodedReply reports whether ctx is a gRPC call's: its reply goes
// straight to gRPC's codec, so its events can be sent as the store encodes
// them (rpc.SetEncodedEvents). An in-process caller (the REST API's
// Backend) reads the events and gets them built.
func encodedReply(ctx context.Context) bool {
	return grpc.ServerTransportStreamFromContext(ctx) != nil
}

// queryLocal runs f on this master's event graph, its events pre-encoded
// when encoded (eventstore.EventsWire: no events built on the way to the
// wire; a store string that is not UTF-8 takes the built path, which
// refuses it as before). last_seq is read before the query, so a client
// following from it misses nothing.
func (p *Pipeline) queryLocal(f *rpc.EventFilter, encoded bool) (*rpc.EventList, error) {
	var out *rpc.EventList
	err := p.withEventStore(func(store *eventstore.Store) error {
		last := store.LastSeq()
		if encoded {
			raw, _, err := store.EventsWire(storeFilter(f))
			if err == nil {
				out = &rpc.EventList{LastSeq: last, FirstSeq: store.FirstSeq()}
				rpc.SetEncodedEvents(out, raw)
				return nil
			}
			if !errors.Is(err, eventstore.ErrNotWire) {
				return err
			}
		}
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
