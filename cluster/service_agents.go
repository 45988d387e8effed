package cluster

import (
	"context"
	"fmt"
	"time"

	"github.com/gridctl/grid/rpc"
)

// maxDrainDeadlineS bounds a drain's deadline (a week).
const maxDrainDeadlineS = 7 * 24 * 3600

// GetAgent returns one agent's record with its nodes, eligibility and
// drain; with x-grid-stale any master answers from its replica.
func (s *gridService) GetAgent(ctx context.Context, in *rpc.AgentId) (*rpc.AgentRecord, error) {
	m := s.m
	if err := rpc.ValidateID("agent_id", in.GetAgentId()); err != nil {
		return nil, toStatus(err)
	}
	return read(ctx, m, func(ctx context.Context) (*rpc.AgentRecord, error) {
		a, ok := m.fsm.Agent(in.AgentId)
		if !ok {
			return nil, fmt.Errorf("agent %q: %w", in.AgentId, ErrNotFound)
		}
		if m.isLeader() {
			if t, ok := m.heartbeats.LastHeartbeat(a.AgentId); ok {
				a.LastHeartbeat = uint64(t.Unix())
			}
		}
		return a, nil
	}, func(ctx context.Context, c rpc.GridMasterClient) (*rpc.AgentRecord, error) {
		return c.GetAgent(ctx, in)
	})
}

// RemoveAgent unregisters an agent: refused for a healthy agent or one
// still holding running nodes unless force.
func (s *gridService) RemoveAgent(ctx context.Context, in *rpc.RemoveAgentRequest) (*rpc.Empty, error) {
	m := s.m
	if err := rpc.ValidateID("agent_id", in.GetAgentId()); err != nil {
		return nil, toStatus(err)
	}
	return forward(ctx, m, func(ctx context.Context) (*rpc.Empty, error) {
		return idempotent(ctx, m, "RemoveAgent", newEmpty, func(ctx context.Context) (*rpc.Empty, error) {
			if err := m.nodes.RemoveAgent(in.AgentId, in.Force, "removed by an operator"); err != nil {
				return nil, err
			}
			return &rpc.Empty{}, nil
		})
	}, func(ctx context.Context, c rpc.GridMasterClient) (*rpc.Empty, error) {
		return c.RemoveAgent(ctx, in)
	})
}

// SetAgentEligibility turns placement on an agent on or off.
func (s *gridService) SetAgentEligibility(ctx context.Context, in *rpc.AgentEligibilityRequest) (*rpc.AgentRecord, error) {
	m := s.m
	if err := rpc.ValidateID("agent_id", in.GetAgentId()); err != nil {
		return nil, toStatus(err)
	}
	return forward(ctx, m, func(ctx context.Context) (*rpc.AgentRecord, error) {
		return idempotent(ctx, m, "SetAgentEligibility", func() *rpc.AgentRecord { return new(rpc.AgentRecord) }, func(ctx context.Context) (*rpc.AgentRecord, error) {
			return m.nodes.SetEligibility(in.AgentId, in.Eligible)
		})
	}, func(ctx context.Context, c rpc.GridMasterClient) (*rpc.AgentRecord, error) {
		return c.SetAgentEligibility(ctx, in)
	})
}

// DrainAgent starts or cancels a drain.
func (s *gridService) DrainAgent(ctx context.Context, in *rpc.DrainAgentRequest) (*rpc.AgentRecord, error) {
	m := s.m
	if err := rpc.ValidateID("agent_id", in.GetAgentId()); err != nil {
		return nil, toStatus(err)
	}
	if in.DeadlineS < 0 || in.DeadlineS > maxDrainDeadlineS {
		return nil, toStatus(fmt.Errorf("%w: deadline_s %d: give a positive number of seconds up to %d (0: the default, 1h)", ErrInvalid, in.DeadlineS, maxDrainDeadlineS))
	}
	return forward(ctx, m, func(ctx context.Context) (*rpc.AgentRecord, error) {
		return idempotent(ctx, m, "DrainAgent", func() *rpc.AgentRecord { return new(rpc.AgentRecord) }, func(ctx context.Context) (*rpc.AgentRecord, error) {
			return m.nodes.Drain(in)
		})
	}, func(ctx context.Context, c rpc.GridMasterClient) (*rpc.AgentRecord, error) {
		return c.DrainAgent(ctx, in)
	})
}

// agentSilence is how long ago the leader last heard from an agent: from
// its heartbeat timers, or for an agent already offline (no heartbeat since
// this master leads) from the registry's last heartbeat.
func (m *Master) agentSilence(id string) (d time.Duration, ok bool) {
	if t, ok := m.heartbeats.LastHeartbeat(id); ok {
		return time.Since(t), true
	}
	if a, ok := m.fsm.Agent(id); ok && a.Status == rpc.AgentOffline && a.LastHeartbeat > 0 {
		return time.Since(time.Unix(int64(a.LastHeartbeat), 0)), true
	}
	return 0, false
}
