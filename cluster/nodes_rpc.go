package cluster

import (
	"context"
	"errors"
	"fmt"

	"github.com/gridctl/grid/rpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// SpawnStorageNode starts a storage node (DESIGN.md data flow 2). Any
// master accepts it; the leader carries it out.
func (s *gridService) SpawnStorageNode(ctx context.Context, req *rpc.SpawnRequest) (*rpc.SpawnResponse, error) {
	if err := validateSpawnRequest(req); err != nil {
		return nil, nodeStatusError(err)
	}
	if req.NodeId == "" {
		// The master that receives the order names the node, so that a
		// forwarded order retried after a leader change stays one node.
		id, err := randomNodeID()
		if err != nil {
			return nil, toStatus(err)
		}
		req = proto.Clone(req).(*rpc.SpawnRequest)
		req.NodeId = id
	}
	return forward(ctx, s.m, func(ctx context.Context) (*rpc.SpawnResponse, error) {
		resp, err := s.m.spawnNode(ctx, req)
		return resp, nodeStatusError(err)
	}, func(ctx context.Context, c rpc.GridMasterClient) (*rpc.SpawnResponse, error) {
		return c.SpawnStorageNode(ctx, req)
	})
}

// StopStorageNode stops a storage node and keeps its record (status stopped).
func (s *gridService) StopStorageNode(ctx context.Context, req *rpc.StopRequest) (*rpc.StopResponse, error) {
	if err := validateStopRequest(req); err != nil {
		return nil, nodeStatusError(err)
	}
	return forward(ctx, s.m, func(ctx context.Context) (*rpc.StopResponse, error) {
		resp, err := s.m.stopNode(ctx, req)
		return resp, nodeStatusError(err)
	}, func(ctx context.Context, c rpc.GridMasterClient) (*rpc.StopResponse, error) {
		return c.StopStorageNode(ctx, req)
	})
}

// GetStorageNodeStatus returns a node's record, refreshed from its agent
// by the leader; with x-grid-stale any master answers from its replica.
func (s *gridService) GetStorageNodeStatus(ctx context.Context, req *rpc.NodeId) (*rpc.NodeStatus, error) {
	if err := validateID("node_id", req.GetNodeId()); err != nil {
		return nil, nodeStatusError(err)
	}
	if s.m.allowStale(ctx) {
		n, ok := s.m.fsm.Node(req.NodeId)
		if !ok {
			return nil, nodeStatusError(fmt.Errorf("node %q: %w", req.NodeId, ErrNotFound))
		}
		return n, nil
	}
	return forward(ctx, s.m, func(ctx context.Context) (*rpc.NodeStatus, error) {
		n, err := s.m.nodeStatus(ctx, req.NodeId)
		return n, nodeStatusError(err)
	}, func(ctx context.Context, c rpc.GridMasterClient) (*rpc.NodeStatus, error) {
		return c.GetStorageNodeStatus(ctx, req)
	})
}

// ListStorageNodes lists every node record: from the leader by default,
// from this master's replica with x-grid-stale.
func (s *gridService) ListStorageNodes(ctx context.Context, _ *rpc.Empty) (*rpc.NodeList, error) {
	if s.m.allowStale(ctx) {
		return &rpc.NodeList{Nodes: s.m.fsm.Nodes()}, nil
	}
	return forward(ctx, s.m, func(ctx context.Context) (*rpc.NodeList, error) {
		if err := s.m.verifyLeader(); err != nil {
			return nil, err
		}
		return &rpc.NodeList{Nodes: s.m.fsm.Nodes()}, nil
	}, func(ctx context.Context, c rpc.GridMasterClient) (*rpc.NodeList, error) {
		return c.ListStorageNodes(ctx, &rpc.Empty{})
	})
}

// ReportNodeStatus records an agent's report of a node's actual state.
func (s *gridService) ReportNodeStatus(ctx context.Context, req *rpc.NodeStatus) (*rpc.Empty, error) {
	if err := validateNodeReport(req); err != nil {
		return nil, nodeStatusError(err)
	}
	return forward(ctx, s.m, func(ctx context.Context) (*rpc.Empty, error) {
		return &rpc.Empty{}, nodeStatusError(s.m.reportNodeStatus(req))
	}, func(ctx context.Context, c rpc.GridMasterClient) (*rpc.Empty, error) {
		return c.ReportNodeStatus(ctx, req)
	})
}

// nodeStatusError converts the orchestrator's errors to gRPC statuses with
// their context; an agent's refusal keeps the agent's code. Leadership and
// other core errors are left for toStatus (forward applies it, and a
// not-leader error must stay recognisable so forward can retry).
func nodeStatusError(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var refusal *AgentRefusal
	var code codes.Code
	switch {
	case errors.As(err, &refusal):
		code = refusal.Code
		if code == codes.NotFound || code == codes.Unknown || code == codes.OK {
			code = codes.FailedPrecondition
		}
	case errors.Is(err, ErrNodeExists):
		code = codes.AlreadyExists
	case errors.Is(err, ErrAgentNotHealthy), errors.Is(err, ErrWrongAgent):
		code = codes.FailedPrecondition
	case errors.Is(err, ErrAgentFull), errors.Is(err, ErrNoAgentAvailable):
		code = codes.ResourceExhausted
	case errors.Is(err, ErrNodeBusy), errors.Is(err, ErrOrderInterrupted):
		code = codes.Aborted
	case errors.Is(err, ErrAgentUnreachable):
		code = codes.Unavailable
	default:
		if isNotLeaderErr(err) {
			return err
		}
		return toStatus(err)
	}
	return status.Error(code, err.Error())
}
