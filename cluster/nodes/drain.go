package nodes

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/gridctl/grid/fsm"
	"github.com/gridctl/grid/rpc"
	"google.golang.org/protobuf/proto"
)

// Drain states (AgentDrain.status).
const (
	DrainDraining = "draining"
	DrainComplete = "complete"
	DrainFailed   = "failed"
)

// DefaultDrainDeadline is a drain's deadline when the order names none.
const DefaultDrainDeadline = time.Hour

// drainParallelism is how many nodes of one agent move at a time.
const drainParallelism = 2

// ErrNoDrainTarget: a drain would have nowhere to put the agent's nodes.
var ErrNoDrainTarget = rpc.NewSentinel("no other healthy, eligible agent has free slots for the drained nodes", rpc.ErrPrecondition)

// SetEligibility turns placement on or off for an agent
// (agent_eligibility_changed) and returns its record.
func (o *Orchestrator) SetEligibility(agentID string, eligible bool) (*rpc.AgentRecord, error) {
	a, ok := o.reg.Agent(agentID)
	if !ok {
		return nil, fmt.Errorf("agent %q: %w", agentID, rpc.ErrNotFound)
	}
	if a.Ineligible == !eligible {
		return a, nil
	}
	ev := rpc.NewEvent(o.source, rpc.EventType_AGENT_ELIGIBILITY_CHANGED, agentID, map[string]string{
		"agent_id": agentID, "eligible": strconv.FormatBool(eligible),
	})
	if _, err := o.apply.Apply(fsm.AgentSchedulingType, &rpc.AgentSchedulingCommand{AgentId: agentID, Ineligible: !eligible, Events: []*rpc.Event{ev}}); err != nil {
		return nil, err
	}
	a, _ = o.reg.Agent(agentID)
	return a, nil
}

// Drain starts (or, with enable false, cancels) a drain of an agent: it
// becomes ineligible and the leader's drainer moves its nodes off, a few at
// a time, before deadline. Refused when no other agent could take a node.
func (o *Orchestrator) Drain(req *rpc.DrainAgentRequest) (*rpc.AgentRecord, error) {
	a, ok := o.reg.Agent(req.AgentId)
	if !ok {
		return nil, fmt.Errorf("agent %q: %w", req.AgentId, rpc.ErrNotFound)
	}
	now := time.Now()
	if !req.Enable {
		if a.GetDrain().GetStatus() != DrainDraining {
			return a, nil
		}
		d := proto.Clone(a.Drain).(*rpc.AgentDrain)
		d.Status, d.Error, d.FinishedAt = DrainFailed, "cancelled by an operator", now.UnixMicro()
		ev := o.drainEvent(rpc.EventType_AGENT_DRAIN_FAILED, a.AgentId, map[string]string{"reason": d.Error})
		return o.commitDrain(a, a.Ineligible, d, ev)
	}
	deadline := DefaultDrainDeadline
	if req.DeadlineS > 0 {
		deadline = time.Duration(req.DeadlineS) * time.Second
	}
	moving := 0
	for _, n := range o.reg.NodesOfAgent(a.AgentId) {
		if nodeHoldsSlot(n) {
			moving++
		}
	}
	if moving > 0 {
		free := 0
		nodes := o.reg.Nodes()
		for _, b := range o.reg.Agents() {
			if b.AgentId != a.AgentId && b.Status == rpc.AgentHealthy && !b.Ineligible {
				free += freeSlots(b, nodes)
			}
		}
		if free == 0 {
			return nil, fmt.Errorf("drain %s: %d nodes to move, 0 free slots elsewhere; add or enable an agent first: %w", a.AgentId, moving, ErrNoDrainTarget)
		}
	}
	d := &rpc.AgentDrain{Status: DrainDraining, StartedAt: now.UnixMicro(), Deadline: now.Add(deadline).UnixMicro(), MigrateData: req.MigrateData}
	ev := o.drainEvent(rpc.EventType_AGENT_DRAIN_STARTED, a.AgentId, map[string]string{
		"deadline_s": strconv.FormatInt(int64(deadline/time.Second), 10), "migrate_data": strconv.FormatBool(req.MigrateData),
		"nodes": strconv.Itoa(moving),
	})
	return o.commitDrain(a, true, d, ev)
}

func (o *Orchestrator) drainEvent(t rpc.EventType, agentID string, extra map[string]string) *rpc.Event {
	details := map[string]string{"agent_id": agentID}
	for k, v := range extra {
		details[k] = v
	}
	return rpc.NewEvent(o.source, t, agentID, details)
}

func (o *Orchestrator) commitDrain(a *rpc.AgentRecord, ineligible bool, d *rpc.AgentDrain, ev *rpc.Event) (*rpc.AgentRecord, error) {
	if _, err := o.apply.Apply(fsm.AgentSchedulingType, &rpc.AgentSchedulingCommand{
		AgentId: a.AgentId, Ineligible: ineligible, SetDrain: true, Drain: d, Events: []*rpc.Event{ev},
	}); err != nil {
		return nil, err
	}
	out, _ := o.reg.Agent(a.AgentId)
	return out, nil
}

// runDrains advances every drain: past its deadline it fails
// (agent_drain_failed); with no node left to move it completes
// (agent_drain_complete); otherwise up to drainParallelism nodes move.
func (o *Orchestrator) runDrains(ctx context.Context) { o.runDrainsOf(ctx, o.reg.AgentBriefs()) }

// runDrainsOf is runDrains over a list of agent briefs already taken.
func (o *Orchestrator) runDrainsOf(ctx context.Context, briefs []fsm.AgentBrief) {
	for _, b := range briefs {
		if b.DrainStatus != DrainDraining {
			continue
		}
		a, ok := o.reg.Agent(b.AgentID)
		if !ok {
			continue
		}
		d := a.GetDrain()
		var left []*rpc.NodeStatus
		for _, n := range o.reg.NodesOfAgent(a.AgentId) {
			if nodeHoldsSlot(n) {
				left = append(left, n)
			}
		}
		now := time.Now()
		switch {
		case len(left) == 0:
			done := proto.Clone(d).(*rpc.AgentDrain)
			done.Status, done.FinishedAt = DrainComplete, now.UnixMicro()
			ev := o.drainEvent(rpc.EventType_AGENT_DRAIN_COMPLETE, a.AgentId, map[string]string{
				"took_ms": strconv.FormatInt((done.FinishedAt-d.StartedAt)/1000, 10)})
			if _, err := o.commitDrain(a, a.Ineligible, done, ev); err != nil {
				o.log.Warn("drain: could not record completion", "agent_id", a.AgentId, "error", err)
			}
			continue
		case now.UnixMicro() >= d.Deadline:
			failed := proto.Clone(d).(*rpc.AgentDrain)
			failed.Status, failed.FinishedAt = DrainFailed, now.UnixMicro()
			failed.Error = fmt.Sprintf("deadline passed with %d nodes still on the agent", len(left))
			ev := o.drainEvent(rpc.EventType_AGENT_DRAIN_FAILED, a.AgentId, map[string]string{"reason": failed.Error, "nodes_left": strconv.Itoa(len(left))})
			if _, err := o.commitDrain(a, a.Ineligible, failed, ev); err != nil {
				o.log.Warn("drain: could not record failure", "agent_id", a.AgentId, "error", err)
			}
			continue
		}
		o.drainSome(ctx, a, left)
	}
}

// drainSome moves up to drainParallelism of left off agent a, in parallel,
// and waits for them.
func (o *Orchestrator) drainSome(ctx context.Context, a *rpc.AgentRecord, left []*rpc.NodeStatus) {
	var wg sync.WaitGroup
	started := 0
	var planned []*rpc.NodeStatus // this pass's targets, counted as taken slots
	for _, n := range left {
		if started >= drainParallelism || ctx.Err() != nil {
			break
		}
		if !o.acquire(n.NodeId) {
			continue
		}
		o.placeMu.Lock()
		to, err := o.placeElsewhere(a.AgentId, planned...)
		o.placeMu.Unlock()
		if err != nil {
			o.release(n.NodeId)
			o.log.Debug("drain: no target for the node yet", "node_id", n.NodeId, "error", err)
			break
		}
		planned = append(planned, &rpc.NodeStatus{NodeId: n.NodeId, AgentId: to.AgentId, Status: rpc.NodePending, DesiredState: rpc.DesiredRunning})
		started++
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer o.release(n.NodeId)
			cur, ok := o.reg.Node(n.NodeId)
			if !ok || cur.AgentId != a.AgentId {
				return
			}
			mv := move{rec: cur, from: a, to: to, migrate: a.GetDrain().GetMigrateData(), reason: "drain of agent " + a.AgentId}
			if _, err := o.moveNode(ctx, mv); err != nil {
				o.log.Warn("drain: move failed; retrying on the next pass", "node_id", n.NodeId, "to_agent", to.AgentId, "error", err)
			}
		}()
	}
	wg.Wait()
}
