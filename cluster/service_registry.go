package cluster

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/gridctl/grid/fsm"
	"github.com/gridctl/grid/rpc"
	"google.golang.org/grpc/peer"
	"google.golang.org/protobuf/proto"
)

// Bounds on agent registration fields.
const (
	maxHostnameLen  = 255
	maxFieldLen     = 256
	maxNodesPerHost = 10000
)

// read answers a read: from this master's replica when the caller allows
// stale reads, otherwise on the leader after VerifyLeader or within its read
// lease (lease.go; forwarded from a follower).
func read[T any](ctx context.Context, m *Master, local func(ctx context.Context) (T, error),
	remote func(ctx context.Context, c rpc.GridMasterClient) (T, error)) (T, error) {
	if m.allowStale(ctx) {
		out, err := local(ctx)
		return out, toStatus(err)
	}
	return forward(ctx, m, func(ctx context.Context) (T, error) {
		if err := m.verifyLeaderRead(); err != nil {
			var zero T
			return zero, err
		}
		return local(ctx)
	}, remote)
}

// validateAgentInfo checks a registration at the edge.
func validateAgentInfo(in *rpc.AgentInfo) error {
	if err := rpc.ValidateID("agent_id", in.AgentId); err != nil {
		return err
	}
	if len(in.Hostname) > maxHostnameLen {
		return fmt.Errorf("%w: hostname is %d bytes (at most %d)", ErrInvalid, len(in.Hostname), maxHostnameLen)
	}
	if len(in.Platform) > maxFieldLen || len(in.Version) > maxFieldLen {
		return fmt.Errorf("%w: platform or version longer than %d bytes", ErrInvalid, maxFieldLen)
	}
	if in.MaxStorageNodes > maxNodesPerHost {
		return fmt.Errorf("%w: max_storage_nodes %d exceeds %d", ErrInvalid, in.MaxStorageNodes, maxNodesPerHost)
	}
	if len(in.Nodes) > maxNodesPerHost {
		return fmt.Errorf("%w: nodes lists %d entries (at most %d)", ErrInvalid, len(in.Nodes), maxNodesPerHost)
	}
	if err := rpc.ValidatePortRange(in.PortRangeStart, in.PortRangeEnd); err != nil {
		return err
	}
	if in.AgentEndpoint != "" {
		if _, port, err := splitHostPortNum(in.AgentEndpoint); err != nil || port < 1 || port > 65535 {
			return fmt.Errorf("%w: agent_endpoint %q is not host:port", ErrInvalid, in.AgentEndpoint)
		}
	}
	return nil
}

// RegisterAgent records an agent (healthy) and starts its heartbeat timer.
func (s *gridService) RegisterAgent(ctx context.Context, in *rpc.AgentInfo) (*rpc.RegistrationResponse, error) {
	m := s.m
	if err := validateAgentInfo(in); err != nil {
		return nil, toStatus(err)
	}
	if host, port, _ := net.SplitHostPort(in.AgentEndpoint); in.AgentEndpoint != "" && unspecifiedHost(host) && !isForwarded(ctx) {
		// ":8001" or "0.0.0.0:8001": dial the host the registration came
		// from (derived before forwarding, which changes the caller).
		if p, ok := peer.FromContext(ctx); ok {
			if phost, _, err := net.SplitHostPort(p.Addr.String()); err == nil {
				in = proto.Clone(in).(*rpc.AgentInfo)
				in.AgentEndpoint = net.JoinHostPort(phost, port)
			}
		}
	}
	return forward(ctx, m, func(ctx context.Context) (*rpc.RegistrationResponse, error) {
		now := time.Now()
		_, existed := m.fsm.AgentStatus(in.AgentId) // no record copy, no scan of the nodes
		rec := &rpc.AgentRecord{
			AgentId: in.AgentId, Hostname: in.Hostname, Platform: in.Platform, Status: rpc.AgentHealthy,
			MaxStorageNodes: in.MaxStorageNodes, LastHeartbeat: uint64(now.Unix()), Endpoint: in.AgentEndpoint,
			RegisteredAt: now.Unix(), Version: in.Version,
			PortRangeStart: in.PortRangeStart, PortRangeEnd: in.PortRangeEnd,
		}
		ev := rpc.NewEvent(m.config.ID, rpc.EventType_AGENT_REGISTERED, in.AgentId, map[string]string{
			"agent_id": in.AgentId, "hostname": in.Hostname, "platform": in.Platform, "endpoint": in.AgentEndpoint,
			"max_storage_nodes": strconv.Itoa(int(in.MaxStorageNodes)), "version": in.Version,
			"reregistered": strconv.FormatBool(existed), "running_nodes": strconv.Itoa(len(in.Nodes)),
		})
		if _, err := m.raftApply(fsm.RegisterAgentEventsType, &rpc.RegisterAgentCommand{Agent: rec, Events: []*rpc.Event{ev}}); err != nil {
			return nil, fmt.Errorf("register agent %q: %w", in.AgentId, err)
		}
		next := m.heartbeats.Heartbeat(in.AgentId, rpc.AgentHealthy, uint32(len(in.Nodes)))
		// Debug, not Info: every registration is already in the event graph
		// (agent_registered; `grid events --entity <agent>`), and this line was
		// 4-5 % of the CPU of a leader taking registrations from 64 callers.
		m.logger.Debug("agent registered", "agent_id", in.AgentId, "endpoint", in.AgentEndpoint, "reregistered", existed)
		return &rpc.RegistrationResponse{
			Success: true, MasterVersion: m.masterVersion(),
			HeartbeatIntervalMs: next, LeaderId: m.config.ID,
			StaleNodeIds: m.staleNodes(in),
		}, nil
	}, func(ctx context.Context, c rpc.GridMasterClient) (*rpc.RegistrationResponse, error) {
		return c.RegisterAgent(ctx, in)
	})
}

// Heartbeat resets the agent's timer on the leader; it commits only when
// the agent was degraded or offline (recovered).
func (s *gridService) Heartbeat(ctx context.Context, in *rpc.HeartbeatRequest) (*rpc.HeartbeatResponse, error) {
	m := s.m
	if err := rpc.ValidateID("agent_id", in.AgentId); err != nil {
		return nil, toStatus(err)
	}
	return forward(ctx, m, func(ctx context.Context) (*rpc.HeartbeatResponse, error) {
		return m.heartbeatLocal(in)
	}, func(ctx context.Context, c rpc.GridMasterClient) (*rpc.HeartbeatResponse, error) {
		return c.Heartbeat(ctx, in)
	})
}

// heartbeatLocal is the leader's effect of one heartbeat, unary or on a
// HeartbeatStream: reset the agent's liveness timer and answer with the
// next interval.
func (m *Master) heartbeatLocal(in *rpc.HeartbeatRequest) (*rpc.HeartbeatResponse, error) {
	out := &rpc.HeartbeatResponse{}
	if err := m.heartbeatInto(in, out); err != nil {
		return nil, err
	}
	return out, nil
}

// heartbeatInto is heartbeatLocal filling out (a stream reuses one answer).
func (m *Master) heartbeatInto(in *rpc.HeartbeatRequest, out *rpc.HeartbeatResponse) error {
	st, ok := m.fsm.AgentStatus(in.AgentId) // no record copy per beat
	if !ok {
		return fmt.Errorf("%w: agent %q is not registered (register again)", ErrNotFound, in.AgentId)
	}
	next := m.heartbeats.Heartbeat(in.AgentId, st, in.StorageNodeCount)
	m.metrics.heartbeats.Inc()
	out.Acknowledged, out.Timestamp, out.NextIntervalMs, out.LeaderId = true, uint64(time.Now().Unix()), next, m.config.ID
	return nil
}

// UnregisterAgent removes an agent from the registry.
func (s *gridService) UnregisterAgent(ctx context.Context, in *rpc.AgentId) (*rpc.Empty, error) {
	m := s.m
	if err := rpc.ValidateID("agent_id", in.AgentId); err != nil {
		return nil, toStatus(err)
	}
	return forward(ctx, m, func(ctx context.Context) (*rpc.Empty, error) {
		return idempotent(ctx, m, "UnregisterAgent", newEmpty, func(ctx context.Context) (*rpc.Empty, error) {
			ev := rpc.NewEvent(m.config.ID, rpc.EventType_AGENT_UNREGISTERED, in.AgentId, map[string]string{"agent_id": in.AgentId})
			cmd := &rpc.UnregisterAgentCommand{AgentId: in.AgentId, Events: []*rpc.Event{ev}}
			if _, err := m.applyRecorded(ctx, "UnregisterAgent", fsm.UnregisterAgentEventsType, cmd, &rpc.Empty{}); err != nil {
				return nil, fmt.Errorf("unregister agent %q: %w", in.AgentId, err)
			}
			m.heartbeats.Remove(in.AgentId)
			m.logger.Info("agent unregistered", "agent_id", in.AgentId)
			return &rpc.Empty{}, nil
		})
	}, func(ctx context.Context, c rpc.GridMasterClient) (*rpc.Empty, error) {
		return c.UnregisterAgent(ctx, in)
	})
}

// ListAgents lists agents with their nodes; on the leader the last
// heartbeat times come from memory (they are not written to Raft).
func (s *gridService) ListAgents(ctx context.Context, _ *rpc.Empty) (*rpc.AgentList, error) {
	m := s.m
	return read(ctx, m, func(ctx context.Context) (*rpc.AgentList, error) {
		agents := m.fsm.Agents()
		if m.isLeader() {
			for _, a := range agents {
				if t, ok := m.heartbeats.LastHeartbeat(a.AgentId); ok {
					a.LastHeartbeat = uint64(t.Unix())
				}
			}
		}
		return &rpc.AgentList{Agents: agents}, nil
	}, func(ctx context.Context, c rpc.GridMasterClient) (*rpc.AgentList, error) {
		return c.ListAgents(ctx, &rpc.Empty{})
	})
}

// unspecifiedHost reports whether an agent_endpoint host names no address
// a master could dial ("", "0.0.0.0", "::").
func unspecifiedHost(host string) bool {
	if host == "" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsUnspecified()
}

// masterVersion is RegistrationResponse.master_version.
func (m *Master) masterVersion() string {
	if m.config.Version == "" {
		return "dev"
	}
	return m.config.Version
}

// staleNodes lists the nodes an agent reported at registration that the
// registry places on another agent or no longer knows: copies the agent
// must not restart (a reschedule or drain moved them while it was away).
func (m *Master) staleNodes(in *rpc.AgentInfo) []string {
	var out []string
	for _, n := range in.Nodes {
		if rec, ok := m.fsm.Node(n.GetNodeId()); !ok || rec.AgentId != in.AgentId {
			out = append(out, n.GetNodeId())
		}
	}
	return out
}
