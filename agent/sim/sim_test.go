package sim

import (
	"context"
	"errors"
	"net"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// fakeMaster is a leader that accepts every registration and counts the
// heartbeats of registered agents; an unknown agent gets NOT_FOUND.
type fakeMaster struct {
	rpc.UnimplementedGridMasterServer
	mu         sync.Mutex
	registered map[string]string // agent id -> endpoint
	beats      map[string]int
}

func (m *fakeMaster) GetClusterStatus(context.Context, *rpc.Empty) (*rpc.ClusterStatus, error) {
	return &rpc.ClusterStatus{Status: "healthy"}, nil
}

func (m *fakeMaster) RegisterAgent(_ context.Context, in *rpc.AgentInfo) (*rpc.RegistrationResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.registered[in.AgentId] = in.AgentEndpoint
	return &rpc.RegistrationResponse{Success: true, HeartbeatIntervalMs: 20}, nil
}

func (m *fakeMaster) Heartbeat(_ context.Context, in *rpc.HeartbeatRequest) (*rpc.HeartbeatResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.registered[in.AgentId]; !ok {
		return nil, status.Errorf(codes.NotFound, "agent %q is not registered", in.AgentId)
	}
	m.beats[in.AgentId]++
	return &rpc.HeartbeatResponse{Acknowledged: true, NextIntervalMs: 20}, nil
}

// startFakeMaster serves a fakeMaster on loopback.
func startFakeMaster(t *testing.T) (*fakeMaster, string) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := &fakeMaster{registered: map[string]string{}, beats: map[string]int{}}
	srv := grpc.NewServer()
	rpc.RegisterGridMasterServer(srv, m)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return m, lis.Addr().String()
}

func testConfig(master string) Config {
	cfg := DefaultConfig()
	cfg.Masters = []string{master}
	cfg.Agents, cfg.Conns, cfg.RegisterWorkers, cfg.Workers = 20, 2, 4, 4
	cfg.Interval, cfg.Duration, cfg.Prefix = 20*time.Millisecond, time.Second, "t"
	return cfg
}

func TestRunRegistersAndHeartbeatsEveryAgent(t *testing.T) {
	for _, unpaced := range []bool{false, true} {
		m, addr := startFakeMaster(t)
		cfg := testConfig(addr)
		cfg.Unpaced = unpaced
		rep, err := Run(context.Background(), cfg, hclog.NewNullLogger())
		if err != nil {
			t.Fatalf("unpaced=%v: Run: %v", unpaced, err)
		}
		if rep.Errors != 0 || rep.FirstError != "" {
			t.Fatalf("unpaced=%v: %d errors, first %q", unpaced, rep.Errors, rep.FirstError)
		}
		if want := map[bool]string{false: "paced", true: "unpaced"}[unpaced]; rep.Mode != want || rep.Agents != 20 || rep.Target != addr {
			t.Fatalf("unpaced=%v: report %+v", unpaced, rep)
		}
		m.mu.Lock()
		var total int64
		for i := range cfg.Agents {
			id := (&simulator{cfg: cfg}).agentID(i)
			if m.registered[id] == "" {
				t.Errorf("unpaced=%v: %s not registered with an endpoint", unpaced, id)
			}
			if m.beats[id] == 0 {
				t.Errorf("unpaced=%v: %s never heartbeat", unpaced, id)
			}
			total += int64(m.beats[id])
		}
		m.mu.Unlock()
		// Paced agents beat from registration on; only the window's beats are measured.
		if rep.Heartbeats == 0 || rep.Heartbeats > total || (unpaced && rep.Heartbeats != total) {
			t.Errorf("unpaced=%v: report counts %d heartbeats, the master answered %d", unpaced, rep.Heartbeats, total)
		}
		if rep.P50Ms > rep.P99Ms || rep.P99Ms > rep.MaxMs {
			t.Errorf("unpaced=%v: percentiles out of order: %+v", unpaced, rep)
		}
	}
}

// TestStandInAgentEndpoint: the endpoint every simulated agent registers
// answers the leader's reconciler with no nodes and refuses spawns.
func TestStandInAgentEndpoint(t *testing.T) {
	addr, stop, err := serveAgent(DefaultConfig().TLS)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := rpc.NewGridAgentClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	list, err := c.ListNodes(ctx, &rpc.ListNodesRequest{})
	if err != nil || len(list.GetNodes()) != 0 {
		t.Fatalf("ListNodes = %v, %v; want no nodes", list, err)
	}
	if _, err := c.SpawnNode(ctx, &rpc.SpawnNodeRequest{NodeId: "n1"}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("SpawnNode: %v; want FAILED_PRECONDITION", err)
	}
}

func TestValidate(t *testing.T) {
	ok := testConfig("127.0.0.1:1")
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	for name, tc := range map[string]struct {
		edit func(*Config)
		flag string
	}{
		"no masters":    {func(c *Config) { c.Masters = nil }, "--masters"},
		"zero agents":   {func(c *Config) { c.Agents = 0 }, "--n"},
		"too many":      {func(c *Config) { c.Agents = MaxAgents + 1 }, "--n"},
		"fast interval": {func(c *Config) { c.Interval = time.Millisecond }, "--interval"},
		"no duration":   {func(c *Config) { c.Duration = 0 }, "--duration"},
		"no conns":      {func(c *Config) { c.Conns = 0 }, "--conns"},
		"empty prefix":  {func(c *Config) { c.Prefix = "" }, "--prefix"},
		"long prefix":   {func(c *Config) { c.Prefix = strings.Repeat("p", 65) }, "--prefix"},
	} {
		cfg := ok
		tc.edit(&cfg)
		err := cfg.Validate()
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.flag) {
			t.Errorf("%s: Validate = %v; want ErrConfig naming %s", name, err, tc.flag)
		}
		if _, err := Run(context.Background(), cfg, hclog.NewNullLogger()); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: Run = %v; want ErrConfig", name, err)
		}
	}
}

// fleetMaster gives a 200 ms interval at registration and 400 ms from the
// first heartbeat on, and remembers the gaps between each agent's beats.
type fleetMaster struct {
	fakeMaster
	gaps []time.Duration
	last map[string]time.Time
}

func (m *fleetMaster) RegisterAgent(ctx context.Context, in *rpc.AgentInfo) (*rpc.RegistrationResponse, error) {
	r, err := m.fakeMaster.RegisterAgent(ctx, in)
	if r != nil {
		r.HeartbeatIntervalMs = 200
	}
	return r, err
}

func (m *fleetMaster) Heartbeat(ctx context.Context, in *rpc.HeartbeatRequest) (*rpc.HeartbeatResponse, error) {
	r, err := m.fakeMaster.Heartbeat(ctx, in)
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	if prev, ok := m.last[in.AgentId]; ok {
		m.gaps = append(m.gaps, now.Sub(prev))
	}
	m.last[in.AgentId] = now
	if r != nil {
		r.NextIntervalMs = 400
	}
	return r, err
}

// TestPacedAgentsFollowTheLeadersInterval: simulated agents start beating
// at the interval the registration gave and then keep to the one each
// heartbeat answer gives (400 ms here, longer than --interval).
func TestPacedAgentsFollowTheLeadersInterval(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := &fleetMaster{fakeMaster: fakeMaster{registered: map[string]string{}, beats: map[string]int{}}, last: map[string]time.Time{}}
	srv := grpc.NewServer()
	rpc.RegisterGridMasterServer(srv, m)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	cfg := testConfig(lis.Addr().String())
	cfg.Interval = 20 * time.Millisecond
	cfg.Duration = 1500 * time.Millisecond
	if _, err := Run(context.Background(), cfg, hclog.NewNullLogger()); err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.gaps) == 0 {
		t.Fatal("no agent beat twice")
	}
	// Within about 1.5 s plus registration, 400 ms apart: a handful of
	// beats each (at --interval's 20 ms it would be about 75).
	for id, n := range m.beats {
		if n > 10 {
			t.Fatalf("%s beat %d times; the leader asked for one per 400 ms", id, n)
		}
	}
}

// TestRunRestoresTheGCTarget: Run raises the GC target for itself only.
func TestRunRestoresTheGCTarget(t *testing.T) {
	if os.Getenv("GOGC") != "" {
		t.Skip("GOGC is set: Run leaves the GC target alone")
	}
	before := debug.SetGCPercent(77)
	defer debug.SetGCPercent(before)
	_, addr := startFakeMaster(t)
	cfg := testConfig(addr)
	cfg.Duration = 100 * time.Millisecond
	if _, err := Run(context.Background(), cfg, hclog.NewNullLogger()); err != nil {
		t.Fatal(err)
	}
	if got := debug.SetGCPercent(before); got != 77 {
		t.Fatalf("GC target after Run = %d; want the caller's 77 back", got)
	}
}

// streamMaster is a fakeMaster that also serves HeartbeatStream, counting
// the beats that came on streams.
type streamMaster struct {
	fakeMaster
	streamed int
}

func (m *streamMaster) HeartbeatStream(s rpc.GridMaster_HeartbeatStreamServer) error {
	for {
		in, err := s.Recv()
		if err != nil {
			return nil
		}
		r, err := m.Heartbeat(s.Context(), in)
		if err != nil {
			return err
		}
		m.mu.Lock()
		m.streamed++
		m.mu.Unlock()
		if err := s.Send(r); err != nil {
			return err
		}
	}
}

// TestAgentsBeatOnStreams: by default each simulated agent beats on its
// HeartbeatStream; with Unary on every beat is a unary call; against a
// master without the RPC (fakeMaster) the simulator falls back to unary
// (TestRunRegistersAndHeartbeatsEveryAgent).
func TestAgentsBeatOnStreams(t *testing.T) {
	for _, unary := range []bool{false, true} {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		m := &streamMaster{fakeMaster: fakeMaster{registered: map[string]string{}, beats: map[string]int{}}}
		srv := grpc.NewServer()
		rpc.RegisterGridMasterServer(srv, m)
		go func() { _ = srv.Serve(lis) }()
		t.Cleanup(srv.Stop)
		cfg := testConfig(lis.Addr().String())
		cfg.Unary = unary
		rep, err := Run(context.Background(), cfg, hclog.NewNullLogger())
		if err != nil {
			t.Fatal(err)
		}
		if rep.Errors != 0 || rep.Heartbeats == 0 {
			t.Fatalf("unary=%v: %d beats, %d errors (%s)", unary, rep.Heartbeats, rep.Errors, rep.FirstError)
		}
		m.mu.Lock()
		total := 0
		for _, n := range m.beats {
			total += n
		}
		streamed := m.streamed
		m.mu.Unlock()
		if want := map[bool]string{false: "stream", true: "unary"}[unary]; rep.Transport != want {
			t.Errorf("unary=%v: transport %q, want %q", unary, rep.Transport, want)
		}
		if unary && streamed != 0 {
			t.Errorf("--unary: %d beats came on streams", streamed)
		}
		if !unary && streamed != total {
			t.Errorf("stream: %d of %d beats came on streams", streamed, total)
		}
	}
}
