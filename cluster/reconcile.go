package cluster

import (
	"context"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gridctl/grid/rpc"
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
// orphanSweepPerSecond per second. Calls run reconcileParallelism at a time.
const (
	reconcileCallsPerSecond = 200
	orphanSweepPerSecond    = 50
	reconcileParallelism    = 8
)

// reconcileLoop is the leader's reconciler: at the start of leadership,
// every ReconcileInterval (longer for large fleets, see reconcilePass), and
// for each agent id sent on trigger, it brings agents' actual nodes in line
// with the registry. It exits when stopCh closes.
func (m *Master) reconcileLoop(stopCh <-chan struct{}, trigger <-chan string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-stopCh:
			cancel()
		case <-ctx.Done():
		}
	}()

	var sweep orphanSweep
	next := m.reconcilePass(ctx, &sweep)
	timer := time.NewTimer(next)
	defer timer.Stop()
	for {
		select {
		case <-stopCh:
			return
		case <-timer.C:
			timer.Reset(m.reconcilePass(ctx, &sweep))
		case id := <-trigger:
			m.reconcileAgent(ctx, id)
		}
	}
}

// watchAgents sends an agent's id to trigger when it appears, registers
// again, recovers, or goes offline, so the reconciler handles it at once
// rather than at the next tick. Ticks where the registry did not change
// (fsm.Version) cost nothing.
func (m *Master) watchAgents(stopCh <-chan struct{}, trigger chan<- string) {
	type seen struct {
		status       string
		registeredAt int64
		endpoint     string
	}
	last := make(map[string]seen)
	version := m.fsm.Version()
	for _, a := range m.fsm.Agents() {
		last[a.AgentId] = seen{a.Status, a.RegisteredAt, a.Endpoint}
	}
	ticker := time.NewTicker(m.orchestrator().config().AgentWatchInterval)
	defer ticker.Stop()
	for {
		select {
		case <-stopCh:
			return
		case <-ticker.C:
		}
		v := m.fsm.Version()
		if v == version {
			continue
		}
		version = v
		for _, a := range m.fsm.Agents() {
			now := seen{a.Status, a.RegisteredAt, a.Endpoint}
			if before, ok := last[a.AgentId]; ok && before == now {
				continue
			}
			last[a.AgentId] = now
			select {
			case trigger <- a.AgentId:
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
func (m *Master) reconcilePass(ctx context.Context, sweep *orphanSweep) time.Duration {
	interval := m.orchestrator().config().ReconcileInterval
	registered := m.fsm.AgentIDs()
	withNodes := m.fsm.AgentIDsWithNodes()
	hasNodes := make(map[string]bool, len(withNodes))
	for _, id := range withNodes {
		hasNodes[id] = true
	}
	known := make(map[string]bool, len(registered))
	var targets, nodeless []string
	for _, id := range registered {
		known[id] = true
		if hasNodes[id] {
			targets = append(targets, id)
		} else {
			nodeless = append(nodeless, id)
		}
	}
	budget := max(1, int(interval.Seconds()*orphanSweepPerSecond))
	targets = append(targets, sweep.take(nodeless, budget)...)
	m.reconcileAgents(ctx, targets)
	if ctx.Err() != nil {
		return interval
	}
	for _, n := range m.fsm.Nodes() {
		if !known[n.AgentId] && n.DesiredState == desiredRunning && nodeAlive(n.Status) {
			m.markLost(n, "agent no longer registered")
		}
	}
	return max(interval, time.Duration(len(targets))*time.Second/reconcileCallsPerSecond)
}

// reconcileAgents reconciles the agents, reconcileParallelism at a time.
func (m *Master) reconcileAgents(ctx context.Context, ids []string) {
	sem := make(chan struct{}, reconcileParallelism)
	var wg sync.WaitGroup
	for _, id := range ids {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			m.reconcileAgent(ctx, id)
		}()
	}
	wg.Wait()
}

// reconcileAgent brings one agent in line with the registry. An offline
// agent's live nodes are marked lost (never deleted); a healthy agent is
// asked for its nodes (ListNodes) and each difference is acted on; a
// degraded agent is left alone until it recovers or goes offline.
func (m *Master) reconcileAgent(ctx context.Context, agentID string) {
	o := m.orchestrator()
	a, ok := m.fsm.Agent(agentID)
	if !ok {
		return
	}
	switch a.Status {
	case agentStatusOffline:
		for _, n := range m.fsm.NodesOfAgent(agentID) {
			if n.DesiredState == desiredRunning && nodeAlive(n.Status) {
				m.markLost(n, "agent offline")
			}
		}
		return
	case agentStatusHealthy:
	default:
		return
	}

	var list *rpc.ListNodesResponse
	err := o.callAgent(ctx, a, "list_nodes", o.config().StatusTimeout, func(ctx context.Context, c rpc.GridAgentClient) error {
		var err error
		list, err = c.ListNodes(ctx, &rpc.ListNodesRequest{})
		return err
	})
	if err != nil {
		o.logger().Warn("reconcile: cannot list the agent's nodes", "agent_id", agentID, "error", err)
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
	for _, rec := range m.fsm.NodesOfAgent(agentID) {
		n := actual[rec.NodeId]
		delete(actual, rec.NodeId)
		if ctx.Err() != nil {
			return
		}
		if !o.acquire(rec.NodeId) {
			continue // an order is in progress; it commits its own outcome
		}
		if cur, ok := m.fsm.Node(rec.NodeId); ok && cur.AgentId == agentID {
			m.reconcileNode(ctx, a, cur, n)
		}
		o.release(rec.NodeId)
	}
	for _, n := range actual {
		if ctx.Err() != nil {
			return
		}
		m.stopOrphan(ctx, a, n)
	}
}

// reconcileNode acts on one registry record of agent a given the agent's
// view n (nil: the agent does not have the node). The caller holds the node.
func (m *Master) reconcileNode(ctx context.Context, a *rpc.AgentRecord, rec, n *rpc.NodeStatus) {
	o := m.orchestrator()
	if rec.DesiredState == desiredStopped {
		if n != nil && nodeAlive(n.Status) {
			o.metrics.reconciled(actionStop)
			o.logger().Info("reconcile: stopping a node that should be stopped", "node_id", rec.NodeId, "agent_id", a.AgentId)
			stopping := mergeActual(rec, n)
			stopping.Status = nodeStopping
			_ = m.orderStop(ctx, stopping, map[string]string{"reason": "reconcile"})
			return
		}
		if rec.Status != nodeStopped {
			stopped := proto.Clone(rec).(*rpc.NodeStatus)
			if n != nil {
				stopped = mergeActual(stopped, n)
			}
			stopped.Status, stopped.Pid = nodeStopped, 0
			m.syncRecord(rec, stopped)
		}
		return
	}

	// Desired running.
	if n != nil && n.Status != nodeStopped {
		merged := mergeActual(rec, n)
		m.syncRecord(rec, merged)
		return
	}
	if !needsRespawn(rec, n) {
		return
	}
	o.metrics.reconciled(actionRespawn)
	o.logger().Info("reconcile: ordering the node again", "node_id", rec.NodeId, "agent_id", a.AgentId, "status", rec.Status)
	order := proto.Clone(rec).(*rpc.NodeStatus)
	m.emitNodeEvent(rpc.EventType_SPAWN_REQUESTED, order, map[string]string{"reason": "reconcile", "previous_status": rec.Status})
	var prev *rpc.NodeStatus
	if rec.Status != nodePending {
		// A node that ran before is not rolled back if the agent refuses
		// now: it is kept as failed with the agent's reason.
		prev = proto.Clone(rec).(*rpc.NodeStatus)
		prev.Status = nodeFailed
	}
	if _, err := m.orderSpawn(ctx, a, order, prev); err != nil {
		o.logger().Warn("reconcile: spawn failed", "node_id", rec.NodeId, "agent_id", a.AgentId, "error", err)
	}
}

// needsRespawn says whether a node meant to run, which its agent does not
// run (n nil or stopped), should be ordered again: a half-done order
// (pending, or failed because the agent was unreachable) or a node that
// was running and disappeared. A node that failed for good (the agent
// refused it or its restart budget is spent) is left failed.
func needsRespawn(rec, n *rpc.NodeStatus) bool {
	switch rec.Status {
	case nodePending, nodeStarting, nodeRunning, nodeCrashed, nodeRestarting, nodeLost:
		return true
	case nodeFailed:
		return n == nil && strings.HasPrefix(rec.LastError, unreachablePrefix)
	}
	return false
}

// syncRecord commits next if the agent-owned fields differ from rec.
func (m *Master) syncRecord(rec, next *rpc.NodeStatus) {
	o := m.orchestrator()
	merged, changed := mergeChanged(rec, next)
	if !changed {
		return
	}
	merged.DesiredState = rec.DesiredState
	o.metrics.reconciled(actionSync)
	o.logger().Debug("reconcile: recording the agent's view", "node_id", rec.NodeId, "status", merged.Status, "pid", merged.Pid)
	if err := m.commitNode(merged); err != nil {
		o.logger().Warn("reconcile: commit failed", "node_id", rec.NodeId, "error", err)
	}
}

// markLost commits status lost for a node whose agent is gone or offline.
func (m *Master) markLost(rec *rpc.NodeStatus, reason string) {
	o := m.orchestrator()
	if !o.acquire(rec.NodeId) {
		return
	}
	defer o.release(rec.NodeId)
	cur, ok := m.fsm.Node(rec.NodeId)
	if !ok || cur.Status == nodeLost || cur.DesiredState != desiredRunning || !nodeAlive(cur.Status) {
		return
	}
	lost := proto.Clone(cur).(*rpc.NodeStatus)
	lost.Status = nodeLost
	lost.LastError = reason
	lost.UpdatedAt = time.Now().UnixMicro()
	o.metrics.reconciled(actionLost)
	o.logger().Info("storage node lost", "node_id", cur.NodeId, "agent_id", cur.AgentId, "reason", reason)
	if err := m.commitNode(lost); err != nil {
		o.logger().Warn("could not mark node lost", "node_id", cur.NodeId, "error", err)
	}
}

// stopOrphan stops a node agent a runs that the registry does not place on
// it (unknown, or placed on another agent), and emits events saying so.
func (m *Master) stopOrphan(ctx context.Context, a *rpc.AgentRecord, n *rpc.NodeStatus) {
	o := m.orchestrator()
	if !nodeAlive(n.Status) {
		return
	}
	if !o.acquire(n.NodeId) {
		return
	}
	defer o.release(n.NodeId)
	if cur, ok := m.fsm.Node(n.NodeId); ok && cur.AgentId == a.AgentId {
		return // committed since the agent was listed: not an orphan
	}
	reason := "orphan: running on agent " + a.AgentId + " but unknown to the registry"
	if cur, ok := m.fsm.Node(n.NodeId); ok {
		reason = "orphan: running on agent " + a.AgentId + " but placed on agent " + cur.AgentId
	}
	o.metrics.reconciled(actionStopOrphan)
	o.logger().Warn("reconcile: stopping an orphan node", "node_id", n.NodeId, "agent_id", a.AgentId, "reason", reason)
	rec := &rpc.NodeStatus{NodeId: n.NodeId, AgentId: a.AgentId, Port: n.Port}
	m.emitNodeEvent(rpc.EventType_STOP_REQUESTED, rec, map[string]string{"reason": reason})
	err := o.callAgent(ctx, a, "stop_node", o.config().StopTimeout, func(ctx context.Context, c rpc.GridAgentClient) error {
		_, err := c.StopNode(ctx, &rpc.StopNodeRequest{NodeId: n.NodeId})
		return err
	})
	if err != nil {
		m.emitNodeEvent(rpc.EventType_STOP_FAILED, rec, map[string]string{"reason": reason, "error": statusMessage(err)})
		return
	}
	m.emitNodeEvent(rpc.EventType_STOP_SUCCEEDED, rec, map[string]string{"reason": reason})
}
