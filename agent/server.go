package agent

import (
	"context"

	"github.com/gridctl/grid/rpc"
	"github.com/hashicorp/go-hclog"
)

// agentService is the GridAgent gRPC service over a Supervisor. It
// validates at the edge and turns the Supervisor's errors into codes.
type agentService struct {
	rpc.UnimplementedGridAgentServer
	keyring keyringService
	sup     *Supervisor
	logger  hclog.Logger
}

// NewAgentService returns the GridAgent service of sup.
func NewAgentService(sup *Supervisor, logger hclog.Logger) rpc.GridAgentServer {
	return &agentService{sup: sup, logger: logger.Named("grpc")}
}

func (a *agentService) SpawnNode(ctx context.Context, req *rpc.SpawnNodeRequest) (*rpc.SpawnNodeResponse, error) {
	// The wire contract, as every master checks it (rpc.ValidateSpawn); the
	// supervisor then applies this agent's own port range and data dir.
	if err := rpc.ValidateID("node_id", req.GetNodeId()); err != nil {
		return nil, rpc.ToStatus(err)
	}
	if err := rpc.ValidateSpawn("", req.GetNodeId(), int64(req.GetPort()), req.GetMemoryLimitMb(), req.GetStoragePath()); err != nil {
		return nil, rpc.ToStatus(err)
	}
	st, err := a.sup.Spawn(ctx, SpawnSpec{
		NodeID:        req.GetNodeId(),
		Port:          int(req.GetPort()),
		StoragePath:   req.GetStoragePath(),
		MemoryLimitMB: req.GetMemoryLimitMb(),
	})
	if err != nil {
		a.logger.Warn("spawn refused", "node_id", req.GetNodeId(), "port", req.GetPort(), "storage_path", req.GetStoragePath(), "error", err)
		return nil, toStatus(err)
	}
	return &rpc.SpawnNodeResponse{
		Success:     true,
		NodeId:      st.NodeId,
		Pid:         st.Pid,
		Endpoint:    st.Endpoint,
		Port:        st.Port,
		StoragePath: st.StoragePath,
		Node:        st,
	}, nil
}

func (a *agentService) StopNode(ctx context.Context, req *rpc.StopNodeRequest) (*rpc.StopNodeResponse, error) {
	if err := rpc.ValidateID("node_id", req.GetNodeId()); err != nil {
		return nil, rpc.ToStatus(err)
	}
	if err := a.sup.Stop(ctx, req.GetNodeId()); err != nil {
		return nil, toStatus(err)
	}
	return &rpc.StopNodeResponse{Success: true}, nil
}

func (a *agentService) GetNodeStatus(ctx context.Context, req *rpc.NodeStatusRequest) (*rpc.NodeStatusResponse, error) {
	if err := rpc.ValidateID("node_id", req.GetNodeId()); err != nil {
		return nil, rpc.ToStatus(err)
	}
	st, err := a.sup.Status(req.GetNodeId())
	if err != nil {
		return nil, toStatus(err)
	}
	return rpc.NewNodeStatusResponse(st), nil
}

func (a *agentService) ListNodes(ctx context.Context, req *rpc.ListNodesRequest) (*rpc.ListNodesResponse, error) {
	nodes := a.sup.List()
	resp := &rpc.ListNodesResponse{Nodes: make([]*rpc.NodeStatusResponse, 0, len(nodes))}
	for _, n := range nodes {
		resp.Nodes = append(resp.Nodes, rpc.NewNodeStatusResponse(n))
	}
	return resp, nil
}

// toStatus maps the agent's sentinel errors to gRPC codes with rpc's one
// table (each sentinel is declared with its kind); the message keeps the
// error's context (the value and the allowed range).
func toStatus(err error) error {
	return rpc.ToStatus(err)
}
