package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/gridctl/grid/api"
	"github.com/gridctl/grid/cluster"
	"github.com/gridctl/grid/rpc/security"
	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/urfave/cli/v2"
)

// masterFlags are `grid master`'s flags; each is also GRID_<NAME>.
func masterFlags() []cli.Flag {
	def := cluster.DefaultConfig()
	env := func(name string) []string {
		return []string{"GRID_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))}
	}
	host, _ := os.Hostname()
	return append(dayTwoFlags(def, env), []cli.Flag{
		&cli.StringFlag{Name: "config", EnvVars: env("config"), Usage: "optional TOML file whose keys are these flag names (flags and env win)"},
		&cli.StringFlag{Name: "id", Value: host, EnvVars: env("id"), Usage: "this master's unique id ([A-Za-z0-9._-], 1-128)"},
		&cli.StringFlag{Name: "data-dir", EnvVars: env("data-dir"), Usage: "data directory (default ./data/<id>)"},
		&cli.StringFlag{Name: "grpc-addr", Value: def.GRPCAddr, EnvVars: env("grpc-addr"), Usage: "gRPC listen address"},
		&cli.StringFlag{Name: "raft-addr", Value: def.RaftAddr, EnvVars: env("raft-addr"), Usage: "Raft listen address"},
		&cli.StringFlag{Name: "gossip-addr", Value: def.GossipAddr, EnvVars: env("gossip-addr"), Usage: "gossip (memberlist) listen address"},
		&cli.StringFlag{Name: "http-addr", Value: def.HTTPAddr, EnvVars: env("http-addr"), Usage: "REST API and dashboard listen address"},
		&cli.StringFlag{Name: "advertise-grpc", EnvVars: env("advertise-grpc"), Usage: "gRPC address others dial (default: from --grpc-addr)"},
		&cli.StringFlag{Name: "advertise-raft", EnvVars: env("advertise-raft"), Usage: "Raft address others dial (default: from --raft-addr)"},
		&cli.StringFlag{Name: "advertise-gossip", EnvVars: env("advertise-gossip"), Usage: "gossip address others dial (default: from --gossip-addr)"},
		&cli.StringFlag{Name: "advertise-http", EnvVars: env("advertise-http"), Usage: "HTTP address shown to clients (default: from --http-addr)"},
		&cli.IntFlag{Name: "bootstrap-expect", EnvVars: env("bootstrap-expect"), Usage: "bootstrap a new cluster once this many masters see each other (0: join only)"},
		&cli.StringFlag{Name: "join", EnvVars: env("join"), Usage: "gossip address(es) of existing members, comma-separated; retried with backoff"},
		&cli.StringFlag{Name: "raft-profile", Value: string(def.RaftProfile), EnvVars: env("raft-profile"), Usage: "Raft timings: default (400 ms, sub-second failover, CPU-tolerant) or fast (150 ms)"},
		&cli.DurationFlag{Name: "heartbeat-interval", Value: def.HeartbeatInterval, EnvVars: env("heartbeat-interval"), Usage: "interval agents heartbeat at"},
		&cli.DurationFlag{Name: "degraded-after", Value: def.DegradedAfter, EnvVars: env("degraded-after"), Usage: "agent silence before degraded"},
		&cli.DurationFlag{Name: "offline-after", Value: def.OfflineAfter, EnvVars: env("offline-after"), Usage: "agent silence before offline (also the grace after a leader change)"},
		&cli.DurationFlag{Name: "verify-interval", Value: def.VerifyInterval, EnvVars: env("verify-interval"), Usage: "how often the leader compares every master's state digest in the background (0: never)"},
		&cli.StringFlag{Name: "api-token", EnvVars: env("api-token"), Usage: "bearer token required on every mutating REST and gRPC call, and sent on this master's own calls"},
		&cli.StringFlag{Name: "read-token", EnvVars: env("read-token"), Usage: "read-only bearer token; when set, reads need it (or --api-token) too"},
		&cli.StringFlag{Name: "encrypt", EnvVars: env("encrypt"), Usage: "gossip encryption key: base64 of 16, 24 or 32 bytes (`grid keygen`); the same on every master and agent"},
		&cli.StringFlag{Name: "tls-ca", EnvVars: env("tls-ca"), Usage: "cluster CA certificate (PEM); with --tls-cert and --tls-key turns on mutual TLS for gRPC and Raft, and HTTPS"},
		&cli.StringFlag{Name: "tls-cert", EnvVars: env("tls-cert"), Usage: "this master's certificate (PEM), signed by --tls-ca"},
		&cli.StringFlag{Name: "tls-key", EnvVars: env("tls-key"), Usage: "the private key of --tls-cert (PEM)"},
		&cli.BoolFlag{Name: "autopilot-cleanup", Value: def.AutopilotCleanup, EnvVars: env("autopilot-cleanup"), Usage: "let autopilot remove dead masters"},
		&cli.DurationFlag{Name: "event-retention", Value: def.Events.Retention, EnvVars: env("event-retention"), Usage: "drop events older than this"},
		&cli.Uint64Flag{Name: "event-max-count", Value: def.Events.MaxEvents, EnvVars: env("event-max-count"), Usage: "keep at most this many events"},
		&cli.StringFlag{Name: "log-level", Value: "info", EnvVars: env("log-level"), Usage: "trace|debug|info|warn|error"},
		&cli.DurationFlag{Name: "stop-timeout", Value: def.Nodes.StopTimeout, EnvVars: env("stop-timeout"), Usage: "bound on one stop order to an agent, retries included"},
		&cli.StringFlag{Name: "agent-retry-backoff", Value: joinDurations(def.Nodes.AgentRetryBackoff), EnvVars: env("agent-retry-backoff"),
			Usage: "waits between the tries of an order to an unreachable agent, comma-separated (the last repeats)"},
		logJSONFlag("GRID_LOG_JSON"),
		&cli.DurationFlag{Name: "dashboard-sample-interval", Value: api.DefaultConfig().SampleInterval, EnvVars: env("dashboard-sample-interval"), Usage: "how often the dashboard's trend charts sample this master's metrics (360 samples kept)"},
		&cli.BoolFlag{Name: "enable-debug", EnvVars: env("enable-debug"), Usage: "serve pprof under /debug/pprof/ on the HTTP address (full token required when set)"},
	}...)
}

// joinDurations is ds as a comma-separated flag value.
func joinDurations(ds []time.Duration) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = d.String()
	}
	return strings.Join(parts, ",")
}

// parseDurations reads a comma-separated list of positive durations.
func parseDurations(flag, s string) ([]time.Duration, error) {
	var out []time.Duration
	for _, p := range strings.Split(s, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(p))
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("--%s: %q is not a positive duration", flag, p)
		}
		out = append(out, d)
	}
	return out, nil
}

func masterCommand() *cli.Command {
	return &cli.Command{
		Name:  "master",
		Usage: "run a master: Raft-replicated registry and event graph, gRPC API, REST API and dashboard",
		Description: "Start three with --bootstrap-expect 3 (and --join each other) to form a cluster; later masters\n" +
			"use --join only. SIGINT/SIGTERM leave gracefully: a leader hands leadership over first.",
		Flags:  masterFlags(),
		Before: applyConfigFile,
		Action: runMaster,
	}
}

// applyConfigFile sets flags from --config (TOML, keys = flag names) that
// were not given on the command line or in the environment.
func applyConfigFile(c *cli.Context) error {
	path := c.String("config")
	if path == "" {
		return nil
	}
	var values map[string]any
	if _, err := toml.DecodeFile(path, &values); err != nil {
		return cli.Exit(fmt.Sprintf("Error: config file %s: %v", path, err), 2)
	}
	known := map[string]bool{}
	for _, f := range masterFlags() {
		known[f.Names()[0]] = true
	}
	for k, v := range values {
		if !known[k] || k == "config" {
			return cli.Exit(fmt.Sprintf("Error: config file %s: unknown key %q", path, k), 2)
		}
		if c.IsSet(k) {
			continue
		}
		var s string
		switch vv := v.(type) {
		case []any:
			parts := make([]string, len(vv))
			for i, p := range vv {
				parts[i] = fmt.Sprint(p)
			}
			s = strings.Join(parts, ",")
		default:
			s = fmt.Sprint(vv)
		}
		if err := c.Set(k, s); err != nil {
			return cli.Exit(fmt.Sprintf("Error: config file %s: %s: %v", path, k, err), 2)
		}
	}
	return nil
}

// masterConfig turns flags into a cluster.Config.
func masterConfig(c *cli.Context, logger hclog.Logger, reg prometheus.Registerer) (cluster.Config, error) {
	cfg := cluster.DefaultConfig()
	cfg.ID = c.String("id")
	cfg.Version = version
	cfg.DataDir = c.String("data-dir")
	if cfg.DataDir == "" {
		cfg.DataDir = filepath.Join("data", cfg.ID)
	}
	cfg.GRPCAddr = c.String("grpc-addr")
	cfg.RaftAddr = c.String("raft-addr")
	cfg.GossipAddr = c.String("gossip-addr")
	cfg.HTTPAddr = c.String("http-addr")
	cfg.AdvertiseGRPC = c.String("advertise-grpc")
	cfg.AdvertiseRaft = c.String("advertise-raft")
	cfg.AdvertiseGossip = c.String("advertise-gossip")
	cfg.AdvertiseHTTP = c.String("advertise-http")
	cfg.BootstrapExpect = c.Int("bootstrap-expect")
	for _, a := range strings.Split(c.String("join"), ",") {
		if a = strings.TrimSpace(a); a != "" {
			cfg.Join = append(cfg.Join, a)
		}
	}
	cfg.RaftProfile = cluster.RaftProfile(c.String("raft-profile"))
	cfg.HeartbeatInterval = c.Duration("heartbeat-interval")
	cfg.DegradedAfter = c.Duration("degraded-after")
	cfg.OfflineAfter = c.Duration("offline-after")
	cfg.VerifyInterval = c.Duration("verify-interval")
	cfg.AutopilotCleanup = c.Bool("autopilot-cleanup")
	cfg.Events.Retention = c.Duration("event-retention")
	cfg.Events.MaxEvents = c.Uint64("event-max-count")
	cfg.Nodes.StopTimeout = c.Duration("stop-timeout")
	if cfg.Nodes.StopTimeout <= 0 {
		return cfg, fmt.Errorf("--stop-timeout must be positive")
	}
	backoff, err := parseDurations("agent-retry-backoff", c.String("agent-retry-backoff"))
	if err != nil {
		return cfg, err
	}
	cfg.Nodes.AgentRetryBackoff = backoff
	if err := dayTwoConfig(c, &cfg); err != nil {
		return cfg, err
	}
	if cfg.BootstrapExpect > 0 && cfg.BootstrapExpect < cfg.MinQuorum {
		cfg.MinQuorum = cfg.BootstrapExpect
	}
	cfg.Logger = logger
	cfg.Metrics = reg
	if _, err := cfg.RaftProfile.Timings(); err != nil {
		return cfg, err
	}
	if err := masterSecurity(c, &cfg); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// masterSecurity reads and checks the TLS files, the gossip key and the
// API tokens into cfg.
func masterSecurity(c *cli.Context, cfg *cluster.Config) error {
	cfg.TLS = tlsFiles(c)
	if err := cfg.TLS.Validate(); err != nil {
		return err
	}
	cfg.APIToken, cfg.ReadToken = c.String("api-token"), c.String("read-token")
	if err := security.ValidateTokens(cfg.APIToken, cfg.ReadToken); err != nil {
		return err
	}
	if c.IsSet("encrypt") {
		key, err := security.ParseGossipKey(c.String("encrypt"))
		if err != nil {
			return fmt.Errorf("--encrypt: %w", err)
		}
		cfg.GossipKey = key
	}
	return nil
}

func runMaster(c *cli.Context) error {
	broker, err := newLogBroker(c, "grid")
	if err != nil {
		return cli.Exit("Error: "+err.Error(), 2)
	}
	logger := broker.Logger()
	reg := newMetricsRegistry(logger)

	cfg, err := masterConfig(c, logger, reg)
	cfg.LogBroker = broker
	if err != nil {
		return cli.Exit("Error: "+err.Error(), 2)
	}
	reg.MustRegister(newDataDirCollector(cfg.DataDir))
	// Bind HTTP before starting the master so a busy port fails fast.
	httpLis, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return cli.Exit(fmt.Sprintf("Error: http listen on %s: %v", cfg.HTTPAddr, err), 1)
	}
	m, err := cluster.New(cfg)
	if err != nil {
		httpLis.Close()
		return cli.Exit(fmt.Sprintf("Error: master %s: %v", cfg.ID, err), 1)
	}

	// The API calls this master in-process (no connection to its own gRPC
	// port); it checks bearer tokens itself and audits its refusals.
	apiServer := api.New(m.Backend(), api.Config{APIToken: cfg.APIToken, ReadToken: cfg.ReadToken,
		OnRefused: m.AuditRefused, Gatherer: reg, Logger: logger,
		EnableDebug: c.Bool("enable-debug"), DebugConfig: debugConfig(c, "master"), SampleInterval: c.Duration("dashboard-sample-interval")})
	defer apiServer.Close()
	httpServer := &http.Server{Handler: apiServer.Handler(), ReadHeaderTimeout: 10 * time.Second}
	httpErr := make(chan error, 1)
	if cfg.TLS.Enabled() {
		if httpServer.TLSConfig, err = security.HTTPServerTLSConfig(cfg.TLS); err != nil {
			_ = m.Shutdown(context.Background())
			return cli.Exit(fmt.Sprintf("Error: https: %v", err), 2)
		}
		go func() { httpErr <- httpServer.ServeTLS(httpLis, "", "") }()
		logger.Info("https api listening", "addr", httpLis.Addr().String())
	} else {
		go func() { httpErr <- httpServer.Serve(httpLis) }()
		logger.Info("http api listening", "addr", httpLis.Addr().String())
	}

	sigCh := make(chan os.Signal, 2)
	signal.Notify(sigCh, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigCh)
	var runErr error
	select {
	case sig := <-sigCh:
		logger.Info("signal received, leaving", "signal", sig.String())
	case err := <-httpErr:
		if !errors.Is(err, http.ErrServerClosed) {
			runErr = cli.Exit(fmt.Sprintf("Error: http server: %v", err), 1)
		}
	case <-m.Done():
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() { // a second signal stops at once
		select {
		case <-sigCh:
			logger.Warn("second signal, exiting now")
			os.Exit(1)
		case <-ctx.Done():
		}
	}()
	httpCtx, httpCancel := context.WithTimeout(ctx, 3*time.Second) // SSE streams may linger
	_ = httpServer.Shutdown(httpCtx)
	httpCancel()
	if err := m.Shutdown(ctx); err != nil {
		logger.Error("shutdown", "error", err)
	}
	logger.Info("master stopped")
	return runErr
}
