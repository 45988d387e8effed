package cluster

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/gridctl/grid/fsm"
	"github.com/gridctl/grid/rpc"
	autopilot "github.com/hashicorp/raft-autopilot"
)

// defaultMaxTrailingLogs is autopilot's max trailing logs unless set.
const defaultMaxTrailingLogs = 250

// autopilotConfig is the configuration autopilot runs with: the operator's,
// stored in Raft, or else the master's flags.
func (m *Master) autopilotConfig() *rpc.AutopilotConfig {
	if c, ok := m.fsm.AutopilotConfig(); ok {
		return c
	}
	c := m.config
	return &rpc.AutopilotConfig{
		CleanupDeadServers:        c.AutopilotCleanup,
		LastContactThresholdMs:    c.LastContactThreshold.Milliseconds(),
		MaxTrailingLogs:           defaultMaxTrailingLogs,
		MinQuorum:                 uint32(c.MinQuorum),
		ServerStabilizationTimeMs: c.ServerStabilizationTime.Milliseconds(),
	}
}

// toAutopilot converts the wire form to the library's.
func toAutopilot(c *rpc.AutopilotConfig) *autopilot.Config {
	return &autopilot.Config{
		CleanupDeadServers:      c.CleanupDeadServers,
		LastContactThreshold:    time.Duration(c.LastContactThresholdMs) * time.Millisecond,
		MaxTrailingLogs:         c.MaxTrailingLogs,
		MinQuorum:               uint(c.MinQuorum),
		ServerStabilizationTime: time.Duration(c.ServerStabilizationTimeMs) * time.Millisecond,
	}
}

// validateAutopilotConfig checks an operator's configuration at the edge.
func validateAutopilotConfig(c *rpc.AutopilotConfig) error {
	switch {
	case c.LastContactThresholdMs < 10 || c.LastContactThresholdMs > 3_600_000:
		return fmt.Errorf("%w: last_contact_threshold_ms %d: allowed 10-3600000", ErrInvalid, c.LastContactThresholdMs)
	case c.ServerStabilizationTimeMs < 0 || c.ServerStabilizationTimeMs > 3_600_000:
		return fmt.Errorf("%w: server_stabilization_time_ms %d: allowed 0-3600000", ErrInvalid, c.ServerStabilizationTimeMs)
	case c.MaxTrailingLogs < 1 || c.MaxTrailingLogs > 1_000_000:
		return fmt.Errorf("%w: max_trailing_logs %d: allowed 1-1000000", ErrInvalid, c.MaxTrailingLogs)
	case c.MinQuorum > 101:
		return fmt.Errorf("%w: min_quorum %d: allowed 0-101", ErrInvalid, c.MinQuorum)
	}
	return nil
}

// GetAutopilotConfig answers the configuration autopilot runs with.
func (s *gridService) GetAutopilotConfig(ctx context.Context, _ *rpc.Empty) (*rpc.AutopilotConfig, error) {
	m := s.m
	return read(ctx, m, func(context.Context) (*rpc.AutopilotConfig, error) { return m.autopilotConfig(), nil },
		func(ctx context.Context, c rpc.GridMasterClient) (*rpc.AutopilotConfig, error) {
			return c.GetAutopilotConfig(ctx, &rpc.Empty{})
		})
}

// SetAutopilotConfig stores an operator's configuration in Raft; every
// master's autopilot (the leader's runs) uses it from then on.
func (s *gridService) SetAutopilotConfig(ctx context.Context, in *rpc.AutopilotConfig) (*rpc.AutopilotConfig, error) {
	m := s.m
	if err := validateAutopilotConfig(in); err != nil {
		return nil, toStatus(err)
	}
	return forward(ctx, m, func(ctx context.Context) (*rpc.AutopilotConfig, error) {
		if _, err := m.raftApply(fsm.AutopilotConfigType, in); err != nil {
			return nil, fmt.Errorf("set autopilot config: %w", err)
		}
		m.logger.Info("autopilot configuration set", "cleanup_dead_servers", in.CleanupDeadServers,
			"last_contact_threshold_ms", in.LastContactThresholdMs, "max_trailing_logs", in.MaxTrailingLogs,
			"min_quorum", in.MinQuorum, "server_stabilization_time_ms", in.ServerStabilizationTimeMs)
		return m.autopilotConfig(), nil
	}, func(ctx context.Context, c rpc.GridMasterClient) (*rpc.AutopilotConfig, error) {
		return c.SetAutopilotConfig(ctx, in)
	})
}

// AutopilotHealth answers each master's health as the leader's autopilot
// last saw it.
func (s *gridService) AutopilotHealth(ctx context.Context, _ *rpc.Empty) (*rpc.AutopilotHealthResponse, error) {
	m := s.m
	return forward(ctx, m, func(ctx context.Context) (*rpc.AutopilotHealthResponse, error) {
		st := m.autopilot.delegate.lastState()
		if st == nil {
			return nil, fmt.Errorf("%w: autopilot has no state yet (the leader just took over); retry in a second", rpc.ErrUnavailable)
		}
		return autopilotHealth(st), nil
	}, func(ctx context.Context, c rpc.GridMasterClient) (*rpc.AutopilotHealthResponse, error) {
		return c.AutopilotHealth(ctx, &rpc.Empty{})
	})
}

// autopilotHealth is the wire form of an autopilot state.
func autopilotHealth(st *autopilot.State) *rpc.AutopilotHealthResponse {
	out := &rpc.AutopilotHealthResponse{Healthy: st.Healthy, FailureTolerance: int32(st.FailureTolerance),
		LeaderId: string(st.Leader), FailureToleranceHolds: st.FailureTolerance > 0}
	for id, s := range st.Servers {
		h := &rpc.AutopilotServerHealth{
			Id: string(id), Name: s.Server.Name, Address: string(s.Server.Address), Status: string(s.Server.NodeStatus),
			RaftState: string(s.State), Healthy: s.Health.Healthy, LastContactMs: s.Stats.LastContact.Milliseconds(),
			LastIndex: s.Stats.LastIndex, LastTerm: s.Stats.LastTerm,
		}
		if s.Stats.LastContact < 0 {
			h.LastContactMs = -1
		}
		if !s.Health.StableSince.IsZero() {
			h.StableSince = s.Health.StableSince.UnixMicro()
		}
		out.Servers = append(out.Servers, h)
	}
	sort.Slice(out.Servers, func(i, j int) bool { return out.Servers[i].Id < out.Servers[j].Id })
	return out
}
