package fsm

import (
	"fmt"

	"google.golang.org/protobuf/proto"
)

// MessageType is the first byte of every Raft command; the protobuf body
// follows. Numbers are only ever appended, never reused.
type MessageType uint8

const (
	// RegisterAgentType: rpc.AgentRecord (the proposer sets registered_at,
	// last_heartbeat and status). Re-registration keeps the agent's nodes.
	RegisterAgentType MessageType = 1
	// UnregisterAgentType: rpc.AgentId.
	UnregisterAgentType MessageType = 2
	// AgentStatusType: rpc.AgentStatusCommand (a one-change AgentStatusBatchType).
	AgentStatusType MessageType = 3
	// UpsertNodeType: rpc.NodeStatus, the whole record (replaces the old one).
	UpsertNodeType MessageType = 4
	// DeleteNodeType: rpc.NodeId.
	DeleteNodeType MessageType = 5
	// AppendEventsType: rpc.EmitEventsRequest; events are deduplicated by id.
	AppendEventsType MessageType = 6
	// PruneEventsType: rpc.PruneEventsCommand.
	PruneEventsType MessageType = 7

	// The commands below carry the lifecycle events their change causes;
	// Apply stores them with the change, in one event-store transaction, and
	// only when the change is applied. Types 1, 2, 4 and 5 stay for entries
	// already in logs.

	// RegisterAgentEventsType: rpc.RegisterAgentCommand.
	RegisterAgentEventsType MessageType = 8
	// UnregisterAgentEventsType: rpc.UnregisterAgentCommand.
	UnregisterAgentEventsType MessageType = 9
	// AgentStatusBatchType: rpc.AgentStatusBatch, status changes of many
	// agents, each a compare-and-set on expected_status decided on its own;
	// the response is a []error, one per change (nil when applied).
	AgentStatusBatchType MessageType = 10
	// UpsertNodeEventsType: rpc.UpsertNodeCommand.
	UpsertNodeEventsType MessageType = 11
	// DeleteNodeEventsType: rpc.DeleteNodeCommand.
	DeleteNodeEventsType MessageType = 12
	// VerifyMarkerType: rpc.VerifyMarkerCommand; every master records its
	// state digest at this index (replicas.go).
	VerifyMarkerType MessageType = 16
	// MasterRemovalType: rpc.MasterRemovalCommand; adds to (or, with undo,
	// clears from) the removed-master set (removed.go).
	MasterRemovalType MessageType = 17
	// RecordRequestType: rpc.RequestRecord; records a mutating call's
	// response by request id, after applying its command if it has one
	// (requests.go).
	RecordRequestType MessageType = 18

	// Day-two operations (issue 13): 40-47.

	// AgentSchedulingType: rpc.AgentSchedulingCommand; an agent's
	// eligibility and drain state (scheduling.go).
	AgentSchedulingType MessageType = 40
	// AutopilotConfigType: rpc.AutopilotConfig; the operator's autopilot
	// configuration (scheduling.go).
	AutopilotConfigType MessageType = 41
	// WebhookAckType: rpc.WebhookAckCommand; moves a webhook's acknowledged
	// seq forward (webhooks.go). Numbers 48-55 belong to alerts and webhooks.
	WebhookAckType MessageType = 48
)

func (t MessageType) String() string {
	switch t {
	case RegisterAgentType:
		return "register_agent"
	case UnregisterAgentType:
		return "unregister_agent"
	case AgentStatusType:
		return "agent_status"
	case UpsertNodeType:
		return "upsert_node"
	case DeleteNodeType:
		return "delete_node"
	case AppendEventsType:
		return "append_events"
	case PruneEventsType:
		return "prune_events"
	case RegisterAgentEventsType:
		return "register_agent_events"
	case UnregisterAgentEventsType:
		return "unregister_agent_events"
	case AgentStatusBatchType:
		return "agent_status_batch"
	case UpsertNodeEventsType:
		return "upsert_node_events"
	case DeleteNodeEventsType:
		return "delete_node_events"
	case VerifyMarkerType:
		return "verify_marker"
	case MasterRemovalType:
		return "master_removal"
	case RecordRequestType:
		return "record_request"
	case AgentSchedulingType:
		return "agent_scheduling"
	case AutopilotConfigType:
		return "autopilot_config"
	case WebhookAckType:
		return "webhook_ack"
	}
	if name, ok := aclTypeName(t); ok {
		return name
	}
	return fmt.Sprintf("message_type_%d", uint8(t))
}

// Encode makes a Raft command: the type byte then msg's protobuf encoding.
func Encode(t MessageType, msg proto.Message) ([]byte, error) {
	body, err := proto.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", t, err)
	}
	buf := make([]byte, 0, 1+len(body))
	buf = append(buf, byte(t))
	return append(buf, body...), nil
}
