package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gridctl/grid/agent"
	"github.com/gridctl/grid/cmd/grid/config"
	"github.com/gridctl/grid/eventstore"
	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/rpc/security"
	"github.com/hashicorp/go-hclog"
	"github.com/urfave/cli/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
)

// agentFlags are `grid agent`'s flags; each is also GRID_AGENT_<NAME> and
// a config-file key (<name> with _ for -).
func agentFlags() []cli.Flag {
	flags := []cli.Flag{
		&cli.StringSliceFlag{Name: "config", Usage: "HCL or JSON config file, or a directory of them (merged in lexical order), or the seed's agent TOML ([agent], [storage]); repeatable; flags win"},
		&cli.StringFlag{Name: "id", Usage: "agent id (default: the host name)"},
		&cli.StringFlag{Name: "data-dir", Usage: "node table, logs and node storage (default ./data/agent)"},
		&cli.StringFlag{Name: "grpc-addr", Usage: "GridAgent gRPC listen address (default :8001); go-sockaddr templates allowed"},
		&cli.StringFlag{Name: "advertise-addr", Usage: "address masters dial, also the host of storage-node endpoints (default: --grpc-addr, an unspecified host becomes the private IP)"},
		&cli.StringFlag{Name: "gossip-addr", Usage: "gossip bind address (default :7947); go-sockaddr templates allowed"},
		&cli.StringSliceFlag{Name: "join", Usage: "masters' gossip addresses (repeatable or comma-separated)"},
		&cli.StringSliceFlag{Name: "masters", Usage: "masters' gRPC addresses (repeatable or comma-separated)"},
		&cli.IntFlag{Name: "max-nodes", Usage: "most storage nodes this agent runs (default 5)"},
		&cli.StringFlag{Name: "port-range", Usage: "storage node ports, START-END (default 50051-50150)"},
		&cli.StringFlag{Name: "binary", Usage: "storage-node executable, run as BINARY storage-node ... (default: this executable)"},
		&cli.DurationFlag{Name: "heartbeat-interval", Usage: "heartbeat interval until a master sets one (default 5s)"},
		&cli.DurationFlag{Name: "health-check-interval", Usage: "how often each running node's HealthCheck is called (default 10s; [monitoring] health_check_interval_secs)"},
		&cli.IntFlag{Name: "health-check-failures", Usage: "failed health checks in a row that make a node unhealthy and restarted; 0 = never (default 3)"},
		&cli.Uint64Flag{Name: "default-memory", Usage: "memory limit in MiB for nodes spawned without one (default 512)"},
		&cli.BoolFlag{Name: "stop-nodes-on-exit", Usage: "stop every node on shutdown instead of leaving them for the next agent to adopt"},
		&cli.StringFlag{Name: "log-level", Value: "info", Usage: "trace|debug|info|warn|error; reloaded from the config files on SIGHUP"},
		logJSONFlag("GRID_LOG_JSON"),
		&cli.StringFlag{Name: "http-addr", Value: ":8002", Usage: "serves /healthz, /readyz, /metrics (and /debug/pprof/ with --enable-debug); empty: no HTTP"},
		&cli.BoolFlag{Name: "enable-debug", Usage: "serve pprof under /debug/pprof/ on --http-addr (full token required when set)"},
	}
	flags = append(flags, secretFlags("api-token", "the masters' --api-token or this agent's ACL token: sent on every call to them (and required on SpawnNode/StopNode/FetchNodeData unless --master-token is set); re-read on SIGHUP")...)
	flags = append(flags, secretFlags("master-token", "the token masters present on SpawnNode/StopNode/Keyring (their --agent-token; other agents forward it on FetchNodeData); default --api-token; re-read on SIGHUP")...)
	flags = append(flags, secretFlags("encrypt", "gossip encryption key (base64, from grid keygen); the masters' --encrypt")...)
	flags = append(flags, tlsFlags()...)
	return withRoleEnv("agent", flags)
}

// agentCommand is `grid agent`: flags -> agent.Config -> agent.New/Run.
func agentCommand() *cli.Command {
	flags := agentFlags()
	return &cli.Command{
		Name:  "agent",
		Usage: "run an agent: register with the masters and supervise storage nodes",
		Description: "SIGINT/SIGTERM stop the agent and leave its storage nodes running for the next agent to adopt\n" +
			"(unless --stop-nodes-on-exit). SIGHUP reloads the log level, the TLS certificate and the tokens.\n" +
			"Every flag is also GRID_AGENT_<FLAG>.",
		Flags:  flags,
		Before: applyConfig(flags, false),
		Action: runAgent,
	}
}

func runAgent(c *cli.Context) error {
	cfg := agent.DefaultConfig()
	_, tomls, err := configFiles(c)
	if err != nil {
		return cli.Exit("Error: config: "+err.Error(), 2)
	}
	if len(tomls) > 1 {
		return cli.Exit("Error: config: at most one seed TOML file (got "+strings.Join(tomls, ", ")+")", 2)
	}
	if len(tomls) == 1 {
		if cfg, err = agent.LoadConfig(tomls[0]); err != nil {
			return cli.Exit("Error: "+err.Error(), 2)
		}
	}
	if err := agentFlagsOver(c, &cfg); err != nil {
		return cli.Exit("Error: "+err.Error(), 2)
	}
	cfg.Version = version
	broker, err := newLogBroker(c, "grid")
	if err != nil {
		return cli.Exit("Error: "+err.Error(), 2)
	}
	logger := broker.Logger()
	cfg.LogBroker = broker
	cfg.HTTPAddr = c.String("http-addr")
	cfg.EnableDebug = c.Bool("enable-debug")
	cfg.Metrics = newMetricsRegistry(logger)
	cfg.Metrics.MustRegister(newDataDirCollector(cfg.DataDir))
	cfg.DebugConfig = debugConfig(c, "agent")
	a, err := agent.New(cfg, logger)
	if err != nil {
		if errors.Is(err, agent.ErrInvalidConfig) {
			return cli.Exit("Error: "+err.Error(), 2)
		}
		return cli.Exit("Error: "+err.Error(), 1)
	}
	ctx, stop := signal.NotifyContext(c.Context, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	reload := newReloader(logger)
	reload.Add("log_level", reloadLogLevel(c, agentFlags(), logger))
	// One function: the agent reloads its TLS certificate and both tokens
	// together, and nothing changes when one of them is bad.
	reload.Add("tls_and_tokens", func() error {
		api, master, err := reloadedTokens(c, agentFlags(), false, "api-token", "master-token")
		if err != nil {
			return err
		}
		return a.Reload(api, master)
	})
	reload.Watch(ctx)
	if err := a.Run(ctx); err != nil {
		return cli.Exit("Error: "+err.Error(), 1)
	}
	return nil
}

// agentFlagsOver lays the flags that are set over cfg.
func agentFlagsOver(c *cli.Context, cfg *agent.Config) error {
	if err := resolveAddrFlags(c, "grpc-addr", "advertise-addr", "gossip-addr"); err != nil {
		return err
	}
	set := func(name string, apply func()) {
		if c.IsSet(name) {
			apply()
		}
	}
	set("id", func() { cfg.AgentID = c.String("id") })
	set("data-dir", func() { cfg.DataDir = c.String("data-dir") })
	set("grpc-addr", func() { cfg.GRPCAddr = c.String("grpc-addr") })
	set("advertise-addr", func() { cfg.AdvertiseAddr = c.String("advertise-addr") })
	set("gossip-addr", func() { cfg.GossipAddr = c.String("gossip-addr") })
	set("join", func() { cfg.Join = listFlag(c, "join") })
	set("masters", func() { cfg.Masters = listFlag(c, "masters") })
	set("max-nodes", func() { cfg.MaxNodes = c.Int("max-nodes") })
	set("binary", func() { cfg.BinaryPath = c.String("binary") })
	set("heartbeat-interval", func() { cfg.HeartbeatInterval = c.Duration("heartbeat-interval") })
	set("health-check-interval", func() { cfg.HealthCheckInterval = c.Duration("health-check-interval") })
	set("health-check-failures", func() { cfg.HealthCheckFailures = c.Int("health-check-failures") })
	set("default-memory", func() { cfg.DefaultMemoryMB = c.Uint64("default-memory") })
	set("stop-nodes-on-exit", func() { cfg.StopNodesOnShutdown = c.Bool("stop-nodes-on-exit") })
	if err := agentAdvertise(cfg); err != nil {
		return err
	}
	cfg.TLS = tlsFiles(c)
	if err := cfg.TLS.Validate(); err != nil {
		return err
	}
	var err error
	if cfg.APIToken, err = secret(c, "api-token"); err != nil {
		return err
	}
	if err := security.ValidateTokens(cfg.APIToken, ""); err != nil {
		return err
	}
	if cfg.MasterToken, err = secret(c, "master-token"); err != nil {
		return err
	}
	if err := security.ValidateTokens(cfg.MasterToken, ""); err != nil {
		return fmt.Errorf("--master-token: %w", err)
	}
	key, err := secret(c, "encrypt")
	if err != nil {
		return err
	}
	if key != "" {
		if cfg.GossipKey, err = security.ParseGossipKey(key); err != nil {
			return fmt.Errorf("--encrypt: %w", err)
		}
	}
	if c.IsSet("port-range") {
		lo, hi, err := parsePortRange(c.String("port-range"))
		if err != nil {
			return err
		}
		cfg.PortRangeStart, cfg.PortRangeEnd = lo, hi
	}
	return nil
}

// agentAdvertise fills the address masters dial (an unspecified bind host
// becomes the private IP) and refuses a loopback one when the masters are
// not on loopback.
func agentAdvertise(cfg *agent.Config) error {
	if cfg.AdvertiseAddr == "" {
		cfg.AdvertiseAddr = config.DefaultAdvertise(cfg.GRPCAddr)
	}
	peers := append(append([]string(nil), cfg.Masters...), cfg.Join...)
	for i, p := range peers {
		peers[i] = normalizeMaster(p)
	}
	return config.CheckAdvertise("advertise-addr", cfg.AdvertiseAddr, peers)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// parsePortRange reads "START-END".
func parsePortRange(s string) (int, int, error) {
	a, b, ok := strings.Cut(s, "-")
	lo, err1 := strconv.Atoi(strings.TrimSpace(a))
	hi, err2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil || lo < 1 || hi > 65535 || lo > hi {
		return 0, 0, fmt.Errorf("--port-range %q: want START-END within 1-65535, START <= END", s)
	}
	return lo, hi, nil
}

// storageNodeCommand is `grid storage-node`: one graph store over gRPC.
func storageNodeCommand() *cli.Command {
	return &cli.Command{
		Name:  "storage-node",
		Usage: "serve one graph store (run by agents)",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "port", EnvVars: []string{"STORAGE_PORT"}, Required: true, Usage: "gRPC port"},
			&cli.StringFlag{Name: "storage-path", EnvVars: []string{"STORAGE_PATH"}, Required: true, Usage: "data directory (graph.db lives here)"},
			&cli.StringFlag{Name: "node-id", EnvVars: []string{"GRID_NODE_ID"}, Required: true, Usage: "this node's id"},
			&cli.StringFlag{Name: "host", Value: "0.0.0.0", EnvVars: []string{"STORAGE_HOST"}, Usage: "listen host"},
			&cli.StringFlag{Name: "log-level", Value: "info", EnvVars: []string{"GRID_LOG_LEVEL"}, Usage: "trace|debug|info|warn|error"},
			logJSONFlag("GRID_LOG_JSON"),
		},
		Action: runStorageNode,
	}
}

func runStorageNode(c *cli.Context) error {
	nodeID, port, dir := c.String("node-id"), c.Int("port"), c.String("storage-path")
	if err := agent.ValidateNodeID(nodeID); err != nil {
		return cli.Exit(fmt.Sprintf("Error: --node-id %q: %v", nodeID, err), 2)
	}
	if port < 1 || port > 65535 {
		return cli.Exit(fmt.Sprintf("Error: --port %d: allowed range is 1-65535", port), 2)
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: "storage-node", Level: hclog.LevelFromString(c.String("log-level")), Output: os.Stderr, JSONFormat: c.Bool("log-json")}).
		With("node_id", nodeID)
	addr := net.JoinHostPort(c.String("host"), strconv.Itoa(port))
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return cli.Exit(fmt.Sprintf("Error: storage node %s cannot listen on %s (port taken?): %v", nodeID, addr, err), 1)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		_ = lis.Close()
		return cli.Exit(fmt.Sprintf("Error: --storage-path %q: %v", dir, err), 1)
	}
	st, err := eventstore.Open(filepath.Join(dir, "graph.db"), eventstore.Options{Logger: logger})
	if err != nil {
		_ = lis.Close()
		return cli.Exit(fmt.Sprintf("Error: open store in %q: %v", dir, err), 1)
	}
	defer st.Close()

	server := grpc.NewServer()
	rpc.RegisterStorageServiceServer(server, eventstore.NewStorageServer(func() *eventstore.Store { return st }, nodeID, false, logger))
	hs := health.NewServer()
	healthpb.RegisterHealthServer(server, hs)
	reflection.Register(server)

	ctx, stop := signal.NotifyContext(c.Context, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		logger.Info("stopping")
		hs.Shutdown()
		done := make(chan struct{})
		go func() { server.GracefulStop(); close(done) }()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			server.Stop()
		}
	}()
	logger.Info("storage node serving", "addr", lis.Addr().String(), "storage_path", dir, "pid", os.Getpid())
	if err := server.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return cli.Exit(fmt.Sprintf("Error: serve: %v", err), 1)
	}
	logger.Info("storage node stopped")
	return nil
}
