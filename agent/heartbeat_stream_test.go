package agent

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/waitfor"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
)

// streamingStub is a stubMaster that also serves HeartbeatStream (answering
// each beat as its unary Heartbeat would), and can stall answers.
type streamingStub struct {
	*stubMaster
	mu       sync.Mutex
	streamed int
	opened   int
	stall    bool
}

func (s *streamingStub) HeartbeatStream(st rpc.GridMaster_HeartbeatStreamServer) error {
	s.mu.Lock()
	s.opened++
	s.mu.Unlock()
	for {
		in, err := st.Recv()
		if err != nil {
			return nil
		}
		s.mu.Lock()
		stall := s.stall
		s.mu.Unlock()
		if stall { // never answer: the agent's beat deadline must end it
			<-st.Context().Done()
			return st.Context().Err()
		}
		resp, err := s.stubMaster.Heartbeat(st.Context(), in)
		if err != nil {
			return err
		}
		s.mu.Lock()
		s.streamed++
		s.mu.Unlock()
		if err := st.Send(resp); err != nil {
			return err
		}
	}
}

func (s *streamingStub) counts() (opened, streamed, unary int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stubMaster.mu.Lock()
	defer s.stubMaster.mu.Unlock()
	return s.opened, s.streamed, s.stubMaster.heartbeats - s.streamed
}

func startStreamingStub(t *testing.T) *streamingStub {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := &stubMaster{addr: l.Addr().String(), srv: grpc.NewServer(), known: map[string]bool{}, events: map[string]*rpc.Event{}}
	s := &streamingStub{stubMaster: m}
	rpc.RegisterGridMasterServer(m.srv, s)
	go func() { _ = m.srv.Serve(l) }()
	t.Cleanup(m.srv.Stop)
	return s
}

func runHeartbeater(t *testing.T, addr string) *Heartbeater {
	t.Helper()
	cfg := testConfig(t)
	cfg.Masters = []string{addr}
	cfg.HeartbeatInterval = 20 * time.Millisecond
	hb := NewHeartbeater(cfg, NewMasterPool(cfg.Masters), noNodes{}, hclog.NewNullLogger())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); hb.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return hb
}

// TestHeartbeatsGoOnOneStream: against a master with HeartbeatStream every
// beat goes on one stream (no unary call); a stream whose answer does not
// come fails that beat at its deadline and the next beat opens a new one.
func TestHeartbeatsGoOnOneStream(t *testing.T) {
	s := startStreamingStub(t)
	hb := runHeartbeater(t, s.addr)
	waitfor.True(t, 10*time.Second, "five beats", func() bool { return hb.Heartbeats() >= 5 })
	opened, streamed, unary := s.counts()
	if opened != 1 || streamed < 5 || unary != 0 {
		t.Fatalf("%d streams opened, %d beats streamed, %d unary; want one stream carrying every beat", opened, streamed, unary)
	}
	s.mu.Lock()
	s.stall = true
	s.mu.Unlock()
	waitfor.True(t, 15*time.Second, "the stalled beat timed out", func() bool { return !hb.Registered() })
	s.mu.Lock()
	s.stall = false
	s.mu.Unlock()
	before := hb.Heartbeats()
	waitfor.True(t, 15*time.Second, "beats on a new stream", func() bool { return hb.Heartbeats() > before+2 })
	if opened, _, unary := s.counts(); opened < 2 || unary != 0 {
		t.Fatalf("after a stalled stream: %d streams opened, %d unary beats; want a new stream", opened, unary)
	}
}

// TestHeartbeatFallsBackToUnary: a master serving only the seeds' service
// (no HeartbeatStream: an older master) gets unary heartbeats.
func TestHeartbeatFallsBackToUnary(t *testing.T) {
	m := startStubMaster(t) // UNIMPLEMENTED for HeartbeatStream
	hb := runHeartbeater(t, m.addr)
	waitfor.True(t, 10*time.Second, "five unary beats", func() bool {
		return m.get(func(m *stubMaster) bool { return m.heartbeats >= 5 }) && hb.Heartbeats() >= 5
	})
}
