package events

import (
	"context"
	"errors"

	"github.com/gridctl/grid/eventstore"
	"github.com/gridctl/grid/fsm"
	"github.com/gridctl/grid/rpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Applier commits one command through Raft and returns the FSM's response
// value. It is leader only: on a follower it fails at once (without any
// network call) with an error the Forwarder recognises as "not the leader".
type Applier interface {
	Apply(t fsm.MessageType, msg proto.Message) (any, error)
}

// Leadership is the pipeline's view of this master's leadership.
type Leadership interface {
	// VerifyLeader fails unless this master is the leader and still has
	// quorum contact (for consistent reads).
	VerifyLeader() error
}

// Forwarder routes a request to the leader: the master's one forwarding
// path (cluster/forward.go), handed in so this package writes no second one.
type Forwarder interface {
	// Forward runs local on the leader; on a follower it calls remote with a
	// client to the leader (marked forwarded, so it is never forwarded
	// again), waiting briefly while no leader is known. Errors come back as
	// gRPC status errors.
	Forward(ctx context.Context, local func(context.Context) (any, error),
		remote func(context.Context, rpc.GridMasterClient) (any, error)) (any, error)
	// AllowStale reports whether the caller accepts a read from this
	// master's replica (x-grid-stale).
	AllowStale(ctx context.Context) bool
}

// Store reads this master's replica: the event graph and the registry.
// *fsm.FSM satisfies it.
type Store interface {
	// Events is the current event store (a snapshot restore swaps it).
	Events() *eventstore.Store
	// Agents lists the registered agents.
	Agents() []*rpc.AgentRecord
	// Nodes lists the storage nodes.
	Nodes() []*rpc.NodeStatus
}

// Deps are what the pipeline is handed by the master that builds it.
type Deps struct {
	Applier    Applier
	Leadership Leadership
	Forwarder  Forwarder
	Store      Store
	// MasterIDs lists the masters in the Raft configuration (for the ask's
	// entity matching); nil means none.
	MasterIDs func() []string
	// FailureTolerance is how many masters may fail without losing quorum
	// (the quorum_at_risk rule); nil switches that rule off.
	FailureTolerance func() (int32, error)
}

func (d Deps) validate() error {
	if d.Applier == nil || d.Leadership == nil || d.Forwarder == nil || d.Store == nil {
		return errors.New("events: Applier, Leadership, Forwarder and Store are required")
	}
	return nil
}

// forward is Forwarder.Forward with typed results.
func forward[T any](ctx context.Context, fw Forwarder, local func(context.Context) (T, error),
	remote func(context.Context, rpc.GridMasterClient) (T, error)) (T, error) {
	out, err := fw.Forward(ctx,
		func(ctx context.Context) (any, error) { return local(ctx) },
		func(ctx context.Context, c rpc.GridMasterClient) (any, error) { return remote(ctx, c) })
	var zero T
	if err != nil {
		return zero, err
	}
	t, ok := out.(T)
	if !ok && out != nil {
		return zero, status.Errorf(codes.Internal, "forward: unexpected response %T", out)
	}
	return t, nil
}
