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
	// AgentStatusType: rpc.AgentStatusCommand.
	AgentStatusType MessageType = 3
	// UpsertNodeType: rpc.NodeStatus, the whole record (replaces the old one).
	UpsertNodeType MessageType = 4
	// DeleteNodeType: rpc.NodeId.
	DeleteNodeType MessageType = 5
	// AppendEventsType: rpc.EmitEventsRequest; events are deduplicated by id.
	AppendEventsType MessageType = 6
	// PruneEventsType: rpc.PruneEventsCommand.
	PruneEventsType MessageType = 7
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
