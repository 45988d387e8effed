package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gridctl/grid/rpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// stopNode carries out a stop order on the leader: commit desired state
// stopped (status stopping), call the agent, commit stopped. The record is
// kept. A stop whose agent cannot be reached stays recorded and the
// reconciler finishes it when the agent is back.
func (m *Master) stopNode(ctx context.Context, req *rpc.StopRequest) (*rpc.StopResponse, error) {
	o := m.orchestrator()
	if err := validateStopRequest(req); err != nil {
		o.metrics.stop(resultRejected)
		return nil, err
	}
	rec, ok := m.fsm.Node(req.NodeId)
	if !ok {
		o.metrics.stop(resultRejected)
		return nil, fmt.Errorf("node %q: %w", req.NodeId, ErrNotFound)
	}
	if req.AgentId != "" && req.AgentId != rec.AgentId {
		o.metrics.stop(resultRejected)
		return nil, fmt.Errorf("%w: node %q runs on agent %s, not %s", ErrInvalid, req.NodeId, rec.AgentId, req.AgentId)
	}
	if !o.acquire(rec.NodeId) {
		return nil, fmt.Errorf("node %q: %w", rec.NodeId, ErrNodeBusy)
	}
	defer o.release(rec.NodeId)
	if rec, ok = m.fsm.Node(req.NodeId); !ok { // re-read under the node's lock
		return nil, fmt.Errorf("node %q: %w", req.NodeId, ErrNotFound)
	}
	if rec.DesiredState == desiredStopped && rec.Status == nodeStopped {
		return &rpc.StopResponse{Success: true}, nil
	}

	stopping := proto.Clone(rec).(*rpc.NodeStatus)
	stopping.DesiredState = desiredStopped
	stopping.Status = nodeStopping
	stopping.UpdatedAt = time.Now().UnixMicro()
	if err := m.commitNode(stopping); err != nil {
		o.metrics.stop(resultAborted)
		return nil, err
	}
	m.emitNodeEvent(rpc.EventType_STOP_REQUESTED, stopping, nil)

	if err := m.orderStop(context.WithoutCancel(ctx), stopping, nil); err != nil {
		return nil, interrupted(rec.NodeId, err)
	}
	return &rpc.StopResponse{Success: true}, nil
}

// orderStop sends StopNode for a record whose desired state is stopped and
// commits status stopped when the agent confirms (or no longer knows the
// node, or the agent itself is gone from the registry). extra is added to
// the stop_succeeded / stop_failed event.
func (m *Master) orderStop(ctx context.Context, rec *rpc.NodeStatus, extra map[string]string) error {
	o := m.orchestrator()
	agent, ok := m.fsm.Agent(rec.AgentId)
	if ok {
		err := o.callAgent(ctx, agent, "stop_node", o.config().StopTimeout, func(ctx context.Context, c rpc.GridAgentClient) error {
			r, err := c.StopNode(ctx, &rpc.StopNodeRequest{NodeId: rec.NodeId})
			if err == nil && !r.GetSuccess() {
				return status.Error(codes.FailedPrecondition, r.GetErrorMessage())
			}
			return err
		})
		if err != nil && status.Code(err) != codes.NotFound {
			result := resultRefused
			if errors.Is(err, ErrAgentUnreachable) {
				result = resultUnreachable
				err = fmt.Errorf("node %s: %w; the stop is recorded and will be finished when the agent answers", rec.NodeId, err)
			}
			o.metrics.stop(result)
			failed := proto.Clone(rec).(*rpc.NodeStatus)
			failed.LastError = err.Error()
			failed.UpdatedAt = time.Now().UnixMicro()
			if cerr := m.commitNode(failed); cerr != nil {
				o.logger().Warn("could not record stop failure", "node_id", rec.NodeId, "error", cerr)
			}
			m.emitNodeEvent(rpc.EventType_STOP_FAILED, rec, withDetail(extra, "error", err.Error()))
			o.logger().Warn("stop order failed", "node_id", rec.NodeId, "agent_id", rec.AgentId, "error", err)
			return err
		}
	}
	stopped := proto.Clone(rec).(*rpc.NodeStatus)
	stopped.Status = nodeStopped
	stopped.Pid = 0
	stopped.LastError = ""
	stopped.UpdatedAt = time.Now().UnixMicro()
	if err := m.commitNode(stopped); err != nil {
		o.metrics.stop(resultAborted)
		return err
	}
	o.metrics.stop(resultSuccess)
	if !ok {
		extra = withDetail(extra, "note", "agent no longer registered")
	}
	m.emitNodeEvent(rpc.EventType_STOP_SUCCEEDED, stopped, extra)
	o.logger().Info("storage node stopped", "node_id", rec.NodeId, "agent_id", rec.AgentId)
	return nil
}

// withDetail returns a copy of details with k=v added.
func withDetail(details map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(details)+1)
	for dk, dv := range details {
		out[dk] = dv
	}
	out[k] = v
	return out
}
