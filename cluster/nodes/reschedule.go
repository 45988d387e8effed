package nodes

import (
	"context"
	"time"

	"github.com/gridctl/grid/rpc"
	"google.golang.org/protobuf/proto"
)

// rescheduleWindow is the window of Config.RescheduleAttempts.
const rescheduleWindow = time.Hour

// rescheduleLost handles nodes whose agent has been silent for
// Config.RescheduleAfter: each live node is committed lost (node_lost) and
// placed on another eligible agent (node_rescheduled) with an empty data
// directory, the old machine being out of reach. Nodes failed for good on a
// live agent (restart budget spent) are rescheduled the same way, at most
// RescheduleAttempts times per hour each.
func (o *Orchestrator) rescheduleLost(ctx context.Context) {
	after := o.cfg.RescheduleAfter
	if after <= 0 || o.silence == nil {
		return
	}
	// Only agents holding nodes matter: their silence is looked up once
	// each, not every agent's every pass (10,000 lookups a second on the
	// liveness timers' lock at 10,000 agents).
	nodes := o.reg.Nodes()
	if len(nodes) == 0 {
		return
	}
	known := map[string]bool{}
	for _, id := range o.reg.AgentIDs() {
		known[id] = true
	}
	gone := map[string]bool{}
	for _, n := range nodes {
		if _, judged := gone[n.AgentId]; judged {
			continue
		}
		d, ok := o.silence(n.AgentId)
		gone[n.AgentId] = !known[n.AgentId] || (ok && d >= after) // unregistered (removed or collected), or silent
	}
	for _, n := range o.reg.Nodes() {
		if ctx.Err() != nil {
			return
		}
		if n.DesiredState != rpc.DesiredRunning {
			continue
		}
		switch {
		case gone[n.AgentId] && (rpc.NodeAlive(n.Status) || n.Status == rpc.NodeLost):
			o.rescheduleNode(ctx, n, "agent "+n.AgentId+" silent for over "+after.String(), true)
		case n.Status == rpc.NodeFailed && !gone[n.AgentId] && failedForGood(n):
			o.rescheduleNode(ctx, n, "restart budget spent on agent "+n.AgentId, false)
		}
	}
}

// failedForGood says whether a failed node failed on its agent (its restart
// budget spent) rather than by an order that did not arrive.
func failedForGood(n *rpc.NodeStatus) bool {
	return n.RestartCount > 0 || n.LastExitCode != 0 || n.LastSignal != ""
}

// rescheduleNode marks n lost (when its agent is gone) and moves it.
func (o *Orchestrator) rescheduleNode(ctx context.Context, n *rpc.NodeStatus, reason string, agentGone bool) {
	if !o.acquire(n.NodeId) {
		return
	}
	defer o.release(n.NodeId)
	cur, ok := o.reg.Node(n.NodeId)
	if !ok || cur.AgentId != n.AgentId || cur.DesiredState != rpc.DesiredRunning {
		return
	}
	if !agentGone && o.recentReschedules(cur.NodeId, false) >= o.cfg.RescheduleAttempts {
		return
	}
	if agentGone && cur.Status != rpc.NodeLost {
		lost := proto.Clone(cur).(*rpc.NodeStatus)
		lost.Status, lost.LastError, lost.UpdatedAt = rpc.NodeLost, reason, time.Now().UnixMicro()
		o.metrics.reconciled(actionLost)
		o.log.Warn("storage node lost", "node_id", cur.NodeId, "agent_id", cur.AgentId, "reason", reason)
		if err := o.commitNode(lost, o.nodeEvent(rpc.EventType_NODE_LOST, lost, map[string]string{"reason": reason})); err != nil {
			o.log.Warn("could not mark node lost", "node_id", cur.NodeId, "error", err)
			return
		}
		cur = lost
	}
	o.placeMu.Lock()
	to, err := o.placeElsewhere(cur.AgentId)
	o.placeMu.Unlock()
	if err != nil {
		o.log.Debug("reschedule: no agent for the node yet", "node_id", cur.NodeId, "error", err)
		return
	}
	from, _ := o.reg.Agent(cur.AgentId)
	if !agentGone {
		o.recentReschedules(cur.NodeId, true)
	}
	if _, err := o.moveNode(ctx, move{rec: cur, from: from, to: to, reschedule: true, reason: reason}); err != nil {
		o.log.Warn("reschedule failed", "node_id", cur.NodeId, "to_agent", to.AgentId, "error", err)
	}
}

// recentReschedules counts the reschedules of failed node id this leader
// made within the last hour; with record it records one more (the caller
// is about to move it). The count lives in the leader's memory: a new
// leader starts afresh.
func (o *Orchestrator) recentReschedules(id string, record bool) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	cutoff := time.Now().Add(-rescheduleWindow)
	var keep []time.Time
	for _, t := range o.rescheduled[id] {
		if t.After(cutoff) {
			keep = append(keep, t)
		}
	}
	if record {
		keep = append(keep, time.Now())
	}
	if len(keep) == 0 {
		delete(o.rescheduled, id)
	} else {
		o.rescheduled[id] = keep
	}
	return len(keep)
}
