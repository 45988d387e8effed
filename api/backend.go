package api

import (
	"context"

	"github.com/gridctl/grid/rpc"
)

// Backend is what the REST API needs from a master: a plain Go interface
// over the rpc messages, called in-process. cluster.Backend implements it
// on top of the master's own request handling (validation, forwarding to
// the leader, consistency), so a REST call takes the same path as the
// matching gRPC call without a connection to the master's gRPC port.
//
// Errors are gRPC status errors (codes.NotFound, codes.Unavailable, ...);
// the API turns them into HTTP statuses in one place (errors.go). A read
// with stale=true may be answered from the local replica; otherwise the
// leader answers (forwarded from a follower).
type Backend interface {
	// Ready is the local master's readiness (never forwarded, never guarded
	// by a token: probes carry none).
	Ready(ctx context.Context) (*rpc.ReadyResponse, error)
	GetClusterStatus(ctx context.Context, stale bool) (*rpc.ClusterStatus, error)
	ListAgents(ctx context.Context, stale bool) (*rpc.AgentList, error)
	ListStorageNodes(ctx context.Context, stale bool) (*rpc.NodeList, error)
	GetStorageNodeStatus(ctx context.Context, in *rpc.NodeId, stale bool) (*rpc.NodeStatus, error)
	ListMasters(ctx context.Context, stale bool) (*rpc.MasterList, error)
	// QueryEvents lists events; in.Stale lets the local replica answer.
	QueryEvents(ctx context.Context, in *rpc.EventFilter) (*rpc.EventList, error)
	// StreamEvents calls send for each event after in.After, in seq order,
	// then for new ones as they are applied, until ctx ends (nil) or the
	// stream fails (codes.OutOfRange: the resume point was pruned). An error
	// from send ends the stream with that error.
	StreamEvents(ctx context.Context, in *rpc.StreamEventsRequest, send func(*rpc.Event) error) error
	AskQuery(ctx context.Context, in *rpc.NaturalQueryRequest, stale bool) (*rpc.NaturalQueryResponse, error)
	SpawnStorageNode(ctx context.Context, in *rpc.SpawnRequest) (*rpc.SpawnResponse, error)
	StopStorageNode(ctx context.Context, in *rpc.StopRequest) (*rpc.StopResponse, error)
	RemovePeer(ctx context.Context, in *rpc.RemovePeerRequest) error
	TransferLeadership(ctx context.Context, in *rpc.TransferLeadershipRequest) (*rpc.TransferLeadershipResponse, error)
	// VerifyReplicas compares every master's state digest at one index
	// (run by the leader).
	VerifyReplicas(ctx context.Context) (*rpc.VerifyResponse, error)
	// Day-two operations on agents: one agent's record, unregister
	// (refused for a healthy or busy agent unless force), eligibility, drain.
	GetAgent(ctx context.Context, in *rpc.AgentId, stale bool) (*rpc.AgentRecord, error)
	RemoveAgent(ctx context.Context, in *rpc.RemoveAgentRequest) error
	SetAgentEligibility(ctx context.Context, in *rpc.AgentEligibilityRequest) (*rpc.AgentRecord, error)
	DrainAgent(ctx context.Context, in *rpc.DrainAgentRequest) (*rpc.AgentRecord, error)
	// AutopilotHealth is each master's health as the leader's autopilot sees it.
	AutopilotHealth(ctx context.Context) (*rpc.AutopilotHealthResponse, error)
	// ListAlerts lists alert episodes (firing only unless in.All).
	ListAlerts(ctx context.Context, in *rpc.ListAlertsRequest, stale bool) (*rpc.AlertList, error)
}

// A mutating call's request id (header X-Request-Id or body field
// request_id) reaches the backend on its context (rpc.WithRequestID): a
// retry with the same id of a call that succeeded is answered with the
// first result.
