package rpc

// Agent statuses (AgentRecord.status), set by the leader's heartbeat timers.
const (
	AgentHealthy  = "healthy"
	AgentDegraded = "degraded"
	AgentOffline  = "offline"
)

// Storage-node statuses (NodeStatus.status). The agent reports starting,
// running, crashed, restarting, stopping, stopped and failed; the master
// adds pending (ordered, not yet confirmed) and lost (its agent went away).
const (
	NodePending    = "pending"
	NodeStarting   = "starting"
	NodeRunning    = "running"
	NodeCrashed    = "crashed"
	NodeRestarting = "restarting"
	NodeStopping   = "stopping"
	NodeStopped    = "stopped"
	NodeFailed     = "failed"
	NodeLost       = "lost"
)

// Desired states of a storage node (NodeStatus.desired_state).
const (
	DesiredRunning = "running"
	DesiredStopped = "stopped"
)

// IsNodeStatus reports whether s is one of the storage-node statuses.
func IsNodeStatus(s string) bool {
	switch s {
	case NodePending, NodeStarting, NodeRunning, NodeCrashed, NodeRestarting,
		NodeStopping, NodeStopped, NodeFailed, NodeLost:
		return true
	}
	return false
}

// NodeAlive reports whether a status means the node's process is (or is
// about to be) running.
func NodeAlive(s string) bool {
	switch s {
	case NodePending, NodeStarting, NodeRunning, NodeRestarting, NodeCrashed:
		return true
	}
	return false
}
