package nodes

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gridctl/grid/fsm"
	"github.com/gridctl/grid/rpc"
)

// ErrAgentInUse: removing an agent that is healthy or still holds running
// nodes needs force.
var ErrAgentInUse = rpc.NewSentinel("agent is healthy or still holds running nodes", rpc.ErrPrecondition)

// RemoveAgent unregisters an agent (agent_unregistered). A healthy agent,
// or one whose nodes still hold slots, is refused unless force: drain it
// first, or stop it. Its node records stay (lost once the reconciler sees
// the agent gone) and are rescheduled or collected like any other.
func (o *Orchestrator) RemoveAgent(agentID string, force bool, reason string) error {
	a, ok := o.reg.Agent(agentID)
	if !ok {
		return fmt.Errorf("agent %q: %w", agentID, rpc.ErrNotFound)
	}
	running := 0
	for _, n := range o.reg.NodesOfAgent(agentID) {
		if nodeHoldsSlot(n) {
			running++
		}
	}
	if !force && (a.Status == rpc.AgentHealthy || running > 0) {
		return fmt.Errorf("agent %s is %s with %d running nodes; drain it (grid agents drain %s) or stop it first, or use force: %w",
			agentID, a.Status, running, agentID, ErrAgentInUse)
	}
	ev := rpc.NewEvent(o.source, rpc.EventType_AGENT_UNREGISTERED, agentID, map[string]string{
		"agent_id": agentID, "reason": reason, "status": a.Status, "running_nodes": strconv.Itoa(running), "forced": strconv.FormatBool(force),
	})
	if _, err := o.apply.Apply(fsm.UnregisterAgentEventsType, &rpc.UnregisterAgentCommand{AgentId: agentID, Events: []*rpc.Event{ev}}); err != nil {
		return fmt.Errorf("unregister agent %q: %w", agentID, err)
	}
	if o.forget != nil {
		o.forget(agentID)
	}
	o.log.Info("agent removed", "agent_id", agentID, "reason", reason, "forced", force)
	return nil
}

// collectGarbage removes agents offline for Config.AgentGCAfter
// (agent_unregistered) and node records stopped or failed for
// Config.NodeGCAfter (node_removed), each judged by its own timestamps;
// briefs is the registry's list of agents.
func (o *Orchestrator) collectGarbage(ctx context.Context, briefs []fsm.AgentBrief) {
	now := time.Now()
	if after := o.cfg.AgentGCAfter; after > 0 && o.silence != nil {
		for _, a := range briefs {
			if a.Status != rpc.AgentOffline {
				continue
			}
			if d, ok := o.silence(a.AgentID); ok && d >= after {
				if err := o.RemoveAgent(a.AgentID, true, "offline for over "+after.String()); err != nil {
					o.log.Warn("gc: could not remove agent", "agent_id", a.AgentID, "error", err)
				}
			}
		}
	}
	after := o.cfg.NodeGCAfter
	if after <= 0 {
		return
	}
	for _, n := range o.reg.Nodes() {
		if ctx.Err() != nil {
			return
		}
		// A failed order the reconciler will finish when the agent answers is
		// not garbage yet.
		pending := n.DesiredState == rpc.DesiredRunning && strings.HasPrefix(n.LastError, unreachablePrefix)
		ended := n.Status == rpc.NodeStopped || (n.Status == rpc.NodeFailed && !pending)
		if !ended || n.UpdatedAt == 0 || now.Sub(time.UnixMicro(n.UpdatedAt)) < after {
			continue
		}
		if !o.acquire(n.NodeId) {
			continue
		}
		cur, ok := o.reg.Node(n.NodeId)
		if ok && cur.UpdatedAt == n.UpdatedAt && cur.Status == n.Status {
			ev := o.nodeEvent(rpc.EventType_NODE_REMOVED, cur, map[string]string{"status": cur.Status, "reason": cur.Status + " for over " + after.String()})
			if err := o.deleteNodeRecord(cur.NodeId, ev); err != nil {
				o.log.Warn("gc: could not remove node record", "node_id", cur.NodeId, "error", err)
			} else {
				o.log.Info("gc: node record removed", "node_id", cur.NodeId, "status", cur.Status)
			}
		}
		o.release(n.NodeId)
	}
}
