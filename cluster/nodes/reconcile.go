package nodes

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/gridctl/grid/fsm"
	"github.com/gridctl/grid/rpc"
	"golang.org/x/sync/errgroup"
	"google.golang.org/protobuf/proto"
)

// Reconcile actions (grid_nodes_reconcile_actions_total).
const (
	actionRespawn    = "respawn"
	actionStop       = "stop"
	actionStopOrphan = "stop_orphan"
	actionSync       = "sync"
	actionLost       = "lost"
)

// Reconciler pacing. The pass over agents that have (or had) storage nodes
// runs every ReconcileInterval, stretched so that it never asks more than
// reconcileCallsPerSecond agents per second; agents without nodes are only
// asked to find orphans, a slice of them per pass, at most
// orphanSweepPerSecond per second, and only those whose last heartbeat did
// not say they run no node (Deps.NoNodes). Calls run
// reconcileParallelism at a time.
const (
	reconcileCallsPerSecond = 200
	orphanSweepPerSecond    = 50
	reconcileParallelism    = 8
)

// reconcileLoop is the leader's reconciler: at the start of leadership,
// every ReconcileInterval (longer for large fleets, see reconcilePass), and
// for each agent id sent on trigger, it brings agents' actual nodes in line
// with the registry. It returns when ctx ends.
func (o *Orchestrator) reconcileLoop(ctx context.Context, trigger <-chan string) {
	var sweep orphanSweep
	next := o.reconcilePass(ctx, &sweep)
	timer := time.NewTimer(next)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
			timer.Reset(o.reconcilePass(ctx, &sweep))
		case id := <-trigger:
			if !o.nothingToCompare(id) {
				o.ReconcileAgent(ctx, id)
			}
		}
	}
}

// nothingToCompare says whether a triggered reconcile of the agent can be
// skipped: its last heartbeat said it runs no node (Deps.NoNodes) and the
// registry places none on it, so ListNodes could only return nothing to
// compare. After 10,000 registrations the triggers still had the
// reconciler dialing the new agents when the heartbeat window opened. An
// explicit ReconcileAgent always asks.
func (o *Orchestrator) nothingToCompare(agentID string) bool {
	return o.noNodes != nil && o.noNodes(agentID) && len(o.reg.NodesOfAgent(agentID)) == 0
}

// watchAgents sends an agent's id to trigger when it appears, registers
// again, recovers, or goes offline, so the reconciler handles it at once
// rather than at the next tick. Ticks where the registry did not change
// (fsm.Version) cost nothing.
// It reads the registry's marks (AgentMarks), not cloned records: a
// registration burst changes the version every tick, and a full copy of a
// large registry per tick held the FSM's read lock long enough to delay
// applies and cost the leader ~5 % of its CPU under 64 registering callers.
func (o *Orchestrator) watchAgents(ctx context.Context, trigger chan<- string) {
	last := make(map[string]fsm.AgentMark)
	version := o.reg.Version()
	marks := o.reg.AgentMarks(nil)
	for _, a := range marks {
		last[a.AgentID] = a
	}
	ticker := time.NewTicker(o.cfg.AgentWatchInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		v := o.reg.Version()
		if v == version {
			continue
		}
		version = v
		marks = o.reg.AgentMarks(marks)
		for _, a := range marks {
			if before, ok := last[a.AgentID]; ok && before == a {
				continue
			}
			last[a.AgentID] = a
			select {
			case trigger <- a.AgentID:
			default: // the queue is full; the periodic pass covers it
			}
		}
	}
}

// orphanSweep remembers where the last pass stopped in the (sorted) list of
// agents without nodes, so successive passes cover all of them in turn.
type orphanSweep struct {
	after string
}

// take returns up to n ids from ids (sorted) after the cursor, wrapping
// around, and advances the cursor.
func (s *orphanSweep) take(ids []string, n int) []string {
	if n >= len(ids) {
		s.after = ""
		return ids
	}
	start := sort.SearchStrings(ids, s.after)
	if start < len(ids) && ids[start] == s.after {
		start++
	}
	out := make([]string, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, ids[(start+i)%len(ids)])
	}
	s.after = out[len(out)-1]
	return out
}

// reconcilePass reconciles every registered agent that has storage node
// records and a slice of the others (for orphans), a few at a time, marks
// lost the live nodes of agents the registry no longer has, and returns how
// long to wait before the next pass.
func (o *Orchestrator) reconcilePass(ctx context.Context, sweep *orphanSweep) time.Duration {
	interval := o.cfg.ReconcileInterval
	registered := o.reg.AgentIDs()
	withNodes := o.reg.AgentIDsWithNodes()
	hasNodes := make(map[string]bool, len(withNodes))
	for _, id := range withNodes {
		hasNodes[id] = true
	}
	known := make(map[string]bool, len(registered))
	var targets, nodeless []string
	for _, id := range registered {
		known[id] = true
		switch {
		case hasNodes[id]:
			targets = append(targets, id)
		case o.noNodes != nil && o.noNodes(id):
			// It said it runs no node: no orphan to find, no call (at
			// 10,000 node-less agents the sweep's calls, one new
			// connection each, were ~10 % of the leader's CPU).
		default:
			nodeless = append(nodeless, id)
		}
	}
	budget := max(1, int(interval.Seconds()*orphanSweepPerSecond))
	targets = append(targets, sweep.take(nodeless, budget)...)
	o.reconcileAgents(ctx, targets)
	if ctx.Err() != nil {
		return interval
	}
	for _, n := range o.reg.Nodes() {
		if !known[n.AgentId] && n.DesiredState == rpc.DesiredRunning && rpc.NodeAlive(n.Status) {
			o.markLost(n, "agent no longer registered")
		}
	}
	return max(interval, time.Duration(len(targets))*time.Second/reconcileCallsPerSecond)
}

// reconcileAgents reconciles the agents, reconcileParallelism at a time.
func (o *Orchestrator) reconcileAgents(ctx context.Context, ids []string) {
	var g errgroup.Group
	g.SetLimit(reconcileParallelism)
	for _, id := range ids {
		if ctx.Err() != nil {
			break
		}
		g.Go(func() error {
			o.ReconcileAgent(ctx, id)
			return nil
		})
	}
	_ = g.Wait()
}

// ReconcileAgent brings one agent in line with the registry. An offline
// agent's live nodes are marked lost (never deleted); a healthy agent is
// asked for its nodes (ListNodes) and each difference is acted on; a
// degraded agent is left alone until it recovers or goes offline.
func (o *Orchestrator) ReconcileAgent(ctx context.Context, agentID string) {
	a, ok := o.reg.Agent(agentID)
	if !ok {
		return
	}
	switch a.Status {
	case rpc.AgentOffline:
		for _, n := range o.reg.NodesOfAgent(agentID) {
			if n.DesiredState == rpc.DesiredRunning && rpc.NodeAlive(n.Status) {
				o.markLost(n, "agent offline")
			}
		}
		return
	case rpc.AgentHealthy:
	default:
		return
	}

	var list *rpc.ListNodesResponse
	err := o.callAgent(ctx, a, "list_nodes", o.cfg.StatusTimeout, func(ctx context.Context, c rpc.GridAgentClient) error {
		var err error
		list, err = c.ListNodes(ctx, &rpc.ListNodesRequest{LeaderTerm: o.leaderTerm()})
		return err
	})
	if err != nil {
		o.log.Warn("reconcile: cannot list the agent's nodes", "agent_id", agentID, "error", err)
		return
	}
	actual := make(map[string]*rpc.NodeStatus, len(list.GetNodes()))
	for _, n := range list.GetNodes() {
		if n.GetNodeId() != "" {
			actual[n.NodeId] = n.NodeRecord()
		}
	}
	// The registry is read after ListNodes: a spawn commits its pending
	// record before calling the agent, so every node the agent listed that
	// the leader ordered is visible here.
	for _, rec := range o.reg.NodesOfAgent(agentID) {
		n := actual[rec.NodeId]
		delete(actual, rec.NodeId)
		if ctx.Err() != nil {
			return
		}
		if !o.acquire(rec.NodeId) {
			continue // an order is in progress; it commits its own outcome
		}
		if cur, ok := o.reg.Node(rec.NodeId); ok && cur.AgentId == agentID {
			o.reconcileNode(ctx, a, cur, n)
		}
		o.release(rec.NodeId)
	}
	for _, n := range actual {
		if ctx.Err() != nil {
			return
		}
		o.stopOrphan(ctx, a, n)
	}
}

// reconcileNode acts on one registry record of agent a given the agent's
// view n (nil: the agent does not have the node). The caller holds the node.
func (o *Orchestrator) reconcileNode(ctx context.Context, a *rpc.AgentRecord, rec, n *rpc.NodeStatus) {
	if rec.DesiredState == rpc.DesiredStopped {
		if n != nil && rpc.NodeAlive(n.Status) {
			o.metrics.reconciled(actionStop)
			o.log.Info("reconcile: stopping a node that should be stopped", "node_id", rec.NodeId, "agent_id", a.AgentId)
			stopping := mergeActual(rec, n)
			stopping.Status = rpc.NodeStopping
			_ = o.orderStop(ctx, stopping, map[string]string{"reason": "reconcile"})
			return
		}
		if rec.Status != rpc.NodeStopped {
			stopped := proto.Clone(rec).(*rpc.NodeStatus)
			if n != nil {
				stopped = mergeActual(stopped, n)
			}
			stopped.Status, stopped.Pid = rpc.NodeStopped, 0
			o.syncRecord(rec, stopped)
		}
		return
	}

	// Desired running.
	if n != nil && n.Status != rpc.NodeStopped {
		merged := mergeActual(rec, n)
		o.syncRecord(rec, merged)
		return
	}
	if !needsRespawn(rec, n) {
		return
	}
	o.metrics.reconciled(actionRespawn)
	o.log.Info("reconcile: ordering the node again", "node_id", rec.NodeId, "agent_id", a.AgentId, "status", rec.Status)
	order := proto.Clone(rec).(*rpc.NodeStatus)
	o.emitNodeEvent(rpc.EventType_SPAWN_REQUESTED, order, map[string]string{"reason": "reconcile", "previous_status": rec.Status})
	var prev *rpc.NodeStatus
	if rec.Status != rpc.NodePending {
		// A node that ran before is not rolled back if the agent refuses
		// now: it is kept as failed with the agent's reason.
		prev = proto.Clone(rec).(*rpc.NodeStatus)
		prev.Status = rpc.NodeFailed
	}
	if _, err := o.orderSpawn(ctx, a, order, prev); err != nil {
		o.log.Warn("reconcile: spawn failed", "node_id", rec.NodeId, "agent_id", a.AgentId, "error", err)
	}
}

// needsRespawn says whether a node meant to run, which its agent does not
// run (n nil or stopped), should be ordered again: a half-done order
// (pending, or failed because the agent was unreachable) or a node that
// was running and disappeared. A node that failed for good (the agent
// refused it or its restart budget is spent) is left failed.
func needsRespawn(rec, n *rpc.NodeStatus) bool {
	switch rec.Status {
	case rpc.NodePending, rpc.NodeStarting, rpc.NodeRunning, rpc.NodeCrashed, rpc.NodeRestarting, rpc.NodeLost:
		return true
	case rpc.NodeFailed:
		return n == nil && strings.HasPrefix(rec.LastError, unreachablePrefix)
	}
	return false
}

// syncRecord commits next if the agent-owned fields differ from rec.
func (o *Orchestrator) syncRecord(rec, next *rpc.NodeStatus) {
	merged, changed := mergeChanged(rec, next)
	if !changed {
		return
	}
	merged.DesiredState = rec.DesiredState
	o.metrics.reconciled(actionSync)
	o.log.Debug("reconcile: recording the agent's view", "node_id", rec.NodeId, "status", merged.Status, "pid", merged.Pid)
	if err := o.commitNode(merged); err != nil {
		o.log.Warn("reconcile: commit failed", "node_id", rec.NodeId, "error", err)
	}
}

// markLost commits status lost (node_lost) for a node whose agent is gone
// or offline.
func (o *Orchestrator) markLost(rec *rpc.NodeStatus, reason string) {
	if !o.acquire(rec.NodeId) {
		return
	}
	defer o.release(rec.NodeId)
	cur, ok := o.reg.Node(rec.NodeId)
	if !ok || cur.Status == rpc.NodeLost || cur.DesiredState != rpc.DesiredRunning || !rpc.NodeAlive(cur.Status) {
		return
	}
	lost := proto.Clone(cur).(*rpc.NodeStatus)
	lost.Status = rpc.NodeLost
	lost.LastError = reason
	lost.UpdatedAt = time.Now().UnixMicro()
	o.metrics.reconciled(actionLost)
	o.log.Info("storage node lost", "node_id", cur.NodeId, "agent_id", cur.AgentId, "reason", reason)
	if err := o.commitNode(lost, o.nodeEvent(rpc.EventType_NODE_LOST, lost, map[string]string{"reason": reason})); err != nil {
		o.log.Warn("could not mark node lost", "node_id", cur.NodeId, "error", err)
	}
}

// stopOrphan stops a node agent a runs that the registry does not place on
// it (unknown, or placed on another agent), and emits events saying so.
// "Unknown" is read from this master's replica, so it acts only while it
// verifiably leads: the reconciler runs after the leadership barrier (every
// committed entry applied), and VerifyLeader is asked right before the
// registry is read for the last time. A deposed leader that has not noticed
// yet stops nothing; its successor's nodes are safe.
func (o *Orchestrator) stopOrphan(ctx context.Context, a *rpc.AgentRecord, n *rpc.NodeStatus) {
	if !rpc.NodeAlive(n.Status) {
		return
	}
	if !o.acquire(n.NodeId) {
		return
	}
	defer o.release(n.NodeId)
	if err := o.fence.VerifyLeader(); err != nil {
		o.log.Warn("reconcile: not stopping an apparent orphan: leadership not confirmed", "node_id", n.NodeId, "agent_id", a.AgentId, "error", err)
		return
	}
	if cur, ok := o.reg.Node(n.NodeId); ok && cur.AgentId == a.AgentId {
		return // committed since the agent was listed: not an orphan
	}
	reason := "orphan: running on agent " + a.AgentId + " but unknown to the registry"
	if cur, ok := o.reg.Node(n.NodeId); ok {
		reason = "orphan: running on agent " + a.AgentId + " but placed on agent " + cur.AgentId
	}
	o.metrics.reconciled(actionStopOrphan)
	o.log.Warn("reconcile: stopping an orphan node", "node_id", n.NodeId, "agent_id", a.AgentId, "reason", reason)
	rec := &rpc.NodeStatus{NodeId: n.NodeId, AgentId: a.AgentId, Port: n.Port}
	o.emitNodeEvent(rpc.EventType_STOP_REQUESTED, rec, map[string]string{"reason": reason})
	err := o.callAgent(ctx, a, "stop_node", o.cfg.StopTimeout, func(ctx context.Context, c rpc.GridAgentClient) error {
		_, err := c.StopNode(ctx, &rpc.StopNodeRequest{NodeId: n.NodeId, LeaderTerm: o.leaderTerm()})
		return err
	})
	if err != nil {
		o.emitNodeEvent(rpc.EventType_STOP_FAILED, rec, map[string]string{"reason": reason, "error": statusMessage(err)})
		return
	}
	o.emitNodeEvent(rpc.EventType_STOP_SUCCEEDED, rec, map[string]string{"reason": reason})
}
