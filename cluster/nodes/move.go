package nodes

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/gridctl/grid/rpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// move is one node's change of agent: a drain (node_migrated) or a
// reschedule (node_rescheduled).
type move struct {
	rec  *rpc.NodeStatus  // the node's current record (on from)
	from *rpc.AgentRecord // nil when the agent is gone from the registry
	to   *rpc.AgentRecord
	// migrate copies the data directory from the old agent (which must
	// answer); without it the node starts empty on the new agent.
	migrate bool
	// reschedule counts the move in reschedule_count and emits
	// node_rescheduled; otherwise it is a drain's node_migrated.
	reschedule bool
	reason     string
}

// moveNode places a node on another agent under the same node id. With
// data migration the old copy is stopped first (so the copy is consistent),
// then the new agent copies the data directory from the old one, checks it
// and starts the node. Without it the node starts on the new agent first,
// then the old copy is stopped (start before stop); an old agent that does
// not answer has its stale copy stopped by the reconciler's orphan check
// when it comes back. The caller holds the node (acquire).
func (o *Orchestrator) moveNode(ctx context.Context, mv move) (*rpc.NodeStatus, error) {
	rec, fromID := mv.rec, mv.rec.AgentId
	if mv.migrate {
		if mv.from == nil {
			return nil, fmt.Errorf("node %s: agent %s is gone; its data cannot be migrated", rec.NodeId, fromID)
		}
		if err := o.stopCopy(ctx, mv.from, rec.NodeId); err != nil {
			return nil, fmt.Errorf("node %s: stop on agent %s before the copy: %w", rec.NodeId, fromID, err)
		}
	}
	next := proto.Clone(rec).(*rpc.NodeStatus)
	next.AgentId = mv.to.AgentId
	next.Status = rpc.NodePending
	next.DesiredState = rpc.DesiredRunning
	next.Pid, next.Port, next.Endpoint, next.StoragePath = 0, 0, "", ""
	next.RestartCount, next.LastExitCode, next.LastSignal, next.StartedAt = 0, 0, "", 0
	next.PreviousAgents = append(slices.Clone(rec.PreviousAgents), fromID)
	if mv.reschedule {
		next.RescheduleCount++
	}
	next.UpdatedAt = time.Now().UnixMicro()
	data := "empty"
	if mv.migrate {
		data = "migrated"
	}
	requested := o.nodeEvent(rpc.EventType_SPAWN_REQUESTED, next, map[string]string{"reason": mv.reason, "from_agent": fromID, "data": data})
	if err := o.commitNode(next, requested); err != nil {
		return nil, err
	}
	// A refused or failed start leaves the node on its old agent's record
	// (failed): the reconciler or the next drain pass takes it up again.
	prev := proto.Clone(rec).(*rpc.NodeStatus)
	if mv.migrate {
		prev.Status = rpc.NodeStopped
		prev.Pid = 0
	}
	var migrateFrom *rpc.AgentRecord
	if mv.migrate {
		migrateFrom = mv.from
	}
	done, err := o.orderSpawnFrom(ctx, mv.to, next, prev, migrateFrom)
	if err != nil {
		return nil, err
	}
	if !mv.migrate && mv.from != nil && mv.from.Status == rpc.AgentHealthy {
		if err := o.stopCopy(ctx, mv.from, rec.NodeId); err != nil {
			o.log.Warn("move: old copy not stopped; the reconciler stops it as an orphan", "node_id", rec.NodeId, "agent_id", fromID, "error", err)
		}
	}
	t, verb := rpc.EventType_NODE_MIGRATED, "migrated"
	if mv.reschedule {
		t, verb = rpc.EventType_NODE_RESCHEDULED, "rescheduled"
	}
	o.emitNodeEvent(t, done, map[string]string{
		"from_agent": fromID, "to_agent": mv.to.AgentId, "data": data, "reason": mv.reason,
		"reschedule_count": strconv.Itoa(int(done.RescheduleCount)),
	})
	o.log.Info("storage node "+verb, "node_id", rec.NodeId, "from_agent", fromID, "to_agent", mv.to.AgentId, "data", data)
	return done, nil
}

// stopCopy stops a node's process on agent a (a copy the registry no
// longer places there, or one about to be copied); NOT_FOUND counts as
// stopped.
func (o *Orchestrator) stopCopy(ctx context.Context, a *rpc.AgentRecord, nodeID string) error {
	err := o.callAgent(ctx, a, "stop_node", o.cfg.StopTimeout, func(ctx context.Context, c rpc.GridAgentClient) error {
		r, err := c.StopNode(ctx, &rpc.StopNodeRequest{NodeId: nodeID, LeaderTerm: o.leaderTerm()})
		if err == nil && !r.GetSuccess() {
			return status.Error(codes.FailedPrecondition, r.GetErrorMessage())
		}
		return err
	})
	if err != nil && status.Code(err) != codes.NotFound && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// placeElsewhere picks an eligible healthy agent with a free slot other
// than except, counting planned (moves not yet committed) as taken slots.
// An agent the leader has not heard from for RescheduleAfter (still
// healthy in the registry: its degraded timer has not fired) is skipped.
func (o *Orchestrator) placeElsewhere(except string, planned ...*rpc.NodeStatus) (*rpc.AgentRecord, error) {
	var agents []*rpc.AgentRecord
	for _, a := range o.reg.Agents() {
		if a.AgentId == except {
			continue
		}
		if o.cfg.RescheduleAfter > 0 && o.silence != nil {
			if d, ok := o.silence(a.AgentId); ok && d >= o.cfg.RescheduleAfter {
				continue
			}
		}
		agents = append(agents, a)
	}
	return placeNode(agents, append(o.reg.Nodes(), planned...))
}
