package agent

import (
	"context"
	"net"
	"sync"
	"testing"

	"github.com/gridctl/grid/rpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// stubMaster is a GridMaster test server standing in for the masters (which
// another package builds): it records registrations, heartbeats, events
// (deduplicated by id, as masters do) and node states, and can be told to
// fail or to forget agents.
type stubMaster struct {
	rpc.UnimplementedGridMasterServer
	addr string
	srv  *grpc.Server

	mu            sync.Mutex
	unavailable   bool
	ackLost       bool // store events but answer with an error
	known         map[string]bool
	registrations []*rpc.AgentInfo
	heartbeats    int
	events        map[string]*rpc.Event
	deliveries    int
	states        []*rpc.NodeStatus
	// nextMs, when set, is the interval (ms) heartbeat answers ask for (else 50).
	nextMs uint32
}

func startStubMaster(t *testing.T) *stubMaster {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := &stubMaster{addr: l.Addr().String(), srv: grpc.NewServer(), known: map[string]bool{}, events: map[string]*rpc.Event{}}
	rpc.RegisterGridMasterServer(m.srv, m)
	go func() { _ = m.srv.Serve(l) }()
	t.Cleanup(m.srv.Stop)
	return m
}

func (m *stubMaster) set(f func(m *stubMaster)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f(m)
}

func (m *stubMaster) get(f func(m *stubMaster) bool) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return f(m)
}

func (m *stubMaster) RegisterAgent(_ context.Context, in *rpc.AgentInfo) (*rpc.RegistrationResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.unavailable {
		return nil, status.Error(codes.Unavailable, "stub down")
	}
	m.known[in.AgentId] = true
	m.registrations = append(m.registrations, in)
	return &rpc.RegistrationResponse{Success: true, HeartbeatIntervalMs: 50, LeaderId: "stub"}, nil
}

func (m *stubMaster) Heartbeat(_ context.Context, in *rpc.HeartbeatRequest) (*rpc.HeartbeatResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.unavailable {
		return nil, status.Error(codes.Unavailable, "stub down")
	}
	if !m.known[in.AgentId] {
		return nil, status.Errorf(codes.NotFound, "agent %q not registered", in.AgentId)
	}
	m.heartbeats++
	next := m.nextMs
	if next == 0 {
		next = 50
	}
	return &rpc.HeartbeatResponse{Acknowledged: true, NextIntervalMs: next}, nil
}

func (m *stubMaster) EmitEvents(_ context.Context, in *rpc.EmitEventsRequest) (*rpc.EmitEventsResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.unavailable {
		return nil, status.Error(codes.Unavailable, "stub down")
	}
	m.deliveries += len(in.Events)
	accepted := 0
	for _, e := range in.Events {
		if _, dup := m.events[e.Id]; !dup {
			m.events[e.Id] = e
			accepted++
		}
	}
	if m.ackLost {
		return nil, status.Error(codes.Unavailable, "stub lost the ack")
	}
	return &rpc.EmitEventsResponse{Accepted: uint32(accepted)}, nil
}

func (m *stubMaster) ReportNodeStatus(_ context.Context, in *rpc.NodeStatus) (*rpc.Empty, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.unavailable {
		return nil, status.Error(codes.Unavailable, "stub down")
	}
	m.states = append(m.states, in)
	return &rpc.Empty{}, nil
}

func (m *stubMaster) countEvents(typ rpc.EventType, entity string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := 0
	for _, e := range m.events {
		if e.Type == typ && e.EntityId == entity {
			c++
		}
	}
	return c
}

// deadAddr is an address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}
