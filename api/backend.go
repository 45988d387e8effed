package api

import (
	"context"

	"github.com/gridctl/grid/rpc"
	"google.golang.org/grpc"
)

// Backend is what the REST API needs from a master. The generated
// rpc.GridMasterClient satisfies it (cmd dials the local master's gRPC port),
// so every REST call goes through the same validation, forwarding and
// consistency rules as the gRPC API.
type Backend interface {
	GetClusterStatus(ctx context.Context, in *rpc.Empty, opts ...grpc.CallOption) (*rpc.ClusterStatus, error)
	ListAgents(ctx context.Context, in *rpc.Empty, opts ...grpc.CallOption) (*rpc.AgentList, error)
	ListStorageNodes(ctx context.Context, in *rpc.Empty, opts ...grpc.CallOption) (*rpc.NodeList, error)
	GetStorageNodeStatus(ctx context.Context, in *rpc.NodeId, opts ...grpc.CallOption) (*rpc.NodeStatus, error)
	SpawnStorageNode(ctx context.Context, in *rpc.SpawnRequest, opts ...grpc.CallOption) (*rpc.SpawnResponse, error)
	StopStorageNode(ctx context.Context, in *rpc.StopRequest, opts ...grpc.CallOption) (*rpc.StopResponse, error)
	QueryEvents(ctx context.Context, in *rpc.EventFilter, opts ...grpc.CallOption) (*rpc.EventList, error)
	StreamEvents(ctx context.Context, in *rpc.StreamEventsRequest, opts ...grpc.CallOption) (grpc.ServerStreamingClient[rpc.Event], error)
	AskQuery(ctx context.Context, in *rpc.NaturalQueryRequest, opts ...grpc.CallOption) (*rpc.NaturalQueryResponse, error)
	ListMasters(ctx context.Context, in *rpc.Empty, opts ...grpc.CallOption) (*rpc.MasterList, error)
	RemovePeer(ctx context.Context, in *rpc.RemovePeerRequest, opts ...grpc.CallOption) (*rpc.Empty, error)
	TransferLeadership(ctx context.Context, in *rpc.TransferLeadershipRequest, opts ...grpc.CallOption) (*rpc.TransferLeadershipResponse, error)
	Ready(ctx context.Context, in *rpc.Empty, opts ...grpc.CallOption) (*rpc.ReadyResponse, error)
}

var _ Backend = rpc.NewGridMasterClient(nil)
