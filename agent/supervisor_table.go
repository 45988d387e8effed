package agent

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/gridctl/grid/rpc"
)

// The node table: what the Supervisor reports of its nodes, port choice,
// and the table's persistence. Callers hold s.mu where a name ends in Locked.

// Status returns one node's state.
func (s *Supervisor) Status(nodeID string) (*rpc.NodeStatus, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.nodes[nodeID]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNodeNotFound, nodeID)
	}
	return s.statusLocked(n), nil
}

// List returns every node the agent knows, sorted by id.
func (s *Supervisor) List() []*rpc.NodeStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*rpc.NodeStatus, 0, len(s.nodes))
	for _, n := range s.nodes {
		out = append(out, s.statusLocked(n))
	}
	slices.SortFunc(out, func(a, b *rpc.NodeStatus) int {
		switch {
		case a.NodeId < b.NodeId:
			return -1
		case a.NodeId > b.NodeId:
			return 1
		}
		return 0
	})
	return out
}

// ActiveCount is the number of nodes counted against max_storage_nodes.
func (s *Supervisor) ActiveCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.activeLocked("")
}

// choosePortLocked validates a requested port or picks a free one.
func (s *Supervisor) choosePortLocked(port int) (int, error) {
	used := make(map[int]string)
	for _, n := range s.nodes {
		if n.rec.Status != rpc.NodeFailed {
			used[n.rec.Port] = n.rec.NodeID
		}
	}
	if port == 0 {
		for p := s.cfg.PortRangeStart; p <= s.cfg.PortRangeEnd; p++ {
			if _, taken := used[p]; !taken && portFree(p) {
				return p, nil
			}
		}
		return 0, fmt.Errorf("%w: every port of %d-%d is taken", ErrNoFreePort, s.cfg.PortRangeStart, s.cfg.PortRangeEnd)
	}
	if port < s.cfg.PortRangeStart || port > s.cfg.PortRangeEnd {
		return 0, fmt.Errorf("%w: port %d is outside the agent's range %d-%d", ErrInvalidPort, port, s.cfg.PortRangeStart, s.cfg.PortRangeEnd)
	}
	if id, taken := used[port]; taken {
		return 0, fmt.Errorf("%w: port %d is used by node %q", ErrPortInUse, port, id)
	}
	if !portFree(port) {
		return 0, fmt.Errorf("%w: port %d is taken by another process", ErrPortInUse, port)
	}
	return port, nil
}

// activeLocked counts nodes that hold a slot, leaving out except.
func (s *Supervisor) activeLocked(except string) int {
	c := 0
	for id, n := range s.nodes {
		if id != except && n.rec.Status != rpc.NodeFailed {
			c++
		}
	}
	return c
}

func (s *Supervisor) persistLocked() {
	recs := make([]*NodeRecord, 0, len(s.nodes))
	for _, n := range s.nodes {
		recs = append(recs, n.rec)
	}
	slices.SortFunc(recs, func(a, b *NodeRecord) int {
		if a.NodeID < b.NodeID {
			return -1
		}
		return 1
	})
	if err := saveState(s.cfg.DataDir, s.cfg.AgentID, recs); err != nil {
		s.logger.Error("could not persist node table", "error", err)
	}
}

func (s *Supervisor) statusLocked(n *node) *rpc.NodeStatus {
	r := n.rec
	pid := r.PID
	if r.Status == rpc.NodeStopped || r.Status == rpc.NodeFailed || r.Status == rpc.NodeRestarting || r.Status == rpc.NodeCrashed {
		pid = 0
	}
	return &rpc.NodeStatus{
		NodeId:        r.NodeID,
		AgentId:       s.cfg.AgentID,
		Status:        r.Status,
		Pid:           uint32(pid),
		Port:          uint32(r.Port),
		Endpoint:      net.JoinHostPort(s.cfg.AdvertiseHost(), strconv.Itoa(r.Port)),
		StoragePath:   r.StoragePath,
		MemoryLimitMb: r.MemoryLimitMB,
		RestartCount:  r.RestartCount,
		LastExitCode:  r.LastExitCode,
		LastSignal:    r.LastSignal,
		LastError:     r.LastError,
		CreatedAt:     r.CreatedAt,
		StartedAt:     r.StartedAt,
		UpdatedAt:     time.Now().UnixMicro(),
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
