package cluster

import (
	"context"
	"fmt"
	"io"

	"github.com/gridctl/grid/rpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Backend is this master's request handling called in-process: the REST API
// (api.Backend) uses it instead of a connection to the master's own gRPC
// port. Each method calls the gRPC service handler of the same name, so the
// validation, the forwarding of writes and consistent reads to the leader
// (forward.go, over the cached leader connection), the leader-ready and
// VerifyLeader checks and the error codes are exactly the gRPC API's.
//
// What the gRPC server's interceptors do is not repeated here: the API
// checks bearer tokens itself and audits its refusals (Master.AuditRefused),
// and the rate limits cover only Heartbeat and EmitEvents, which the REST
// API does not call.
type Backend struct {
	svc   rpc.GridMasterServer
	graph rpc.StorageServiceServer // the read-only event graph (backend_graph.go)
}

// Backend returns the in-process backend of this master's REST API.
func (m *Master) Backend() *Backend {
	return &Backend{svc: &gridService{m: m}, graph: m.storageService()}
}

// staleReadKey marks a context whose caller accepts a stale read (the
// in-process form of the x-grid-stale metadata; see Master.allowStale).
type staleReadKey struct{}

// withStaleRead marks ctx as accepting a stale read when stale is set.
func withStaleRead(ctx context.Context, stale bool) context.Context {
	if !stale {
		return ctx
	}
	return context.WithValue(ctx, staleReadKey{}, true)
}

// isStaleRead reports whether ctx was marked by withStaleRead.
func isStaleRead(ctx context.Context) bool {
	v, _ := ctx.Value(staleReadKey{}).(bool)
	return v
}

// callError gives err the status a gRPC client would have seen: a status
// error passes through; once ctx has ended the caller's deadline or
// cancellation wins (DEADLINE_EXCEEDED, CANCELED), as on a client
// connection; any other error becomes UNKNOWN, as the gRPC server makes it.
func callError(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return status.FromContextError(ctx.Err()).Err()
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.FromContextError(err).Err()
}

// call runs one unary handler with the stale mark and converts its error.
func call[In, Out any](ctx context.Context, stale bool, handler func(context.Context, In) (Out, error), in In) (Out, error) {
	out, err := handler(withStaleRead(ctx, stale), in)
	if err != nil {
		var zero Out
		return zero, callError(ctx, err)
	}
	return out, nil
}

// Ready is this master's readiness (never forwarded).
func (b *Backend) Ready(ctx context.Context) (*rpc.ReadyResponse, error) {
	return call(ctx, false, b.svc.Ready, &rpc.Empty{})
}

// GetClusterStatus reports agents, nodes, masters and health.
func (b *Backend) GetClusterStatus(ctx context.Context, stale bool) (*rpc.ClusterStatus, error) {
	return call(ctx, stale, b.svc.GetClusterStatus, &rpc.Empty{})
}

// ListAgents lists agents with their nodes.
func (b *Backend) ListAgents(ctx context.Context, stale bool) (*rpc.AgentList, error) {
	return call(ctx, stale, b.svc.ListAgents, &rpc.Empty{})
}

// ListStorageNodes lists every node record.
func (b *Backend) ListStorageNodes(ctx context.Context, stale bool) (*rpc.NodeList, error) {
	return call(ctx, stale, b.svc.ListStorageNodes, &rpc.Empty{})
}

// GetStorageNodeStatus returns one node's record.
func (b *Backend) GetStorageNodeStatus(ctx context.Context, in *rpc.NodeId, stale bool) (*rpc.NodeStatus, error) {
	return call(ctx, stale, b.svc.GetStorageNodeStatus, in)
}

// ListMasters lists the raft configuration with each master's state.
func (b *Backend) ListMasters(ctx context.Context, stale bool) (*rpc.MasterList, error) {
	return call(ctx, stale, b.svc.ListMasters, &rpc.Empty{})
}

// QueryEvents answers an event filter; in.Stale allows the local replica.
func (b *Backend) QueryEvents(ctx context.Context, in *rpc.EventFilter) (*rpc.EventList, error) {
	return call(ctx, false, b.svc.QueryEvents, in)
}

// AskQuery answers a plain-English question.
func (b *Backend) AskQuery(ctx context.Context, in *rpc.NaturalQueryRequest, stale bool) (*rpc.NaturalQueryResponse, error) {
	return call(ctx, stale, b.svc.AskQuery, in)
}

// ListAlerts lists alert episodes.
func (b *Backend) ListAlerts(ctx context.Context, in *rpc.ListAlertsRequest, stale bool) (*rpc.AlertList, error) {
	return call(ctx, stale, b.svc.ListAlerts, in)
}

// SpawnStorageNode starts a storage node (forwarded to the leader).
func (b *Backend) SpawnStorageNode(ctx context.Context, in *rpc.SpawnRequest) (*rpc.SpawnResponse, error) {
	return call(ctx, false, b.svc.SpawnStorageNode, in)
}

// StopStorageNode stops a storage node (forwarded to the leader).
func (b *Backend) StopStorageNode(ctx context.Context, in *rpc.StopRequest) (*rpc.StopResponse, error) {
	return call(ctx, false, b.svc.StopStorageNode, in)
}

// RemovePeer removes a master from the raft configuration.
func (b *Backend) RemovePeer(ctx context.Context, in *rpc.RemovePeerRequest) error {
	_, err := call(ctx, false, b.svc.RemovePeer, in)
	return err
}

// TransferLeadership hands leadership to another voter.
func (b *Backend) TransferLeadership(ctx context.Context, in *rpc.TransferLeadershipRequest) (*rpc.TransferLeadershipResponse, error) {
	return call(ctx, false, b.svc.TransferLeadership, in)
}

// StreamEvents calls send for each event after in.After, then for new ones,
// until ctx ends (nil) or the stream fails (OUT_OF_RANGE for a pruned
// resume point); an error from send ends it with that error.
func (b *Backend) StreamEvents(ctx context.Context, in *rpc.StreamEventsRequest, send func(*rpc.Event) error) error {
	err := b.svc.StreamEvents(in, &eventSender{ctx: ctx, send: send})
	if err == nil {
		return nil
	}
	return callError(ctx, err)
}

// eventSender is the server side of an event stream whose client is in
// this process: Send hands the event to a function.
type eventSender struct {
	ctx  context.Context
	send func(*rpc.Event) error
}

var _ grpc.ServerStreamingServer[rpc.Event] = (*eventSender)(nil)

func (s *eventSender) Send(e *rpc.Event) error      { return s.send(e) }
func (s *eventSender) Context() context.Context     { return s.ctx }
func (s *eventSender) SetHeader(metadata.MD) error  { return nil }
func (s *eventSender) SendHeader(metadata.MD) error { return nil }
func (s *eventSender) SetTrailer(metadata.MD)       {}
func (s *eventSender) RecvMsg(any) error            { return io.EOF }
func (s *eventSender) SendMsg(m any) error {
	e, ok := m.(*rpc.Event)
	if !ok {
		return status.Error(codes.Internal, fmt.Sprintf("event stream: cannot send %T", m))
	}
	return s.send(e)
}

// VerifyReplicas compares every master's state digest at one index.
func (b *Backend) VerifyReplicas(ctx context.Context) (*rpc.VerifyResponse, error) {
	return call(ctx, false, b.svc.VerifyReplicas, &rpc.Empty{})
}

// GetAgent returns one agent's record (eligibility and drain included).
func (b *Backend) GetAgent(ctx context.Context, in *rpc.AgentId, stale bool) (*rpc.AgentRecord, error) {
	return call(ctx, stale, b.svc.GetAgent, in)
}

// RemoveAgent unregisters an agent (force: even a healthy or busy one).
func (b *Backend) RemoveAgent(ctx context.Context, in *rpc.RemoveAgentRequest) error {
	_, err := call(ctx, false, b.svc.RemoveAgent, in)
	return err
}

// SetAgentEligibility turns placement on an agent on or off.
func (b *Backend) SetAgentEligibility(ctx context.Context, in *rpc.AgentEligibilityRequest) (*rpc.AgentRecord, error) {
	return call(ctx, false, b.svc.SetAgentEligibility, in)
}

// DrainAgent starts or cancels a drain.
func (b *Backend) DrainAgent(ctx context.Context, in *rpc.DrainAgentRequest) (*rpc.AgentRecord, error) {
	return call(ctx, false, b.svc.DrainAgent, in)
}

// AutopilotHealth is each master's health as the leader's autopilot sees it.
func (b *Backend) AutopilotHealth(ctx context.Context) (*rpc.AutopilotHealthResponse, error) {
	return call(ctx, false, b.svc.AutopilotHealth, &rpc.Empty{})
}

// ACLBootstrap implements api.ACLBackend.
func (b *Backend) ACLBootstrap(ctx context.Context) (*rpc.ACLTokenSecret, error) {
	out, err := b.svc.ACLBootstrap(ctx, &rpc.Empty{})
	return out, callError(ctx, err)
}

// ACLTokenCreate implements api.ACLBackend.
func (b *Backend) ACLTokenCreate(ctx context.Context, in *rpc.ACLTokenCreateRequest) (*rpc.ACLTokenSecret, error) {
	out, err := b.svc.ACLTokenCreate(ctx, in)
	return out, callError(ctx, err)
}

// ACLTokenList implements api.ACLBackend.
func (b *Backend) ACLTokenList(ctx context.Context) (*rpc.ACLTokens, error) {
	out, err := b.svc.ACLTokenList(ctx, &rpc.Empty{})
	return out, callError(ctx, err)
}

// ACLTokenRevoke implements api.ACLBackend.
func (b *Backend) ACLTokenRevoke(ctx context.Context, in *rpc.ACLAccessor) error {
	_, err := b.svc.ACLTokenRevoke(ctx, in)
	return callError(ctx, err)
}

// ACLPolicyUpsert implements api.ACLBackend.
func (b *Backend) ACLPolicyUpsert(ctx context.Context, in *rpc.ACLPolicy) error {
	_, err := b.svc.ACLPolicyUpsert(ctx, in)
	return callError(ctx, err)
}

// ACLPolicyList implements api.ACLBackend.
func (b *Backend) ACLPolicyList(ctx context.Context) (*rpc.ACLPolicies, error) {
	out, err := b.svc.ACLPolicyList(ctx, &rpc.Empty{})
	return out, callError(ctx, err)
}

// ACLPolicyDelete implements api.ACLBackend.
func (b *Backend) ACLPolicyDelete(ctx context.Context, in *rpc.ACLPolicyName) error {
	_, err := b.svc.ACLPolicyDelete(ctx, in)
	return callError(ctx, err)
}
