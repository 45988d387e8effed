package nodes

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

// Stop carries out a stop order on the leader: commit desired state
// stopped (status stopping), call the agent, commit stopped. The record is
// kept. A stop whose agent cannot be reached stays recorded and the
// reconciler finishes it when the agent is back. req must be valid
// (rpc.ValidateStopRequest).
func (o *Orchestrator) Stop(ctx context.Context, req *rpc.StopRequest) (*rpc.StopResponse, error) {
	rec, ok := o.reg.Node(req.NodeId)
	if !ok {
		o.metrics.stop(resultRejected)
		return nil, fmt.Errorf("node %q: %w", req.NodeId, rpc.ErrNotFound)
	}
	if req.AgentId != "" && req.AgentId != rec.AgentId {
		o.metrics.stop(resultRejected)
		return nil, fmt.Errorf("%w: node %q runs on agent %s, not %s", rpc.ErrInvalid, req.NodeId, rec.AgentId, req.AgentId)
	}
	if !o.acquire(rec.NodeId) {
		return nil, fmt.Errorf("node %q: %w", rec.NodeId, ErrNodeBusy)
	}
	defer o.release(rec.NodeId)
	if rec, ok = o.reg.Node(req.NodeId); !ok { // re-read under the node's lock
		return nil, fmt.Errorf("node %q: %w", req.NodeId, rpc.ErrNotFound)
	}
	if rec.DesiredState == rpc.DesiredStopped && rec.Status == rpc.NodeStopped {
		return &rpc.StopResponse{Success: true}, nil
	}

	stopping := proto.Clone(rec).(*rpc.NodeStatus)
	stopping.DesiredState = rpc.DesiredStopped
	stopping.Status = rpc.NodeStopping
	stopping.UpdatedAt = time.Now().UnixMicro()
	if err := o.commitNode(stopping, o.nodeEvent(rpc.EventType_STOP_REQUESTED, stopping, nil)); err != nil {
		o.metrics.stop(resultAborted)
		return nil, err
	}

	if err := o.orderStop(context.WithoutCancel(ctx), stopping, nil); err != nil {
		return nil, o.interrupted(rec.NodeId, err)
	}
	return &rpc.StopResponse{Success: true}, nil
}

// orderStop sends StopNode for a record whose desired state is stopped and
// commits status stopped when the agent confirms (or no longer knows the
// node, or the agent itself is gone from the registry). extra is added to
// the stop_succeeded / stop_failed event.
func (o *Orchestrator) orderStop(ctx context.Context, rec *rpc.NodeStatus, extra map[string]string) error {
	agent, ok := o.reg.Agent(rec.AgentId)
	if ok {
		err := o.callAgent(ctx, agent, "stop_node", o.cfg.StopTimeout, func(ctx context.Context, c rpc.GridAgentClient) error {
			r, err := c.StopNode(ctx, &rpc.StopNodeRequest{NodeId: rec.NodeId, LeaderTerm: o.leaderTerm()})
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
			if cerr := o.commitNode(failed, o.nodeEvent(rpc.EventType_STOP_FAILED, rec, withDetail(extra, "error", err.Error()))); cerr != nil {
				o.log.Warn("could not record stop failure", "node_id", rec.NodeId, "error", cerr)
			}
			o.log.Warn("stop order failed", "node_id", rec.NodeId, "agent_id", rec.AgentId, "error", err)
			return err
		}
	}
	stopped := proto.Clone(rec).(*rpc.NodeStatus)
	stopped.Status = rpc.NodeStopped
	stopped.Pid = 0
	stopped.LastError = ""
	stopped.UpdatedAt = time.Now().UnixMicro()
	if !ok {
		extra = withDetail(extra, "note", "agent no longer registered")
	}
	if err := o.commitNode(stopped, o.nodeEvent(rpc.EventType_STOP_SUCCEEDED, stopped, extra)); err != nil {
		o.metrics.stop(resultAborted)
		return err
	}
	o.metrics.stop(resultSuccess)
	o.log.Info("storage node stopped", "node_id", rec.NodeId, "agent_id", rec.AgentId)
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
