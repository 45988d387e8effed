package sim

import (
	"context"
	"fmt"
	"net"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/rpc/security"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// agentServer answers the leader's calls to simulated agents: they run
// no storage nodes and refuse to start any.
type agentServer struct {
	rpc.UnimplementedGridAgentServer
}

func (agentServer) ListNodes(context.Context, *rpc.ListNodesRequest) (*rpc.ListNodesResponse, error) {
	calls.listed()
	return &rpc.ListNodesResponse{}, nil
}

func (agentServer) SpawnNode(_ context.Context, in *rpc.SpawnNodeRequest) (*rpc.SpawnNodeResponse, error) {
	return nil, status.Errorf(codes.FailedPrecondition, "node_id %q: a simulated agent runs no storage nodes", in.NodeId)
}

func (agentServer) GetNodeStatus(_ context.Context, in *rpc.NodeStatusRequest) (*rpc.NodeStatusResponse, error) {
	return nil, status.Errorf(codes.NotFound, "node_id %q: a simulated agent runs no storage nodes", in.NodeId)
}

func (agentServer) StopNode(_ context.Context, in *rpc.StopNodeRequest) (*rpc.StopNodeResponse, error) {
	return nil, status.Errorf(codes.NotFound, "node_id %q: a simulated agent runs no storage nodes", in.NodeId)
}

// serveAgent serves agentServer on a loopback port and returns its
// address (every simulated agent's endpoint) and a stop func.
func serveAgent(files security.TLSFiles) (string, func(), error) {
	creds, err := security.ServerCredentials(files)
	if err != nil {
		return "", nil, err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("listen for the simulated agents' endpoint: %w", err)
	}
	srv := grpc.NewServer(grpc.Creds(creds))
	rpc.RegisterGridAgentServer(srv, agentServer{})
	go func() { _ = srv.Serve(lis) }()
	return lis.Addr().String(), srv.Stop, nil
}
