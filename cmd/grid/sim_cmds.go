package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/hashicorp/go-hclog"
	"github.com/urfave/cli/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// errSimConfig marks an invalid sim-agents flag.
var errSimConfig = errors.New("invalid sim-agents option")

// maxSimAgents bounds --n: one process drives at most this many agents.
const maxSimAgents = 100_000

// SimConfig shapes one `grid sim-agents` run.
type SimConfig struct {
	// Masters are gRPC addresses of the cluster's masters; the leader is
	// found through the first that answers.
	Masters []string
	// Agents is how many agents to simulate (1..maxSimAgents).
	Agents int
	// Interval is the heartbeat interval until the leader answers one.
	Interval time.Duration
	// Duration is the length of the heartbeat window, after registration.
	Duration time.Duration
	// Conns is how many gRPC connections the agents share.
	Conns int
	// RegisterWorkers is how many registrations run at once.
	RegisterWorkers int
	// Unpaced sends heartbeats back to back from Workers callers instead of
	// one per agent per interval (the maximum heartbeat rate).
	Unpaced bool
	// Workers is the number of concurrent callers in unpaced mode.
	Workers int
	// Prefix starts every simulated agent id.
	Prefix string
	// CallTimeout bounds each RPC.
	CallTimeout time.Duration
	// TLS is the client's TLS material (--tls-*); it also guards the
	// stand-in agent endpoint the leader dials.
	TLS rpc.TLSFiles
	// APIToken is sent on every call (--api-token).
	APIToken string
}

// DefaultSimConfig: 1,000 agents at 5 s for 30 s over 64 connections.
func DefaultSimConfig() SimConfig {
	return SimConfig{
		Agents: 1000, Interval: 5 * time.Second, Duration: 30 * time.Second, Conns: 64,
		RegisterWorkers: 64, Workers: 64, Prefix: "sim-agent", CallTimeout: 5 * time.Second,
	}
}

func (c SimConfig) validate() error {
	switch {
	case len(c.Masters) == 0:
		return fmt.Errorf("%w: --masters is empty", errSimConfig)
	case c.Agents < 1 || c.Agents > maxSimAgents:
		return fmt.Errorf("%w: --n %d: want 1..%d", errSimConfig, c.Agents, maxSimAgents)
	case c.Interval < 10*time.Millisecond:
		return fmt.Errorf("%w: --interval %s: want at least 10ms", errSimConfig, c.Interval)
	case c.Duration <= 0:
		return fmt.Errorf("%w: --duration %s: want > 0", errSimConfig, c.Duration)
	case c.Conns < 1 || c.RegisterWorkers < 1 || c.Workers < 1:
		return fmt.Errorf("%w: --conns, --register-workers and --workers must be >= 1", errSimConfig)
	case c.Prefix == "" || len(c.Prefix) > 64:
		return fmt.Errorf("%w: --prefix %q: want 1-64 characters", errSimConfig, c.Prefix)
	}
	return nil
}

// SimReport is what a run measured; --json prints it.
type SimReport struct {
	Mode            string  `json:"mode"` // paced|unpaced
	Agents          int     `json:"agents"`
	Target          string  `json:"target"` // the master heartbeats went to
	Conns           int     `json:"conns"`
	RegisterSeconds float64 `json:"register_seconds"`
	WindowSeconds   float64 `json:"window_seconds"`
	Heartbeats      int64   `json:"heartbeats"` // calls made in the window, failed ones included
	Errors          int64   `json:"errors"`
	PerSecond       float64 `json:"heartbeats_per_s"` // answered (successful) heartbeats per second
	P50Ms           float64 `json:"p50_ms"`
	P90Ms           float64 `json:"p90_ms"`
	P99Ms           float64 `json:"p99_ms"`
	MaxMs           float64 `json:"max_ms"`
	FirstError      string  `json:"first_error,omitempty"`
}

func simAgentsCommand() *cli.Command {
	def := DefaultSimConfig()
	return &cli.Command{
		Name:   "sim-agents",
		Usage:  "simulate many agents registering and heartbeating over gRPC (benchmarks)",
		Hidden: true,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "masters", Required: true, Usage: "masters' gRPC addresses, comma-separated"},
			&cli.IntFlag{Name: "n", Value: def.Agents, Usage: "agents to simulate"},
			&cli.DurationFlag{Name: "interval", Value: def.Interval, Usage: "heartbeat interval until the leader answers one"},
			&cli.DurationFlag{Name: "duration", Value: def.Duration, Usage: "heartbeat window after registration"},
			&cli.IntFlag{Name: "conns", Value: def.Conns, Usage: "gRPC connections shared by the agents"},
			&cli.IntFlag{Name: "register-workers", Value: def.RegisterWorkers, Usage: "concurrent registrations"},
			&cli.BoolFlag{Name: "unpaced", Usage: "heartbeat back to back from --workers callers (maximum rate)"},
			&cli.IntFlag{Name: "workers", Value: def.Workers, Usage: "concurrent callers with --unpaced"},
			&cli.StringFlag{Name: "prefix", Value: def.Prefix, Usage: "agent id prefix"},
			&cli.BoolFlag{Name: "json", Usage: "print the report as JSON"},
			&cli.StringFlag{Name: "log-level", Value: "info", Usage: "trace|debug|info|warn|error"},
			&cli.StringFlag{Name: "api-token", EnvVars: []string{"GRID_API_TOKEN"}, Usage: "bearer token sent on every call"},
			tlsFlags()[0], tlsFlags()[1], tlsFlags()[2],
		},
		Action: func(c *cli.Context) error {
			cfg := def
			var err error
			if cfg.TLS, cfg.APIToken, err = securityFromFlags(c); err != nil {
				return err
			}
			for _, a := range strings.Split(c.String("masters"), ",") {
				if a = strings.TrimSpace(a); a != "" {
					cfg.Masters = append(cfg.Masters, a)
				}
			}
			cfg.Agents, cfg.Interval, cfg.Duration = c.Int("n"), c.Duration("interval"), c.Duration("duration")
			cfg.Conns, cfg.RegisterWorkers, cfg.Workers = c.Int("conns"), c.Int("register-workers"), c.Int("workers")
			cfg.Unpaced, cfg.Prefix = c.Bool("unpaced"), c.String("prefix")
			if err := cfg.validate(); err != nil {
				return cli.Exit("Error: "+err.Error(), 2)
			}
			logger := hclog.New(&hclog.LoggerOptions{Name: "sim-agents", Level: hclog.LevelFromString(c.String("log-level")), Output: os.Stderr})
			rep, err := runSimAgents(c.Context, cfg, logger)
			if err != nil {
				return cli.Exit("Error: "+err.Error(), 1)
			}
			if c.Bool("json") {
				return printJSON(rep)
			}
			fmt.Printf("%s: %d agents via %s, registered in %.2fs\n", rep.Mode, rep.Agents, rep.Target, rep.RegisterSeconds)
			fmt.Printf("heartbeats: %d in %.1fs (%.0f/s), errors %d\n", rep.Heartbeats, rep.WindowSeconds, rep.PerSecond, rep.Errors)
			fmt.Printf("latency ms: p50 %.3f  p90 %.3f  p99 %.3f  max %.3f\n", rep.P50Ms, rep.P90Ms, rep.P99Ms, rep.MaxMs)
			return nil
		},
	}
}

// runSimAgents serves a stand-in GridAgent endpoint (the leader's reconciler
// lists every healthy agent's nodes), registers the agents with the leader,
// then heartbeats for cfg.Duration. "heartbeat window started" and
// "heartbeat window ended" are logged at the window's edges.
func runSimAgents(ctx context.Context, cfg SimConfig, logger hclog.Logger) (*SimReport, error) {
	endpoint, stopAgentServer, err := serveSimAgent(cfg.TLS)
	if err != nil {
		return nil, err
	}
	defer stopAgentServer()

	target, err := findLeaderAddr(ctx, cfg)
	if err != nil {
		return nil, err
	}
	opts, err := securityDialOptions(cfg.TLS, cfg.APIToken)
	if err != nil {
		return nil, err
	}
	cfg.Conns = min(cfg.Conns, cfg.Agents)
	clients := make([]rpc.GridMasterClient, cfg.Conns)
	for i := range clients {
		conn, err := grpc.NewClient(target, opts...)
		if err != nil {
			return nil, fmt.Errorf("dial %s: %w", target, err)
		}
		defer conn.Close()
		clients[i] = rpc.NewGridMasterClient(conn)
	}
	sim := &simulator{cfg: cfg, clients: clients, endpoint: endpoint}
	rep := &SimReport{Mode: "paced", Agents: cfg.Agents, Target: target, Conns: cfg.Conns}
	if cfg.Unpaced {
		rep.Mode = "unpaced"
	}

	logger.Info("registering", "agents", cfg.Agents, "target", target, "conns", cfg.Conns)
	t0 := time.Now()
	if err := sim.registerAll(ctx); err != nil {
		return nil, err
	}
	rep.RegisterSeconds = time.Since(t0).Seconds()

	logger.Info("heartbeat window started", "agents", cfg.Agents, "mode", rep.Mode)
	t0 = time.Now()
	if cfg.Unpaced {
		sim.unpaced(ctx, t0.Add(cfg.Duration))
	} else {
		sim.paced(ctx, t0.Add(cfg.Duration))
	}
	rep.WindowSeconds = time.Since(t0).Seconds()
	logger.Info("heartbeat window ended", "heartbeats", sim.lat.count(), "errors", sim.errs.Load())
	sim.lat.fill(rep)
	rep.Errors = sim.errs.Load()
	rep.PerSecond = float64(rep.Heartbeats-rep.Errors) / rep.WindowSeconds
	if e, ok := sim.firstErr.Load().(string); ok {
		rep.FirstError = e
	}
	return rep, ctx.Err()
}

// findLeaderAddr asks the masters in turn for the leader's gRPC address, as
// an agent follows a leader hint; without one it uses the first master.
func findLeaderAddr(ctx context.Context, cfg SimConfig) (string, error) {
	opts, err := securityDialOptions(cfg.TLS, cfg.APIToken)
	if err != nil {
		return "", err
	}
	var last error
	for _, addr := range cfg.Masters {
		conn, err := grpc.NewClient(addr, opts...)
		if err != nil {
			last = err
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, cfg.CallTimeout)
		st, err := rpc.NewGridMasterClient(conn).GetClusterStatus(cctx, &rpc.Empty{})
		cancel()
		conn.Close()
		if err != nil {
			last = fmt.Errorf("master %s: %w", addr, err)
			continue
		}
		if a := st.GetLeader().GetGrpcAddr(); a != "" {
			return a, nil
		}
		return addr, nil
	}
	return "", fmt.Errorf("no master answered: %w", last)
}

// simulator drives the agents.
type simulator struct {
	cfg      SimConfig
	clients  []rpc.GridMasterClient
	endpoint string
	lat      latencyLog
	errs     atomic.Int64
	firstErr atomic.Value
}

func (s *simulator) agentID(i int) string { return fmt.Sprintf("%s-%05d", s.cfg.Prefix, i) }

func (s *simulator) client(i int) rpc.GridMasterClient { return s.clients[i%len(s.clients)] }

func (s *simulator) failed(err error) {
	s.errs.Add(1)
	s.firstErr.CompareAndSwap(nil, err.Error())
}

// register registers agent i, retrying while the leader is unavailable.
func (s *simulator) register(ctx context.Context, i int) error {
	info := &rpc.AgentInfo{AgentId: s.agentID(i), Hostname: "sim", Platform: runtime.GOOS + "/" + runtime.GOARCH,
		Version: "sim", AgentEndpoint: s.endpoint}
	var err error
	for try := range 5 {
		cctx, cancel := context.WithTimeout(ctx, s.cfg.CallTimeout)
		_, err = s.client(i).RegisterAgent(cctx, info)
		cancel()
		if err == nil || ctx.Err() != nil || status.Code(err) == codes.InvalidArgument {
			break
		}
		select { // back-off between retries
		case <-ctx.Done():
		case <-time.After(time.Duration(try+1) * 100 * time.Millisecond):
		}
	}
	if err != nil {
		return fmt.Errorf("register %s: %w", info.AgentId, err)
	}
	return nil
}

// registerAll registers every agent with RegisterWorkers callers.
func (s *simulator) registerAll(ctx context.Context) error {
	ids := make(chan int)
	var wg sync.WaitGroup
	var first atomic.Value
	for range s.cfg.RegisterWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ids {
				if err := s.register(ctx, i); err != nil {
					first.CompareAndSwap(nil, err)
				}
			}
		}()
	}
	for i := range s.cfg.Agents {
		ids <- i
	}
	close(ids)
	wg.Wait()
	if err, ok := first.Load().(error); ok {
		return err
	}
	return ctx.Err()
}

// heartbeat sends one heartbeat for agent i and returns the next interval
// the leader asked for (0: keep the current one). An unknown agent
// registers again, as a real agent does.
func (s *simulator) heartbeat(ctx context.Context, i int) time.Duration {
	cctx, cancel := context.WithTimeout(ctx, s.cfg.CallTimeout)
	t0 := time.Now()
	r, err := s.client(i).Heartbeat(cctx, &rpc.HeartbeatRequest{AgentId: s.agentID(i), Timestamp: uint64(t0.Unix())})
	took := time.Since(t0)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			s.lat.add(took) // a failed heartbeat counts in the percentiles with the time it took to fail
			s.failed(err)
			if status.Code(err) == codes.NotFound {
				_ = s.register(ctx, i)
			}
		}
		return 0
	}
	s.lat.add(took)
	return time.Duration(r.NextIntervalMs) * time.Millisecond
}

// paced runs one goroutine per agent: the first heartbeat at a random
// offset within the interval, then one per interval the leader returns.
func (s *simulator) paced(ctx context.Context, end time.Time) {
	var wg sync.WaitGroup
	for i := range s.cfg.Agents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			interval := s.cfg.Interval
			next := time.Now().Add(rand.N(interval))
			timer := time.NewTimer(time.Until(next))
			defer timer.Stop()
			for next.Before(end) {
				select {
				case <-ctx.Done():
					return
				case <-timer.C:
				}
				if d := s.heartbeat(ctx, i); d > 0 {
					interval = d
				}
				next = next.Add(interval)
				timer.Reset(time.Until(next))
			}
		}()
	}
	wg.Wait()
}

// unpaced runs Workers callers heartbeating round robin over the agents,
// back to back, until end.
func (s *simulator) unpaced(ctx context.Context, end time.Time) {
	var wg sync.WaitGroup
	for w := range s.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; time.Now().Before(end) && ctx.Err() == nil; i += s.cfg.Workers {
				s.heartbeat(ctx, i%s.cfg.Agents)
			}
		}()
	}
	wg.Wait()
}

// latencyLog collects heartbeat round-trip times, failed calls included.
type latencyLog struct {
	mu sync.Mutex
	ds []time.Duration
}

func (l *latencyLog) add(d time.Duration) {
	l.mu.Lock()
	l.ds = append(l.ds, d)
	l.mu.Unlock()
}

func (l *latencyLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.ds)
}

// fill sets the report's count and percentiles.
func (l *latencyLog) fill(r *SimReport) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r.Heartbeats = int64(len(l.ds))
	if len(l.ds) == 0 {
		return
	}
	slices.Sort(l.ds)
	at := func(p float64) float64 {
		return float64(l.ds[int(float64(len(l.ds)-1)*p)].Microseconds()) / 1000
	}
	r.P50Ms, r.P90Ms, r.P99Ms, r.MaxMs = at(0.5), at(0.9), at(0.99), at(1)
}

// simAgentServer answers the leader's calls to simulated agents: they run
// no storage nodes and refuse to start any.
type simAgentServer struct {
	rpc.UnimplementedGridAgentServer
}

func (simAgentServer) ListNodes(context.Context, *rpc.ListNodesRequest) (*rpc.ListNodesResponse, error) {
	return &rpc.ListNodesResponse{}, nil
}

func (simAgentServer) SpawnNode(_ context.Context, in *rpc.SpawnNodeRequest) (*rpc.SpawnNodeResponse, error) {
	return nil, status.Errorf(codes.FailedPrecondition, "node_id %q: a simulated agent runs no storage nodes", in.NodeId)
}

func (simAgentServer) GetNodeStatus(_ context.Context, in *rpc.NodeStatusRequest) (*rpc.NodeStatusResponse, error) {
	return nil, status.Errorf(codes.NotFound, "node_id %q: a simulated agent runs no storage nodes", in.NodeId)
}

func (simAgentServer) StopNode(_ context.Context, in *rpc.StopNodeRequest) (*rpc.StopNodeResponse, error) {
	return nil, status.Errorf(codes.NotFound, "node_id %q: a simulated agent runs no storage nodes", in.NodeId)
}

// serveSimAgent serves simAgentServer on a loopback port and returns its
// address (every simulated agent's endpoint) and a stop func.
func serveSimAgent(files rpc.TLSFiles) (string, func(), error) {
	creds, err := rpc.ServerCredentials(files)
	if err != nil {
		return "", nil, err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("listen for the simulated agents' endpoint: %w", err)
	}
	srv := grpc.NewServer(grpc.Creds(creds))
	rpc.RegisterGridAgentServer(srv, simAgentServer{})
	go func() { _ = srv.Serve(lis) }()
	return lis.Addr().String(), srv.Stop, nil
}
