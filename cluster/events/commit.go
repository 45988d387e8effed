package events

import (
	"context"
	"fmt"

	"github.com/gridctl/grid/fsm"
	"github.com/gridctl/grid/rpc"
	"google.golang.org/protobuf/proto"
)

// AsyncApplier is an Applier that can start a command and wait for it
// separately (ApplyStart returns once raft has taken the entry, fixing its
// place in the log). When the Applier has it, the batcher keeps several
// entries in flight.
type AsyncApplier interface {
	ApplyStart(t fsm.MessageType, msg proto.Message) (wait func() (any, error), err error)
}

// startLocal starts committing one batch as one Raft entry (leader only,
// like commitLocal) and returns the wait for its result.
func (p *Pipeline) startLocal(batch []*rpc.Event) (func() (*rpc.EmitEventsResponse, error), error) {
	async := p.deps.Applier.(AsyncApplier)
	wait, err := async.ApplyStart(fsm.AppendEventsType, &rpc.EmitEventsRequest{Events: batch, Source: p.cfg.MasterID})
	if err != nil {
		return nil, err
	}
	return func() (*rpc.EmitEventsResponse, error) {
		out, err := wait()
		if err != nil {
			return nil, err
		}
		resp, ok := out.(*rpc.EmitEventsResponse)
		if !ok {
			return nil, fmt.Errorf("append events: unexpected fsm response %T", out)
		}
		return resp, nil
	}, nil
}

// commitLocal commits one batch as one Raft entry through the Applier.
// Leader only: on a follower it fails at once, without any network call,
// so the flusher never waits on another master.
func (p *Pipeline) commitLocal(_ context.Context, batch []*rpc.Event) (*rpc.EmitEventsResponse, error) {
	out, err := p.deps.Applier.Apply(fsm.AppendEventsType, &rpc.EmitEventsRequest{Events: batch, Source: p.cfg.MasterID})
	if err != nil {
		return nil, err
	}
	resp, ok := out.(*rpc.EmitEventsResponse)
	if !ok {
		return nil, fmt.Errorf("append events: unexpected fsm response %T", out)
	}
	return resp, nil
}

// resend commits one batch of this master's own events whose first commit
// failed: through the Applier on the leader, through the leader's
// EmitEvents from a follower (the master's forwarding path, marked
// forwarded so it is never forwarded again). The response is the Raft
// entry's result.
func (p *Pipeline) resend(ctx context.Context, batch []*rpc.Event) (*rpc.EmitEventsResponse, error) {
	req := &rpc.EmitEventsRequest{Events: batch, Source: p.cfg.MasterID}
	return forward(ctx, p.deps.Forwarder,
		func(ctx context.Context) (*rpc.EmitEventsResponse, error) { return p.commitLocal(ctx, batch) },
		func(ctx context.Context, c rpc.GridMasterClient) (*rpc.EmitEventsResponse, error) {
			return c.EmitEvents(ctx, req)
		})
}
