package nodes

import (
	"context"
	"fmt"
	"time"

	"github.com/gridctl/grid/rpc"
	"google.golang.org/protobuf/proto"
)

// Status answers GetStorageNodeStatus on the leader: the registry
// record, refreshed from the agent's GetNodeStatus when the agent answers;
// an actual state that differs from the record is committed, but only
// while this master holds the node (no order in progress) and VerifyLeader
// confirms it leads: a status read on any other master commits nothing.
func (o *Orchestrator) Status(ctx context.Context, nodeID string) (*rpc.NodeStatus, error) {
	rec, ok := o.reg.Node(nodeID)
	if !ok {
		return nil, fmt.Errorf("node %q: %w", nodeID, rpc.ErrNotFound)
	}
	agent, ok := o.reg.Agent(rec.AgentId)
	if !ok || agent.Status == rpc.AgentOffline || agent.Endpoint == "" {
		return rec, nil
	}
	var resp *rpc.NodeStatusResponse
	err := o.callAgent(ctx, agent, "get_node_status", o.cfg.StatusTimeout, func(ctx context.Context, c rpc.GridAgentClient) error {
		var err error
		resp, err = c.GetNodeStatus(ctx, &rpc.NodeStatusRequest{NodeId: nodeID})
		return err
	})
	if err != nil {
		o.log.Debug("node status not refreshed from agent", "node_id", nodeID, "agent_id", rec.AgentId, "error", err)
		return rec, nil
	}
	actual := resp.NodeRecord()
	if !o.acquire(nodeID) { // an order is in progress: it commits the outcome
		return mergeActual(rec, actual), nil
	}
	defer o.release(nodeID)
	if cur, ok := o.reg.Node(nodeID); ok {
		rec = cur
	}
	merged, changed := mergeChanged(rec, actual)
	if !changed {
		return merged, nil
	}
	// A read commits only on a master that verifiably leads (and holds
	// the node, above): one that lost leadership, or a follower answering,
	// returns what the agent said and writes nothing.
	if err := o.fence.VerifyLeader(); err != nil {
		o.log.Debug("refreshed node status not committed: not the leader", "node_id", nodeID, "error", err)
		return merged, nil
	}
	if err := o.commitNode(merged); err != nil {
		o.log.Warn("could not commit refreshed node status", "node_id", nodeID, "error", err)
	}
	return merged, nil
}

// mergeChanged merges actual into rec and says whether anything the agent
// owns changed; updated_at moves only when it did.
func mergeChanged(rec, actual *rpc.NodeStatus) (*rpc.NodeStatus, bool) {
	merged := mergeActual(rec, actual)
	if proto.Equal(merged, rec) {
		return rec, false
	}
	merged.UpdatedAt = time.Now().UnixMicro()
	return merged, true
}

// Report merges an agent's report of a node's actual state into the
// registry on the leader; the desired state is kept. report must be valid
// (rpc.ValidateNodeReport). A node that should
// be stopped but is reported alive gets its agent reconciled at once.
func (o *Orchestrator) Report(report *rpc.NodeStatus) error {
	// Read-modify-write under the node's lock, so that a report never undoes
	// a concurrent order's desired state. While an order is in progress the
	// agent is told to retry (its reports are retried until acknowledged).
	if !o.acquire(report.NodeId) {
		return fmt.Errorf("node %q: %w", report.NodeId, ErrNodeBusy)
	}
	defer o.release(report.NodeId)
	rec, ok := o.reg.Node(report.NodeId)
	if !ok {
		return fmt.Errorf("node %q: %w", report.NodeId, rpc.ErrNotFound)
	}
	if rec.AgentId != report.AgentId {
		o.RequestReconcile(report.AgentId)
		return fmt.Errorf("node %q is placed on agent %s, not %s: %w", report.NodeId, rec.AgentId, report.AgentId, ErrWrongAgent)
	}
	merged, changed := mergeChanged(rec, report)
	if changed {
		if err := o.commitNode(merged); err != nil {
			return err
		}
	}
	if merged.DesiredState == rpc.DesiredStopped && rpc.NodeAlive(merged.Status) {
		o.RequestReconcile(report.AgentId)
	}
	return nil
}
