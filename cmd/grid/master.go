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

	"github.com/gridctl/grid/api"
	"github.com/gridctl/grid/cluster"
	"github.com/gridctl/grid/cmd/grid/config"
	"github.com/gridctl/grid/rpc/security"
	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/urfave/cli/v2"
)

// masterFlags are `grid master`'s flags; each is also GRID_MASTER_<NAME>
// and a config-file key (<name> with _ for -).
func masterFlags() []cli.Flag {
	def := cluster.DefaultConfig()
	host, _ := os.Hostname()
	flags := []cli.Flag{
		&cli.StringSliceFlag{Name: "config", Usage: "HCL or JSON config file, or a directory of them (merged in lexical order); repeatable; keys are these flag names with _ for -; flags win"},
		&cli.StringFlag{Name: "id", Value: host, Usage: "this master's unique id ([A-Za-z0-9._-], 1-128)"},
		&cli.StringFlag{Name: "data-dir", Usage: "data directory (default ./data/<id>)"},
		&cli.StringFlag{Name: "grpc-addr", Value: def.GRPCAddr, Usage: "gRPC listen address; go-sockaddr templates allowed"},
		&cli.StringFlag{Name: "raft-addr", Value: def.RaftAddr, Usage: "Raft listen address; go-sockaddr templates allowed"},
		&cli.StringFlag{Name: "gossip-addr", Value: def.GossipAddr, Usage: "gossip (memberlist) listen address; go-sockaddr templates allowed"},
		&cli.StringFlag{Name: "http-addr", Value: def.HTTPAddr, Usage: "REST API and dashboard listen address; go-sockaddr templates allowed"},
		&cli.StringFlag{Name: "advertise-grpc", Usage: "gRPC address others dial (default: --grpc-addr, an unspecified host becomes the private IP)"},
		&cli.StringFlag{Name: "advertise-raft", Usage: "Raft address others dial (default: from --raft-addr)"},
		&cli.StringFlag{Name: "advertise-gossip", Usage: "gossip address others dial (default: from --gossip-addr)"},
		&cli.StringFlag{Name: "advertise-http", Usage: "HTTP address shown to clients (default: from --http-addr)"},
		&cli.IntFlag{Name: "bootstrap-expect", Usage: "bootstrap a new cluster once this many masters see each other (0: join only)"},
		&cli.StringSliceFlag{Name: "join", Usage: "gossip address(es) of existing members (repeatable or comma-separated); retried with backoff"},
		&cli.StringFlag{Name: "raft-profile", Value: string(def.RaftProfile), Usage: "Raft timings: default (400 ms heartbeat/election timeouts: ~0.5 s failover, CPU-tolerant) or fast (150 ms: ~0.25 s failover, quiet networks)"},
		&cli.StringFlag{Name: "raft-log-store", Usage: "Raft log store: boltdb (raft-boltdb) or wal (raft-wal, one fsync per append); fixed per data dir (a switch is refused). Default: the store the data dir holds, wal for a new one"},
		&cli.DurationFlag{Name: "heartbeat-interval", Value: def.HeartbeatInterval, Usage: "interval agents heartbeat at"},
		&cli.Float64Flag{Name: "max-heartbeats-per-second", Value: def.MaxHeartbeatsPerSecond, Usage: "cap on the whole fleet's heartbeats to the leader: agents beat every max(--heartbeat-interval, agents / this), deadlines stretch alike (0: no cap)"},
		&cli.DurationFlag{Name: "degraded-after", Value: def.DegradedAfter, Usage: "agent silence before degraded"},
		&cli.DurationFlag{Name: "offline-after", Value: def.OfflineAfter, Usage: "agent silence before offline (also the grace after a leader change)"},
		&cli.DurationFlag{Name: "verify-interval", Value: def.VerifyInterval, Usage: "how often the leader compares every master's state digest in the background (0: never)"},
		&cli.DurationFlag{Name: "stop-timeout", Value: def.Nodes.StopTimeout, Usage: "bound on one stop order to an agent, retries included"},
		&cli.StringFlag{Name: "agent-retry-backoff", Value: joinDurations(def.Nodes.AgentRetryBackoff),
			Usage: "waits between the tries of an order to an unreachable agent, comma-separated (the last repeats)"},
		logJSONFlag("GRID_LOG_JSON"),
		&cli.DurationFlag{Name: "dashboard-sample-interval", Value: api.DefaultConfig().SampleInterval, Usage: "how often the dashboard's trend charts sample this master's metrics (360 samples kept)"},
		&cli.BoolFlag{Name: "enable-debug", Usage: "serve pprof under /debug/pprof/ on the HTTP address (full token required when set)"},
		&cli.BoolFlag{Name: "sysmon-deep-sleep", Usage: "keep Go's default runtime monitor, which deep-sleeps whenever the master is idle and is woken by the next syscall; " +
			"by default the master re-executes itself once with GODEBUG=" + sysmonPollingSetting + " so it polls instead (cheaper under many small calls; one SCHED line on stderr every 24.8 days)"},
	}
	flags = append(flags, secretFlags("api-token", "bearer token required on every mutating REST and gRPC call, and sent on this master's own calls")...)
	flags = append(flags, secretFlags("read-token", "read-only bearer token; when set, reads need it (or --api-token) too")...)
	flags = append(flags, secretFlags("agent-token", "token sent on calls to agents (their --master-token); default --api-token")...)
	flags = append(flags,
		&cli.BoolFlag{Name: "acl", Usage: "enforce ACL tokens (Raft-replicated, hashed): create the first with grid acl bootstrap"},
		&cli.StringSliceFlag{Name: "cors-origin", Usage: "origin (scheme://host:port) allowed to call the REST API from a browser (repeatable); none by default"},
		&cli.IntFlag{Name: "max-streams", Value: def.MaxStreams, Usage: "open event streams allowed per token or client address (more get 429)"},
		&cli.Int64Flag{Name: "max-snapshot-size", Value: def.MaxSnapshotSize, Usage: "largest snapshot upload accepted, in bytes"},
	)
	flags = append(flags, secretFlags("encrypt", "gossip encryption key: base64 of 16, 24 or 32 bytes (from grid keygen); the same on every master and agent")...)
	flags = append(flags,
		&cli.StringFlag{Name: "tls-ca", Usage: "cluster CA certificate (PEM); with --tls-cert and --tls-key turns on mutual TLS for gRPC and Raft, and HTTPS"},
		&cli.StringFlag{Name: "tls-cert", Usage: "this master's certificate (PEM), signed by --tls-ca"},
		&cli.StringFlag{Name: "tls-key", Usage: "the private key of --tls-cert (PEM)"},
		&cli.BoolFlag{Name: "autopilot-cleanup", Value: def.AutopilotCleanup, Usage: "let autopilot remove dead masters"},
		&cli.DurationFlag{Name: "event-retention", Value: def.Events.Retention, Usage: "drop events older than this"},
		&cli.Uint64Flag{Name: "event-max-count", Value: def.Events.MaxEvents, Usage: "keep at most this many events"},
		&cli.StringFlag{Name: "log-level", Value: "info", Usage: "trace|debug|info|warn|error; reloaded from the config files on SIGHUP"},
	)
	flags = append(flags, alertFlags()...)
	flags = append(flags, dayTwoFlags(def)...)
	return withRoleEnv("master", flags)
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
	flags := masterFlags()
	return &cli.Command{
		Name:  "master",
		Usage: "run a master: Raft-replicated registry and event graph, gRPC API, REST API and dashboard",
		Description: "Start three with --bootstrap-expect 3 (and --join each other) to form a cluster; later masters\n" +
			"use --join only. SIGINT/SIGTERM leave gracefully: a leader hands leadership over first.\n" +
			"SIGHUP reloads the log level, the TLS certificate and the static tokens (their files and the config\n" +
			"files). Every flag is also GRID_MASTER_<FLAG>.",
		Flags:  flags,
		Before: applyConfig(flags, true),
		Action: runMaster,
	}
}

// listFlag is a repeatable flag whose values may also be comma-separated.
func listFlag(c *cli.Context, name string) []string {
	var out []string
	for _, v := range c.StringSlice(name) {
		out = append(out, splitList(v)...)
	}
	return out
}

// masterAddresses resolves the address flags' templates, fills the
// advertise addresses others dial (an unspecified host becomes the private
// IP) and refuses a loopback advertise address when peers are remote.
func masterAddresses(c *cli.Context, cfg *cluster.Config) error {
	if err := resolveAddrFlags(c, "grpc-addr", "raft-addr", "gossip-addr", "http-addr",
		"advertise-grpc", "advertise-raft", "advertise-gossip", "advertise-http"); err != nil {
		return err
	}
	cfg.GRPCAddr, cfg.RaftAddr = c.String("grpc-addr"), c.String("raft-addr")
	cfg.GossipAddr, cfg.HTTPAddr = c.String("gossip-addr"), c.String("http-addr")
	pairs := []struct {
		flag string
		adv  *string
		bind string
	}{
		{"advertise-grpc", &cfg.AdvertiseGRPC, cfg.GRPCAddr},
		{"advertise-raft", &cfg.AdvertiseRaft, cfg.RaftAddr},
		{"advertise-gossip", &cfg.AdvertiseGossip, cfg.GossipAddr},
		{"advertise-http", &cfg.AdvertiseHTTP, cfg.HTTPAddr},
	}
	for _, p := range pairs {
		*p.adv = c.String(p.flag)
		if *p.adv == "" {
			if _, port, err := net.SplitHostPort(p.bind); err == nil && port != "0" {
				*p.adv = config.DefaultAdvertise(p.bind)
			}
		}
		effective := *p.adv
		if effective == "" { // port 0: the master derives it from the bound address
			effective = config.DefaultAdvertise(p.bind)
		}
		if p.flag == "advertise-http" || effective == "" {
			continue
		}
		if err := config.CheckAdvertise(p.flag, effective, cfg.Join); err != nil {
			return err
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
	cfg.BootstrapExpect = c.Int("bootstrap-expect")
	cfg.Join = listFlag(c, "join")
	if err := masterAddresses(c, &cfg); err != nil {
		return cfg, err
	}
	cfg.RaftProfile = cluster.RaftProfile(c.String("raft-profile"))
	cfg.RaftLogStore = c.String("raft-log-store")
	cfg.HeartbeatInterval = c.Duration("heartbeat-interval")
	cfg.MaxHeartbeatsPerSecond = c.Float64("max-heartbeats-per-second")
	cfg.DegradedAfter = c.Duration("degraded-after")
	cfg.OfflineAfter = c.Duration("offline-after")
	cfg.VerifyInterval = c.Duration("verify-interval")
	cfg.AutopilotCleanup = c.Bool("autopilot-cleanup")
	cfg.Events.Retention = c.Duration("event-retention")
	cfg.Events.MaxEvents = c.Uint64("event-max-count")
	if err := applyAlertFlags(c, &cfg.Events); err != nil {
		return cfg, err
	}
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
	var err error
	if cfg.APIToken, err = secret(c, "api-token"); err != nil {
		return err
	}
	if cfg.ReadToken, err = secret(c, "read-token"); err != nil {
		return err
	}
	if err := security.ValidateTokens(cfg.APIToken, cfg.ReadToken); err != nil {
		return err
	}
	cfg.ACL = c.Bool("acl")
	if cfg.AgentToken, err = secret(c, "agent-token"); err != nil {
		return err
	}
	if err := security.ValidateTokens(cfg.AgentToken, ""); err != nil {
		return fmt.Errorf("--agent-token: %w", err)
	}
	cfg.MaxStreams = c.Int("max-streams")
	cfg.MaxSnapshotSize = c.Int64("max-snapshot-size")
	if cfg.MaxStreams < 1 || cfg.MaxSnapshotSize < 1 {
		return fmt.Errorf("--max-streams and --max-snapshot-size must be at least 1")
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
	return nil
}

func runMaster(c *cli.Context) error {
	var sysmonErr error
	if !c.Bool("sysmon-deep-sleep") {
		sysmonErr = keepSysmonPolling() // returns only when it did not re-execute
	}
	broker, err := newLogBroker(c, "grid")
	if err != nil {
		return cli.Exit("Error: "+err.Error(), 2)
	}
	logger := broker.Logger()
	if sysmonErr != nil {
		logger.Named("runtime").Warn("could not re-execute with Go's runtime monitor polling; it deep-sleeps (Go's default)", "error", sysmonErr)
	} else if sysmonPolling() {
		logger.Named("runtime").Info("Go's runtime monitor polls instead of deep-sleeping (--sysmon-deep-sleep restores Go's default)", "godebug", os.Getenv("GODEBUG"))
	}
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
	insecure := m.Authorizer().Open() && !isLoopback(httpLis.Addr())
	apiServer := api.New(m.Backend(), api.Config{APIToken: cfg.APIToken, ReadToken: cfg.ReadToken,
		Authorizer: m.Authorizer(), Streams: m.Streams(), CORSOrigins: c.StringSlice("cors-origin"), PeerHosts: m.PeerHTTPAddrs, Insecure: insecure,
		OnRefused: m.AuditRefused, Gatherer: reg, Logger: logger,
		EnableDebug: c.Bool("enable-debug"), DebugConfig: debugConfig(c, "master"), SampleInterval: c.Duration("dashboard-sample-interval")})
	defer apiServer.Close()
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

	reloadCtx, stopReload := context.WithCancel(context.Background())
	defer stopReload()
	reload := newReloader(logger)
	reload.Add("log_level", reloadLogLevel(c, masterFlags(), logger))
	if cfg.TLS.Enabled() {
		reload.Add("tls", func() error { return security.ReloadTLS(cfg.TLS) })
	}
	reload.Add("tokens", func() error {
		token, read, err := reloadedTokens(c, masterFlags(), true, "api-token", "read-token")
		if err != nil {
			return err
		}
		return m.Authorizer().SetTokens(token, read)
	})
	reload.Watch(reloadCtx)

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
