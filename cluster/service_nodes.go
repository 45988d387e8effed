package cluster

import (
	"context"
	"fmt"

	"github.com/gridctl/grid/rpc"
	"google.golang.org/protobuf/proto"
)

// The storage-node RPCs of gridService. Each validates its request once,
// here at the edge (rpc.Validate*), then runs on the leader's
// nodes.Orchestrator or is forwarded to the leader, whose handler checks the
// forwarded request again as its own edge.

// SpawnStorageNode starts a storage node (DESIGN.md data flow 2). Any
// master accepts it; the leader carries it out.
func (s *gridService) SpawnStorageNode(ctx context.Context, req *rpc.SpawnRequest) (*rpc.SpawnResponse, error) {
	if err := rpc.ValidateSpawnRequest(req); err != nil {
		return nil, toStatus(err)
	}
	if req.NodeId == "" {
		// The master that receives the order names the node, so that a
		// forwarded order retried after a leader change stays one node.
		id, err := rpc.NewNodeID()
		if err != nil {
			return nil, toStatus(err)
		}
		req = proto.Clone(req).(*rpc.SpawnRequest)
		req.NodeId = id
	}
	return forward(ctx, s.m, func(ctx context.Context) (*rpc.SpawnResponse, error) {
		return idempotent(ctx, s.m, "SpawnStorageNode", func() *rpc.SpawnResponse { return new(rpc.SpawnResponse) },
			func(ctx context.Context) (*rpc.SpawnResponse, error) { return s.m.nodes.Spawn(ctx, req) })
	}, func(ctx context.Context, c rpc.GridMasterClient) (*rpc.SpawnResponse, error) {
		return c.SpawnStorageNode(ctx, req)
	})
}

// StopStorageNode stops a storage node and keeps its record (status stopped).
func (s *gridService) StopStorageNode(ctx context.Context, req *rpc.StopRequest) (*rpc.StopResponse, error) {
	if err := rpc.ValidateStopRequest(req); err != nil {
		return nil, toStatus(err)
	}
	return forward(ctx, s.m, func(ctx context.Context) (*rpc.StopResponse, error) {
		return idempotent(ctx, s.m, "StopStorageNode", func() *rpc.StopResponse { return new(rpc.StopResponse) },
			func(ctx context.Context) (*rpc.StopResponse, error) { return s.m.nodes.Stop(ctx, req) })
	}, func(ctx context.Context, c rpc.GridMasterClient) (*rpc.StopResponse, error) {
		return c.StopStorageNode(ctx, req)
	})
}

// GetStorageNodeStatus returns a node's record, refreshed from its agent
// by the leader; with x-grid-stale any master answers from its replica.
func (s *gridService) GetStorageNodeStatus(ctx context.Context, req *rpc.NodeId) (*rpc.NodeStatus, error) {
	if err := rpc.ValidateID("node_id", req.GetNodeId()); err != nil {
		return nil, toStatus(err)
	}
	if s.m.allowStale(ctx) {
		n, ok := s.m.fsm.Node(req.NodeId)
		if !ok {
			return nil, toStatus(fmt.Errorf("node %q: %w", req.NodeId, ErrNotFound))
		}
		return n, nil
	}
	return forward(ctx, s.m, func(ctx context.Context) (*rpc.NodeStatus, error) {
		return s.m.nodes.Status(ctx, req.NodeId)
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
		if err := s.m.verifyLeaderRead(); err != nil {
			return nil, err
		}
		return &rpc.NodeList{Nodes: s.m.fsm.Nodes()}, nil
	}, func(ctx context.Context, c rpc.GridMasterClient) (*rpc.NodeList, error) {
		return c.ListStorageNodes(ctx, &rpc.Empty{})
	})
}

// ReportNodeStatus records an agent's report of a node's actual state.
func (s *gridService) ReportNodeStatus(ctx context.Context, req *rpc.NodeStatus) (*rpc.Empty, error) {
	if err := rpc.ValidateNodeReport(req); err != nil {
		return nil, toStatus(err)
	}
	return forward(ctx, s.m, func(ctx context.Context) (*rpc.Empty, error) {
		return &rpc.Empty{}, s.m.nodes.Report(req)
	}, func(ctx context.Context, c rpc.GridMasterClient) (*rpc.Empty, error) {
		return c.ReportNodeStatus(ctx, req)
	})
}
