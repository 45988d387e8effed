package agent

import (
	"context"
	"errors"

	"github.com/gridctl/grid/rpc"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// agentService is the GridAgent gRPC service over a Supervisor. It
// validates at the edge and turns the Supervisor's errors into codes.
type agentService struct {
	rpc.UnimplementedGridAgentServer
	sup    *Supervisor
	logger hclog.Logger
}

// NewAgentService returns the GridAgent service of sup.
func NewAgentService(sup *Supervisor, logger hclog.Logger) rpc.GridAgentServer {
	return &agentService{sup: sup, logger: logger.Named("grpc")}
}

func (a *agentService) SpawnNode(ctx context.Context, req *rpc.SpawnNodeRequest) (*rpc.SpawnNodeResponse, error) {
	if err := ValidateNodeID(req.GetNodeId()); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "node_id %q: %v", req.GetNodeId(), err)
	}
	if req.GetPort() > 65535 {
		return nil, status.Errorf(codes.InvalidArgument, "port %d: not a TCP port (1-65535, or 0 for the agent to pick)", req.GetPort())
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
	if err := ValidateNodeID(req.GetNodeId()); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "node_id %q: %v", req.GetNodeId(), err)
	}
	if err := a.sup.Stop(ctx, req.GetNodeId()); err != nil {
		return nil, toStatus(err)
	}
	return &rpc.StopNodeResponse{Success: true}, nil
}

func (a *agentService) GetNodeStatus(ctx context.Context, req *rpc.NodeStatusRequest) (*rpc.NodeStatusResponse, error) {
	if err := ValidateNodeID(req.GetNodeId()); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "node_id %q: %v", req.GetNodeId(), err)
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

// toStatus maps the agent's sentinel errors to gRPC codes; the message
// keeps the error's context (the value and the allowed range).
func toStatus(err error) error {
	code := codes.Internal
	switch {
	case errors.Is(err, ErrInvalidNodeID), errors.Is(err, ErrInvalidPort),
		errors.Is(err, ErrInvalidStoragePath), errors.Is(err, ErrInvalidMemoryLimit):
		code = codes.InvalidArgument
	case errors.Is(err, ErrPortInUse), errors.Is(err, ErrNodeConflict):
		code = codes.AlreadyExists
	case errors.Is(err, ErrAgentFull), errors.Is(err, ErrNoFreePort):
		code = codes.ResourceExhausted
	case errors.Is(err, ErrNodeNotFound):
		code = codes.NotFound
	case errors.Is(err, ErrSupervisorClosed):
		code = codes.Unavailable
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	}
	return status.Error(code, err.Error())
}
