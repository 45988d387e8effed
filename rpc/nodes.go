package rpc

// NewNodeStatusResponse is an agent's answer about one node: the seeds'
// fields filled from n (started_at in unix seconds), n itself in node.
func NewNodeStatusResponse(n *NodeStatus) *NodeStatusResponse {
	if n == nil {
		return nil
	}
	var started uint64
	if n.GetStartedAt() > 0 {
		started = uint64(n.GetStartedAt() / 1_000_000)
	}
	return &NodeStatusResponse{
		NodeId: n.GetNodeId(), Status: n.GetStatus(), Pid: n.GetPid(), Port: n.GetPort(),
		StoragePath: n.GetStoragePath(), StartedAt: started, RestartCount: n.GetRestartCount(), Node: n,
	}
}

// NodeRecord is the full record carried by r: its node field when the
// agent sent one (Grid agents do), else one built from the seeds' fields.
func (r *NodeStatusResponse) NodeRecord() *NodeStatus {
	if r == nil {
		return nil
	}
	if n := r.GetNode(); n != nil {
		return n
	}
	return &NodeStatus{
		NodeId: r.GetNodeId(), Status: r.GetStatus(), Pid: r.GetPid(), Port: r.GetPort(),
		StoragePath: r.GetStoragePath(), StartedAt: int64(r.GetStartedAt()) * 1_000_000, RestartCount: r.GetRestartCount(),
	}
}
