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
	gometrics "github.com/hashicorp/go-metrics"
	gmprom "github.com/hashicorp/go-metrics/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/urfave/cli/v2"
)

// masterFlags are `grid master`'s flags; each is also GRID_<NAME>.
func masterFlags() []cli.Flag {
	def := cluster.DefaultConfig()
	env := func(name string) []string {
		return []string{"GRID_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))}
	}
	host, _ := os.Hostname()
	return []cli.Flag{
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
		&cli.StringFlag{Name: "api-token", EnvVars: env("api-token"), Usage: "bearer token required on every mutating REST and gRPC call, and sent on this master's own calls"},
		&cli.StringFlag{Name: "read-token", EnvVars: env("read-token"), Usage: "read-only bearer token; when set, reads need it (or --api-token) too"},
		&cli.BoolFlag{Name: "acl", EnvVars: env("acl"), Usage: "enforce ACL tokens (Raft-replicated, hashed): create the first with `grid acl bootstrap`"},
		&cli.StringFlag{Name: "agent-token", EnvVars: env("agent-token"), Usage: "token sent on calls to agents (their --master-token); default --api-token"},
		&cli.StringSliceFlag{Name: "cors-origin", EnvVars: env("cors-origin"), Usage: "origin (scheme://host:port) allowed to call the REST API from a browser (repeatable); none by default"},
		&cli.IntFlag{Name: "max-streams", Value: def.MaxStreams, EnvVars: env("max-streams"), Usage: "open event streams allowed per token or client address (more get 429)"},
		&cli.Int64Flag{Name: "max-snapshot-size", Value: def.MaxSnapshotSize, EnvVars: env("max-snapshot-size"), Usage: "largest snapshot upload accepted, in bytes"},
		&cli.StringFlag{Name: "encrypt", EnvVars: env("encrypt"), Usage: "gossip encryption key: base64 of 16, 24 or 32 bytes (`grid keygen`); the same on every master and agent"},
		&cli.StringFlag{Name: "tls-ca", EnvVars: env("tls-ca"), Usage: "cluster CA certificate (PEM); with --tls-cert and --tls-key turns on mutual TLS for gRPC and Raft, and HTTPS"},
		&cli.StringFlag{Name: "tls-cert", EnvVars: env("tls-cert"), Usage: "this master's certificate (PEM), signed by --tls-ca"},
		&cli.StringFlag{Name: "tls-key", EnvVars: env("tls-key"), Usage: "the private key of --tls-cert (PEM)"},
		&cli.BoolFlag{Name: "autopilot-cleanup", Value: def.AutopilotCleanup, EnvVars: env("autopilot-cleanup"), Usage: "let autopilot remove dead masters"},
		&cli.DurationFlag{Name: "event-retention", Value: def.Events.Retention, EnvVars: env("event-retention"), Usage: "drop events older than this"},
		&cli.Uint64Flag{Name: "event-max-count", Value: def.Events.MaxEvents, EnvVars: env("event-max-count"), Usage: "keep at most this many events"},
		&cli.StringFlag{Name: "log-level", Value: "info", EnvVars: env("log-level"), Usage: "trace|debug|info|warn|error"},
	}
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
	cfg.AutopilotCleanup = c.Bool("autopilot-cleanup")
	cfg.Events.Retention = c.Duration("event-retention")
	cfg.Events.MaxEvents = c.Uint64("event-max-count")
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
	cfg.ACL = c.Bool("acl")
	cfg.AgentToken = c.String("agent-token")
	if err := security.ValidateTokens(cfg.AgentToken, ""); err != nil {
		return fmt.Errorf("--agent-token: %w", err)
	}
	cfg.MaxStreams = c.Int("max-streams")
	cfg.MaxSnapshotSize = c.Int64("max-snapshot-size")
	if cfg.MaxStreams < 1 || cfg.MaxSnapshotSize < 1 {
		return fmt.Errorf("--max-streams and --max-snapshot-size must be at least 1")
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
	level := hclog.LevelFromString(c.String("log-level"))
	if level == hclog.NoLevel {
		return cli.Exit(fmt.Sprintf("Error: --log-level %q: want trace, debug, info, warn or error", c.String("log-level")), 2)
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: "grid", Level: level, Output: os.Stderr})

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if sink, err := gmprom.NewPrometheusSinkFrom(gmprom.PrometheusOpts{Registerer: reg, Expiration: time.Minute}); err == nil {
		mc := gometrics.DefaultConfig("grid")
		mc.EnableHostname = false
		if _, err := gometrics.NewGlobal(mc, sink); err != nil {
			logger.Warn("raft metrics bridge disabled", "error", err)
		}
	}

	cfg, err := masterConfig(c, logger, reg)
	if err != nil {
		return cli.Exit("Error: "+err.Error(), 2)
	}
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
	insecure := m.Authorizer().Open() && !isLoopback(httpLis.Addr())
	apiServer := api.New(m.Backend(), api.Config{APIToken: cfg.APIToken, ReadToken: cfg.ReadToken,
		Authorizer: m.Authorizer(), Streams: m.Streams(), CORSOrigins: c.StringSlice("cors-origin"), PeerHosts: m.PeerHTTPAddrs, Insecure: insecure,
		OnRefused: m.AuditRefused, Gatherer: reg, Logger: logger})
	// Timeouts: a slow-loris client cannot hold a connection; the event
	// stream lifts its own write deadline (api/sse.go).
	httpServer := &http.Server{Handler: apiServer.Handler(), ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: 60 * time.Second, WriteTimeout: 90 * time.Second, IdleTimeout: 120 * time.Second}
	if insecure {
		go warnInsecure(m, logger, httpLis.Addr().String())
	}
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
	hupCh := make(chan os.Signal, 1)
	signal.Notify(hupCh, syscall.SIGHUP)
	defer signal.Stop(hupCh)
	go reloadOnHUP(c, hupCh, m, cfg, logger)
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

// isLoopback reports whether addr listens on a loopback address only.
func isLoopback(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	return ok && tcp.IP != nil && tcp.IP.IsLoopback()
}

// warnInsecure logs, every minute until the master stops, that nothing
// guards a non-loopback HTTP address.
func warnInsecure(m *cluster.Master, logger hclog.Logger, addr string) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		if m.Authorizer().Open() {
			logger.Warn("the REST API listens on a non-loopback address without any token: anyone who can reach it controls the cluster (set --acl or --api-token)", "http_addr", addr)
		}
		select {
		case <-m.Done():
			return
		case <-t.C:
		}
	}
}

// reloadOnHUP reloads, on each SIGHUP, the TLS certificate and key (same
// paths) and the static tokens (from --config when given, else the
// environment), without a restart. ACL tokens live in Raft and need none.
func reloadOnHUP(c *cli.Context, hup <-chan os.Signal, m *cluster.Master, cfg cluster.Config, logger hclog.Logger) {
	for {
		select {
		case <-m.Done():
			return
		case <-hup:
		}
		logger.Info("SIGHUP: reloading certificates and tokens")
		if cfg.TLS.Enabled() {
			if err := security.ReloadTLS(cfg.TLS); err != nil {
				logger.Error("reload TLS: keeping the current certificate", "error", err)
			} else {
				logger.Info("reloaded TLS certificate", "cert", cfg.TLS.Cert)
			}
		}
		token, read := reloadedTokens(c, cfg)
		if err := m.Authorizer().SetTokens(token, read); err != nil {
			logger.Error("reload tokens: keeping the current ones", "error", err)
		}
	}
}

// reloadedTokens are --api-token and --read-token as they read now: from
// the --config file when it sets them, else from GRID_API_TOKEN /
// GRID_READ_TOKEN when set, else unchanged.
func reloadedTokens(c *cli.Context, cfg cluster.Config) (string, string) {
	token, read := cfg.APIToken, cfg.ReadToken
	if v, ok := os.LookupEnv("GRID_API_TOKEN"); ok {
		token = v
	}
	if v, ok := os.LookupEnv("GRID_READ_TOKEN"); ok {
		read = v
	}
	if path := c.String("config"); path != "" {
		var values map[string]any
		if _, err := toml.DecodeFile(path, &values); err == nil {
			if v, ok := values["api-token"].(string); ok {
				token = v
			}
			if v, ok := values["read-token"].(string); ok {
				read = v
			}
		}
	}
	return token, read
}
