package nodes

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/gridctl/grid/rpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Spawn carries out a spawn order on the leader (DESIGN.md data flow 2):
// admit (check against the registry, place, commit the pending record),
// call the agent, commit the outcome. req must be valid
// (rpc.ValidateSpawnRequest, checked once by the gRPC handler); an empty
// node id gets one from rpc.NewNodeID. The order runs to its end even if
// the client goes away.
func (o *Orchestrator) Spawn(ctx context.Context, req *rpc.SpawnRequest) (*rpc.SpawnResponse, error) {
	if req.NodeId == "" {
		id, err := rpc.NewNodeID()
		if err != nil {
			return nil, err
		}
		req = proto.Clone(req).(*rpc.SpawnRequest)
		req.NodeId = id
	}
	start := time.Now()
	rec, prev, agent, err := o.admitSpawn(req)
	if err != nil {
		o.metrics.spawn(resultRejected)
		return nil, err
	}
	defer o.release(rec.NodeId)
	if hook := o.hookAfterPending(); hook != nil {
		if err := hook(rec.NodeId); err != nil {
			o.metrics.spawn(resultAborted)
			return nil, err
		}
	}
	ctx = context.WithoutCancel(ctx)
	done, err := o.orderSpawn(ctx, agent, rec, prev)
	o.metrics.spawnTook(time.Since(start))
	if err != nil {
		return nil, o.interrupted(rec.NodeId, err)
	}
	return &rpc.SpawnResponse{Success: true, NodeId: done.NodeId, Endpoint: done.Endpoint, AgentId: done.AgentId, Pid: done.Pid}, nil
}

// admitSpawn checks the order against the registry, picks the agent and
// commits the node's pending record with desired state running. It returns
// the record, the record it replaces (a stopped or failed node of the same
// id; nil for a new node) and the agent. On success the node is marked in
// flight; the caller releases it.
func (o *Orchestrator) admitSpawn(req *rpc.SpawnRequest) (rec, prev *rpc.NodeStatus, agent *rpc.AgentRecord, err error) {
	o.placeMu.Lock()
	defer o.placeMu.Unlock()

	nodeID := req.NodeId
	if old, ok := o.reg.Node(nodeID); ok {
		if resumesOrder(old, req) {
			return o.resumeSpawn(old)
		}
		if nodeHoldsSlot(old) {
			return nil, nil, nil, fmt.Errorf("node %q exists on agent %s (status %s): %w", nodeID, old.AgentId, old.Status, ErrNodeExists)
		}
		prev = old
	}

	nodes := o.reg.Nodes()
	if req.AgentId != "" {
		a, ok := o.reg.Agent(req.AgentId)
		if !ok {
			return nil, nil, nil, fmt.Errorf("agent %q: %w", req.AgentId, rpc.ErrNotFound)
		}
		if err := checkAgentTakesNode(a, nodes); err != nil {
			return nil, nil, nil, err
		}
		agent = a
	} else if agent, err = placeNode(o.reg.Agents(), nodes); err != nil {
		return nil, nil, nil, err
	}
	if err := rpc.CheckPortInRange(agent.AgentId, req.Port, agent.PortRangeStart, agent.PortRangeEnd); err != nil {
		return nil, nil, nil, err
	}

	if !o.acquire(nodeID) {
		return nil, nil, nil, fmt.Errorf("node %q: %w", nodeID, ErrNodeBusy)
	}
	now := time.Now().UnixMicro()
	rec = &rpc.NodeStatus{
		NodeId:        nodeID,
		AgentId:       agent.AgentId,
		Status:        rpc.NodePending,
		DesiredState:  rpc.DesiredRunning,
		Port:          req.Port,
		StoragePath:   req.StoragePath,
		MemoryLimitMb: req.MemoryLimitMb,
		CreatedAt:     now,
		UpdatedAt:     now,
	}
	requested := o.nodeEvent(rpc.EventType_SPAWN_REQUESTED, rec, map[string]string{
		"storage_path": rec.StoragePath, "memory_limit_mb": strconv.FormatUint(rec.MemoryLimitMb, 10),
	})
	if err := o.commitNode(rec, requested); err != nil {
		o.release(nodeID)
		return nil, nil, nil, err
	}
	return rec, prev, agent, nil
}

// resumesOrder reports whether req repeats the half-done order recorded
// in old (pending, or failed because the agent was unreachable), as a
// client retrying after a timeout or a leader change does.
func resumesOrder(old *rpc.NodeStatus, req *rpc.SpawnRequest) bool {
	halfDone := old.Status == rpc.NodePending || (old.Status == rpc.NodeFailed && strings.HasPrefix(old.LastError, unreachablePrefix))
	return old.DesiredState == rpc.DesiredRunning && halfDone &&
		(req.AgentId == "" || req.AgentId == old.AgentId) &&
		req.Port == old.Port && req.StoragePath == old.StoragePath && req.MemoryLimitMb == old.MemoryLimitMb
}

// resumeSpawn takes up a half-done order again: the same record is sent to
// the same agent (SpawnNode is idempotent by node id).
func (o *Orchestrator) resumeSpawn(old *rpc.NodeStatus) (rec, prev *rpc.NodeStatus, agent *rpc.AgentRecord, err error) {
	agent, ok := o.reg.Agent(old.AgentId)
	if !ok {
		return nil, nil, nil, fmt.Errorf("node %q was ordered on agent %q: agent %w", old.NodeId, old.AgentId, rpc.ErrNotFound)
	}
	if !o.acquire(old.NodeId) {
		return nil, nil, nil, fmt.Errorf("node %q: %w", old.NodeId, ErrNodeBusy)
	}
	rec = proto.Clone(old).(*rpc.NodeStatus)
	rec.Status = rpc.NodePending
	o.emitNodeEvent(rpc.EventType_SPAWN_REQUESTED, rec, map[string]string{
		"storage_path": rec.StoragePath, "memory_limit_mb": strconv.FormatUint(rec.MemoryLimitMb, 10), "resumed": "true",
	})
	return rec, nil, agent, nil
}

// interrupted hides a lost leadership behind ErrOrderInterrupted once an
// order is recorded, so that forwarding does not send the order again.
func (o *Orchestrator) interrupted(nodeID string, err error) error {
	if o.leader.IsNotLeader(err) {
		return fmt.Errorf("node %s: %w (%v); the next leader finishes it", nodeID, ErrOrderInterrupted, err)
	}
	return err
}

// orderSpawn sends a committed spawn record to its agent and commits the
// outcome: running with pid, port and endpoint; on an agent's refusal the
// record is rolled back (prev restored, or deleted for a new node); when
// the agent is unreachable the record is marked failed with last_error
// starting with unreachablePrefix, for the reconciler to finish.
func (o *Orchestrator) orderSpawn(ctx context.Context, agent *rpc.AgentRecord, rec, prev *rpc.NodeStatus) (*rpc.NodeStatus, error) {
	return o.orderSpawnFrom(ctx, agent, rec, prev, nil)
}

// orderSpawnFrom is orderSpawn; with migrateFrom the agent first copies the
// node's data directory from that agent (a drain with data migration).
func (o *Orchestrator) orderSpawnFrom(ctx context.Context, agent *rpc.AgentRecord, rec, prev *rpc.NodeStatus, migrateFrom *rpc.AgentRecord) (*rpc.NodeStatus, error) {
	req := &rpc.SpawnNodeRequest{
		NodeId: rec.NodeId, Port: rec.Port, StoragePath: rec.StoragePath, MemoryLimitMb: rec.MemoryLimitMb,
		LeaderTerm: o.leaderTerm(),
	}
	if migrateFrom != nil {
		req.MigrateFromAgent, req.MigrateFromEndpoint = migrateFrom.AgentId, migrateFrom.Endpoint
	}
	var resp *rpc.SpawnNodeResponse
	err := o.callAgent(ctx, agent, "spawn_node", o.cfg.SpawnTimeout, func(ctx context.Context, c rpc.GridAgentClient) error {
		r, err := c.SpawnNode(ctx, req)
		if err == nil && !r.GetSuccess() {
			return status.Error(codes.FailedPrecondition, r.GetErrorMessage())
		}
		resp = r
		return err
	})
	if err == nil {
		done := spawnedRecord(rec, agent, resp)
		succeeded := o.nodeEvent(rpc.EventType_SPAWN_SUCCEEDED, done, map[string]string{
			"pid": strconv.FormatUint(uint64(done.Pid), 10), "endpoint": done.Endpoint,
		})
		if err := o.commitNode(done, succeeded); err != nil {
			o.metrics.spawn(resultAborted)
			return nil, fmt.Errorf("node %s started on agent %s but its record was not committed (the next leader reconciles it): %w", rec.NodeId, agent.AgentId, err)
		}
		o.metrics.spawn(resultSuccess)
		o.log.Info("storage node spawned", "node_id", done.NodeId, "agent_id", done.AgentId, "pid", done.Pid, "endpoint", done.Endpoint)
		return done, nil
	}

	failedEv := o.nodeEvent(rpc.EventType_SPAWN_FAILED, rec, map[string]string{"error": statusMessage(err)})
	if errors.Is(err, ErrAgentUnreachable) {
		o.metrics.spawn(resultUnreachable)
		failed := proto.Clone(rec).(*rpc.NodeStatus)
		failed.Status = rpc.NodeFailed
		failed.LastError = unreachablePrefix + err.Error()
		failed.UpdatedAt = time.Now().UnixMicro()
		if cerr := o.commitNode(failed, failedEv); cerr != nil {
			o.log.Warn("could not mark spawn failed", "node_id", rec.NodeId, "error", cerr)
		}
		o.log.Warn("spawn order not delivered, left to the reconciler", "node_id", rec.NodeId, "agent_id", agent.AgentId, "error", err)
		return nil, fmt.Errorf("node %s: %w; the order is recorded and will be retried when the agent answers", rec.NodeId, err)
	}

	o.metrics.spawn(resultRefused)
	var rerr error
	if prev != nil {
		rerr = o.commitNode(prev, failedEv)
	} else {
		rerr = o.deleteNodeRecord(rec.NodeId, failedEv)
	}
	if rerr != nil {
		o.log.Warn("could not roll back refused spawn", "node_id", rec.NodeId, "error", rerr)
	}
	o.log.Info("spawn refused by agent", "node_id", rec.NodeId, "agent_id", agent.AgentId, "error", err)
	var refusal *AgentRefusal
	if errors.As(err, &refusal) {
		return nil, err
	}
	// NOT_FOUND or another answer that is not a refusal: report it as one.
	return nil, &AgentRefusal{AgentID: agent.AgentId, Code: codes.FailedPrecondition, Message: statusMessage(err)}
}

// spawnedRecord is rec after the agent started it: running, with what the
// agent reported (pid, port, endpoint, resolved path and limits).
func spawnedRecord(rec *rpc.NodeStatus, agent *rpc.AgentRecord, resp *rpc.SpawnNodeResponse) *rpc.NodeStatus {
	done := proto.Clone(rec).(*rpc.NodeStatus)
	if n := resp.GetNode(); n != nil {
		done = mergeActual(done, n)
	}
	if done.Status == rpc.NodePending || done.Status == "" || resp.GetNode() == nil {
		done.Status = rpc.NodeRunning
	}
	if resp.GetPid() != 0 {
		done.Pid = resp.GetPid()
	}
	if resp.GetPort() != 0 {
		done.Port = resp.GetPort()
	}
	if resp.GetStoragePath() != "" {
		done.StoragePath = resp.GetStoragePath()
	}
	switch {
	case resp.GetEndpoint() != "":
		done.Endpoint = resp.GetEndpoint()
	case done.Endpoint == "" && done.Port != 0:
		done.Endpoint = nodeEndpoint(agent.Endpoint, done.Port)
	}
	done.LastError = ""
	done.UpdatedAt = time.Now().UnixMicro()
	return done
}

// nodeEndpoint is host-of-agent:port.
func nodeEndpoint(agentEndpoint string, port uint32) string {
	host, _, err := net.SplitHostPort(agentEndpoint)
	if err != nil || host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, strconv.FormatUint(uint64(port), 10))
}

// mergeActual returns rec with the actual-state fields an agent reports
// (status, pid, port, endpoint, path, limits, restarts, exit) taken from
// actual; the desired state, agent, creation time and updated_at are rec's.
func mergeActual(rec, actual *rpc.NodeStatus) *rpc.NodeStatus {
	out := proto.Clone(rec).(*rpc.NodeStatus)
	if actual.Status != "" {
		out.Status = actual.Status
	}
	out.Pid = actual.Pid
	if actual.Port != 0 {
		out.Port = actual.Port
	}
	if actual.Endpoint != "" {
		out.Endpoint = actual.Endpoint
	}
	if actual.StoragePath != "" {
		out.StoragePath = actual.StoragePath
	}
	if actual.MemoryLimitMb != 0 {
		out.MemoryLimitMb = actual.MemoryLimitMb
	}
	out.RestartCount = actual.RestartCount
	out.LastExitCode = actual.LastExitCode
	out.LastSignal = actual.LastSignal
	if actual.StartedAt != 0 {
		out.StartedAt = actual.StartedAt
	}
	if actual.LastError != "" || out.Status == rpc.NodeRunning {
		out.LastError = actual.LastError
	}
	return out
}
