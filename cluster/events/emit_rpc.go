package events

import (
	"context"

	"github.com/gridctl/grid/rpc"
)

// EmitEvents commits events sent by an agent (or a follower master). It is
// forwarded to the leader, where the events join the next Raft entry (group
// commit); the answer comes only after that entry is committed, so an
// acknowledged event is a committed event. Duplicates (a resend after a lost
// answer) are acknowledged but not counted in accepted.
func (p *Pipeline) EmitEvents(ctx context.Context, req *rpc.EmitEventsRequest) (*rpc.EmitEventsResponse, error) {
	if err := validateEmitRequest(req); err != nil {
		return nil, toStatus(err)
	}
	return forward(ctx, p.deps.Forwarder,
		func(ctx context.Context) (*rpc.EmitEventsResponse, error) {
			for _, e := range req.Events {
				e.Seq = 0 // assigned on apply
				if e.Source == "" {
					e.Source = req.Source
				}
			}
			resp, err := p.batcher.Submit(ctx, req.Events)
			return resp, ownStatus(err)
		},
		func(ctx context.Context, c rpc.GridMasterClient) (*rpc.EmitEventsResponse, error) {
			return c.EmitEvents(ctx, req)
		})
}
