package events

import (
	"context"
	"fmt"

	"github.com/gridctl/grid/fsm"
	"github.com/gridctl/grid/rpc"
)

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
