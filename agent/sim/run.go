package sim

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/rpc/security"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
)

// simGCPercent is the garbage collector's target while Run runs, unless
// GOGC is set: the simulator's live heap is a few MB and its gRPC calls
// allocate fast, so at the default (100) it collected many times a second
// and GC was ~15 % of its CPU, taken from the cores the masters under test
// share. The load generator trades memory for it; the product does not.
const simGCPercent = 400

// Log messages at the heartbeat window's edges; test/bench measures the
// leader between them.
const (
	LogWindowStarted = "heartbeat window started"
	LogWindowEnded   = "heartbeat window ended"
)

// Run serves a stand-in GridAgent endpoint (the leader's reconciler lists
// every healthy agent's nodes), registers cfg.Agents agents with the
// leader, then heartbeats for cfg.Duration, and reports what it measured.
// LogWindowStarted and LogWindowEnded are logged at the window's edges.
func Run(ctx context.Context, cfg Config, logger hclog.Logger) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(simGCPercent))
	}
	endpoint, stopAgentServer, err := serveAgent(cfg.TLS)
	if err != nil {
		return nil, err
	}
	defer stopAgentServer()

	opts, err := dialOptions(cfg)
	if err != nil {
		return nil, err
	}
	target, err := findLeaderAddr(ctx, cfg, opts)
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
	sim := &simulator{cfg: cfg, clients: clients, endpoint: endpoint, given: make([]atomic.Uint32, cfg.Agents),
		ids: make([]string, cfg.Agents)}
	sim.lat.keepTimes = os.Getenv(envLatencyLog) != ""
	for i := range sim.ids {
		sim.ids[i] = agentID(cfg.Prefix, i)
	}
	rep := &Report{Mode: "paced", Transport: "stream", Agents: cfg.Agents, Target: target, Conns: cfg.Conns}
	if cfg.Unary {
		rep.Transport = "unary"
	} else {
		sim.streams = make([]beatStream, cfg.Agents)
		defer sim.closeStreams()
	}
	if cfg.Unpaced {
		rep.Mode = "unpaced"
	}

	logger.Info("registering", "agents", cfg.Agents, "target", target, "conns", cfg.Conns)
	t0 := time.Now()
	window := func() {
		rep.RegisterSeconds = time.Since(t0).Seconds()
		logger.Info(LogWindowStarted, "agents", cfg.Agents, "mode", rep.Mode)
		t0 = time.Now()
		sim.end.Store(t0.Add(cfg.Duration).UnixNano())
		sim.recording.Store(true)
		profileWindow(logger)
	}
	defer stopProfile()
	if cfg.Unpaced {
		if err := sim.registerAll(ctx); err != nil {
			return nil, err
		}
		window()
		sim.unpaced(ctx, t0.Add(cfg.Duration))
	} else {
		// Each agent heartbeats from its registration on, as real ones do;
		// the window opens once all are registered.
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var regErr error
		sim.paced(ctx, func(err error) {
			if regErr = err; err != nil {
				cancel()
				return
			}
			window()
		})
		if regErr != nil {
			return nil, regErr
		}
	}
	rep.WindowSeconds = time.Since(t0).Seconds()
	logger.Info(LogWindowEnded, "heartbeats", sim.lat.count(), "errors", sim.errs.Load())
	writeLatencyLog(&sim.lat, logger)
	sim.lat.fill(rep)
	rep.Errors = sim.errs.Load()
	rep.PerSecond = float64(rep.Heartbeats-rep.Errors) / rep.WindowSeconds
	if e, ok := sim.firstErr.Load().(string); ok {
		rep.FirstError = e
	}
	return rep, ctx.Err()
}

// dialOptions: mutual TLS when cfg.TLS is enabled (the server name is the
// dialed host), the API token on every call, and the static flow-control
// windows a real agent dials with (rpc.WindowDialOptions).
func dialOptions(cfg Config) ([]grpc.DialOption, error) {
	creds, err := security.DialCredentials(cfg.TLS, "")
	if err != nil {
		return nil, err
	}
	return append([]grpc.DialOption{grpc.WithTransportCredentials(creds),
		grpc.WithPerRPCCredentials(security.TokenCredentials(cfg.APIToken))}, rpc.WindowDialOptions()...), nil
}

// findLeaderAddr asks the masters in turn for the leader's gRPC address, as
// an agent follows a leader hint; without one it uses the first master
// that answered.
func findLeaderAddr(ctx context.Context, cfg Config, opts []grpc.DialOption) (string, error) {
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
