package cluster

import (
	"fmt"
	"strings"

	"github.com/gridctl/grid/rpc"
)

// Bounds of a spawn order. The agent checks them again, precisely (its own
// port range and data dir), so these are the outer limits every agent shares.
const (
	minNodePort       = 1024
	maxNodePort       = 65535
	minNodeMemoryMB   = 16
	maxNodeMemoryMB   = 65536
	maxStoragePathLen = 1024
)

// validateSpawnRequest checks a spawn order at the edge. Empty agent_id and
// node_id are allowed (placement and the leader fill them in); port 0 and
// memory_limit_mb 0 mean "the agent's default".
func validateSpawnRequest(req *rpc.SpawnRequest) error {
	if req == nil {
		return fmt.Errorf("%w: empty request", ErrInvalid)
	}
	if req.AgentId != "" {
		if err := validateID("agent_id", req.AgentId); err != nil {
			return err
		}
	}
	if req.NodeId != "" {
		if err := validateID("node_id", req.NodeId); err != nil {
			return err
		}
	}
	if req.Port != 0 && (req.Port < minNodePort || req.Port > maxNodePort) {
		return fmt.Errorf("%w: port %d is out of range (%d-%d, or 0 for the agent's choice)", ErrInvalid, req.Port, minNodePort, maxNodePort)
	}
	if req.MemoryLimitMb != 0 && (req.MemoryLimitMb < minNodeMemoryMB || req.MemoryLimitMb > maxNodeMemoryMB) {
		return fmt.Errorf("%w: memory_limit_mb %d is out of range (%d-%d, or 0 for the agent's default)", ErrInvalid, req.MemoryLimitMb, minNodeMemoryMB, maxNodeMemoryMB)
	}
	return validateStoragePath(req.StoragePath)
}

// validateStoragePath checks the shape of a storage path: relative to the
// agent's data dir, no ".." component, no NUL, at most 1024 bytes. The agent
// resolves it (symlinks included) and refuses anything outside its data dir.
func validateStoragePath(p string) error {
	switch {
	case p == "":
		return nil
	case len(p) > maxStoragePathLen:
		return fmt.Errorf("%w: storage_path is %d bytes long, the limit is %d", ErrInvalid, len(p), maxStoragePathLen)
	case strings.ContainsRune(p, 0):
		return fmt.Errorf("%w: storage_path contains a NUL byte", ErrInvalid)
	case strings.HasPrefix(p, "/") || strings.HasPrefix(p, `\`):
		return fmt.Errorf("%w: storage_path %q is absolute; it must be relative to the agent's data dir", ErrInvalid, p)
	}
	for _, part := range strings.FieldsFunc(p, func(r rune) bool { return r == '/' || r == '\\' }) {
		if part == ".." {
			return fmt.Errorf("%w: storage_path %q has a '..' component; it must stay inside the agent's data dir", ErrInvalid, p)
		}
	}
	return nil
}

// validateStopRequest checks a stop order at the edge.
func validateStopRequest(req *rpc.StopRequest) error {
	if req == nil {
		return fmt.Errorf("%w: empty request", ErrInvalid)
	}
	if err := validateID("node_id", req.NodeId); err != nil {
		return err
	}
	if req.AgentId != "" {
		return validateID("agent_id", req.AgentId)
	}
	return nil
}

// nodeStatuses are the values NodeStatus.status may take.
var nodeStatuses = map[string]bool{
	nodePending: true, nodeStarting: true, nodeRunning: true, nodeCrashed: true, nodeRestarting: true,
	nodeStopping: true, nodeStopped: true, nodeFailed: true, nodeLost: true,
}

// validateNodeReport checks a ReportNodeStatus call from an agent.
func validateNodeReport(n *rpc.NodeStatus) error {
	if n == nil {
		return fmt.Errorf("%w: empty report", ErrInvalid)
	}
	if err := validateID("node_id", n.NodeId); err != nil {
		return err
	}
	if err := validateID("agent_id", n.AgentId); err != nil {
		return err
	}
	if !nodeStatuses[n.Status] {
		return fmt.Errorf("%w: status %q is not a storage-node status", ErrInvalid, n.Status)
	}
	if n.Port > maxNodePort {
		return fmt.Errorf("%w: port %d is out of range", ErrInvalid, n.Port)
	}
	return nil
}
