package rpc

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Spawn limits: the one rule the REST API, the gRPC API and the agent apply
// to a spawn order. An agent narrows them with its own configuration (its
// port range, its data directory), never widens them.
const (
	// MinNodePort and MaxNodePort bound a requested port; 0 lets the agent
	// pick one in its range. Ports below 1024 are privileged and never
	// handed to storage nodes.
	MinNodePort = 1024
	MaxNodePort = 65535
	// MinNodeMemoryMB and MaxNodeMemoryMB bound memory_limit_mb (MiB); 0
	// takes the agent's default.
	MinNodeMemoryMB = 16
	MaxNodeMemoryMB = 65536
	// MaxStoragePathLen bounds storage_path in bytes.
	MaxStoragePathLen = 1024
)

// ValidateSpawnRequest checks a spawn order. Empty agent_id and node_id are
// allowed (placement picks the agent; the receiving master names the node
// with NewNodeID); port 0 and memory_limit_mb 0 mean "the agent's choice".
func ValidateSpawnRequest(req *SpawnRequest) error {
	if req == nil {
		return fmt.Errorf("%w: empty request", ErrInvalid)
	}
	return ValidateSpawn(req.AgentId, req.NodeId, int64(req.Port), req.MemoryLimitMb, req.StoragePath)
}

// ValidateSpawn is ValidateSpawnRequest on the fields of a spawn order; the
// numbers are signed or unsigned so that the REST API, which decodes JSON
// numbers that may be negative, gives the same answer as gRPC.
func ValidateSpawn[M int64 | uint64](agentID, nodeID string, port int64, memoryMB M, storagePath string) error {
	if agentID != "" {
		if err := ValidateID("agent_id", agentID); err != nil {
			return err
		}
	}
	if nodeID != "" {
		if err := ValidateID("node_id", nodeID); err != nil {
			return err
		}
	}
	if port != 0 && (port < MinNodePort || port > MaxNodePort) {
		return fmt.Errorf("%w: port %d is out of range (%d-%d, or 0 for the agent's choice)", ErrInvalid, port, MinNodePort, MaxNodePort)
	}
	if err := CheckMemoryLimitMB(memoryMB); err != nil {
		return err
	}
	return ValidateStoragePath(storagePath)
}

// CheckMemoryLimitMB checks memory_limit_mb: 0 (the agent's default) or
// MinNodeMemoryMB..MaxNodeMemoryMB.
func CheckMemoryLimitMB[M int64 | uint64](mb M) error {
	if mb != 0 && (mb < MinNodeMemoryMB || mb > MaxNodeMemoryMB) {
		return fmt.Errorf("%w: memory_limit_mb %d is out of range (%d-%d, or 0 for the agent's default)", ErrInvalid, mb, MinNodeMemoryMB, MaxNodeMemoryMB)
	}
	return nil
}

// ValidateStoragePath checks the shape of a storage path: empty (the agent's
// <data>/nodes/<node_id>) or relative to the agent's data directory, valid
// UTF-8 without NUL, no ".." component, at most MaxStoragePathLen bytes. The
// agent then resolves it (symlinks included) and refuses anything outside
// its data directory.
func ValidateStoragePath(p string) error {
	switch {
	case p == "":
		return nil
	case len(p) > MaxStoragePathLen:
		return fmt.Errorf("%w: storage_path is %d bytes long, the limit is %d", ErrInvalid, len(p), MaxStoragePathLen)
	case strings.ContainsRune(p, 0) || !utf8.ValidString(p):
		return fmt.Errorf("%w: storage_path must be valid UTF-8 without NUL bytes", ErrInvalid)
	case strings.HasPrefix(p, "/") || strings.HasPrefix(p, `\`):
		return fmt.Errorf("%w: storage_path %q is absolute; it must be relative to the agent's data dir", ErrInvalid, Truncate(p, 64))
	}
	for _, part := range strings.FieldsFunc(p, func(r rune) bool { return r == '/' || r == '\\' }) {
		if part == ".." {
			return fmt.Errorf("%w: storage_path %q has a '..' component; it must stay inside the agent's data dir", ErrInvalid, Truncate(p, 64))
		}
	}
	return nil
}

// ValidateStopRequest checks a stop order: node_id is required.
func ValidateStopRequest(req *StopRequest) error {
	if req == nil {
		return fmt.Errorf("%w: empty request", ErrInvalid)
	}
	return ValidateStop(req.NodeId, req.AgentId)
}

// ValidateStop is ValidateStopRequest on the fields of a stop order.
func ValidateStop(nodeID, agentID string) error {
	if err := ValidateID("node_id", nodeID); err != nil {
		return err
	}
	if agentID != "" {
		return ValidateID("agent_id", agentID)
	}
	return nil
}

// ValidateNodeReport checks an agent's report of a node's actual state.
func ValidateNodeReport(n *NodeStatus) error {
	if n == nil {
		return fmt.Errorf("%w: empty report", ErrInvalid)
	}
	if err := ValidateID("node_id", n.NodeId); err != nil {
		return err
	}
	if err := ValidateID("agent_id", n.AgentId); err != nil {
		return err
	}
	if !IsNodeStatus(n.Status) {
		return fmt.Errorf("%w: status %q is not a storage-node status", ErrInvalid, Truncate(n.Status, 64))
	}
	if n.Port > MaxNodePort {
		return fmt.Errorf("%w: port %d is out of range", ErrInvalid, n.Port)
	}
	return nil
}
