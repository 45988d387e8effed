package agent

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/rpc/security"
	"github.com/prometheus/client_golang/prometheus"
)

// Memory limit bounds for a storage node, in MiB.
const (
	MinMemoryLimitMB = rpc.MinNodeMemoryMB
	MaxMemoryLimitMB = rpc.MaxNodeMemoryMB
)

// Config is everything an agent needs. Fields map to the seeds' TOML keys
// (named in each comment) and to `grid agent` flags.
type Config struct {
	// AgentID names this agent in the cluster ([agent] agent_id, --id).
	AgentID string
	// Platform is reported to the masters ([agent] platform).
	Platform string
	// DataDir holds agent-state.json, node logs and every node's storage
	// ([storage] data_path, --data-dir).
	DataDir string
	// GRPCAddr is where the GridAgent service listens ([agent] agent_port,
	// --grpc-addr).
	GRPCAddr string
	// AdvertiseAddr is the address masters dial; empty derives it from
	// GRPCAddr (127.0.0.1 for an unspecified host) (--advertise-addr).
	AdvertiseAddr string
	// GossipAddr is the memberlist bind address (--gossip-addr); used only
	// when Join is set.
	GossipAddr string
	// Join lists masters' gossip addresses to join (--join).
	Join []string
	// Masters lists masters' gRPC addresses ([agent] master_endpoint,
	// --masters). Join or Masters is required.
	Masters []string
	// MaxNodes is how many storage nodes this agent runs at most
	// ([agent] max_storage_nodes, --max-nodes).
	MaxNodes int
	// PortRangeStart and PortRangeEnd bound the storage nodes' ports,
	// inclusive ([storage] default_port_range_start/_end, --port-range).
	PortRangeStart int
	PortRangeEnd   int
	// BinaryPath is the storage-node executable ([storage] binary_path,
	// --binary); empty means this agent's own executable.
	BinaryPath string
	// NodeArgs precede the node's own flags on its command line; the default
	// runs the `storage-node` subcommand of BinaryPath.
	NodeArgs []string
	// DefaultMemoryMB is a node's memory limit when a spawn names none
	// ([storage] default_memory_mb).
	DefaultMemoryMB uint64
	// HeartbeatInterval paces heartbeats until a master names its own
	// interval ([monitoring] heartbeat_interval_secs, --heartbeat-interval).
	HeartbeatInterval time.Duration
	// HealthCheckInterval paces the HealthChecker's calls to each running
	// node's HealthCheck ([monitoring] health_check_interval_secs,
	// --health-check-interval). Exits are seen at once (wait, pidfd); the
	// checks catch a node that is alive but hung.
	HealthCheckInterval time.Duration
	// HealthCheckFailures is how many failed checks in a row make a node
	// unhealthy and restarted (--health-check-failures); 0 only measures.
	HealthCheckFailures int
	// HoldRecovered is how long nodes found dead at start-up wait for the
	// first registration, which says whether the registry moved them to
	// another agent meanwhile (then they are not restarted here); past it
	// they are restarted anyway. 0 restarts them at once.
	HoldRecovered time.Duration
	// RestartFailedNodes turns automatic restarts of crashed nodes on
	// ([monitoring] restart_failed_nodes).
	RestartFailedNodes bool
	// RestartMaxAttempts is the restart budget within RestartWindow
	// ([monitoring] restart_max_attempts).
	RestartMaxAttempts int
	// RestartWindow is the sliding window of the restart budget
	// ([monitoring] restart_window_secs).
	RestartWindow time.Duration
	// RestartBackoff is the delay before the first restart; it doubles for
	// each further restart within the window.
	RestartBackoff time.Duration
	// StopGrace is how long a node has to exit after SIGTERM before SIGKILL.
	StopGrace time.Duration
	// StartTimeout bounds how long SpawnNode waits for a new node to accept
	// connections on its port.
	StartTimeout time.Duration
	// StopNodesOnShutdown stops every node when the agent shuts down
	// gracefully; false leaves them running to be re-adopted on restart.
	StopNodesOnShutdown bool
	// CgroupParent is the cgroup v2 directory under which each node gets its
	// own cgroup with memory.max; empty disables cgroups (RLIMIT_AS is used).
	CgroupParent string
	// EventQueueSize bounds the events kept until a master acknowledges them;
	// the oldest are dropped (and counted) beyond it.
	EventQueueSize int
	// EventBatchSize is the most events sent in one EmitEvents call.
	EventBatchSize int
	// Version is the build reported to the masters at registration.
	Version string
	// TLS is the agent's TLS material (--tls-ca, --tls-cert, --tls-key):
	// when Enabled, its gRPC port demands mutual TLS and its calls to the
	// masters present it.
	TLS security.TLSFiles
	// GossipKey encrypts gossip (--encrypt); it must match the masters'.
	GossipKey []byte
	// APIToken (--api-token) is sent on every call to the masters and
	// required on SpawnNode and StopNode.
	APIToken string
	// MasterToken (--master-token), when set, is the token masters present
	// on SpawnNode/StopNode (their --agent-token); empty uses APIToken.
	MasterToken string

	// HTTPAddr (--http-addr) serves /healthz, /readyz, /metrics and
	// /debug/config; empty serves no HTTP.
	HTTPAddr string
	// EnableDebug (--enable-debug) adds pprof under /debug/pprof/ (full
	// token required when APIToken is set).
	EnableDebug bool
	// Metrics is the registry /metrics serves (the agent adds its own
	// collectors to it); nil uses a fresh one.
	Metrics *prometheus.Registry
	// LogBroker is the log fan-out behind this agent's Monitor RPC; nil
	// answers Monitor with FAILED_PRECONDITION.
	LogBroker *rpc.LogBroker
	// DebugConfig is served at /debug/config: the version and configuration
	// with secrets redacted.
	DebugConfig any

	// advertiseHTTP is the HTTP address published in gossip (set by New
	// once --http-addr is bound), so `grid debug bundle` can find it.
	advertiseHTTP string
}

// DefaultConfig returns the seeds' defaults.
func DefaultConfig() Config {
	host, _ := os.Hostname()
	if host == "" {
		host = "agent"
	}
	return Config{
		AgentID:             host,
		Platform:            defaultPlatform(),
		DataDir:             "./data/agent",
		GRPCAddr:            ":8001",
		GossipAddr:          ":7947",
		MaxNodes:            5,
		PortRangeStart:      50051,
		PortRangeEnd:        50150,
		NodeArgs:            []string{"storage-node"},
		DefaultMemoryMB:     512,
		HeartbeatInterval:   5 * time.Second,
		HealthCheckInterval: 10 * time.Second,
		HealthCheckFailures: 3,
		HoldRecovered:       15 * time.Second,
		RestartFailedNodes:  true,
		RestartMaxAttempts:  3,
		RestartWindow:       10 * time.Minute,
		RestartBackoff:      200 * time.Millisecond,
		StopGrace:           5 * time.Second,
		StartTimeout:        15 * time.Second,
		CgroupParent:        "/sys/fs/cgroup/grid",
		EventQueueSize:      4096,
		EventBatchSize:      256,
		Version:             "dev",
	}
}

// Validate checks every field and fills derived ones (AdvertiseAddr,
// BinaryPath, an absolute DataDir). Errors name the key and the allowed range.
func (c *Config) Validate() error {
	if err := c.TLS.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if n := len(c.GossipKey); n != 0 && n != 16 && n != 24 && n != 32 {
		return fmt.Errorf("%w: gossip key (--encrypt) is %d bytes; want 16, 24 or 32", ErrInvalidConfig, n)
	}
	if err := security.ValidateTokens(c.APIToken, ""); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if err := ValidateNodeID(c.AgentID); err != nil {
		return fmt.Errorf("%w: agent_id (--id) %q: must be 1-128 characters of [A-Za-z0-9._-]", ErrInvalidConfig, c.AgentID)
	}
	if c.DataDir == "" {
		return fmt.Errorf("%w: data_path (--data-dir) is empty", ErrInvalidConfig)
	}
	abs, err := filepath.Abs(c.DataDir)
	if err != nil {
		return fmt.Errorf("%w: data_path (--data-dir) %q: %v", ErrInvalidConfig, c.DataDir, err)
	}
	c.DataDir = abs
	_, grpcPort, err := splitHostPort(c.GRPCAddr)
	if err != nil {
		return fmt.Errorf("%w: agent_port/--grpc-addr %q: %v", ErrInvalidConfig, c.GRPCAddr, err)
	}
	if c.AdvertiseAddr == "" {
		c.AdvertiseAddr = deriveAdvertise(c.GRPCAddr)
	} else if _, port, err := splitHostPort(c.AdvertiseAddr); err != nil || (port == 0 && grpcPort != 0) {
		return fmt.Errorf("%w: --advertise-addr %q: want host:port with a non-zero port", ErrInvalidConfig, c.AdvertiseAddr)
	}
	if len(c.Join) > 0 {
		if _, _, err := splitHostPort(c.GossipAddr); err != nil {
			return fmt.Errorf("%w: --gossip-addr %q: %v", ErrInvalidConfig, c.GossipAddr, err)
		}
	}
	if len(c.Join) == 0 && len(c.Masters) == 0 {
		return fmt.Errorf("%w: no masters: set master_endpoint (--masters) or --join", ErrInvalidConfig)
	}
	for i, m := range c.Masters {
		m = normalizeEndpoint(m)
		if _, port, err := splitHostPort(m); err != nil || port == 0 {
			return fmt.Errorf("%w: master_endpoint (--masters) %q: want host:port", ErrInvalidConfig, c.Masters[i])
		}
		c.Masters[i] = m
	}
	if c.MaxNodes < 1 || c.MaxNodes > 1000 {
		return fmt.Errorf("%w: max_storage_nodes (--max-nodes) %d: allowed range is 1-1000", ErrInvalidConfig, c.MaxNodes)
	}
	if c.PortRangeStart < 1 || c.PortRangeStart > 65535 {
		return fmt.Errorf("%w: default_port_range_start %d: allowed range is 1-65535", ErrInvalidConfig, c.PortRangeStart)
	}
	if c.PortRangeEnd < c.PortRangeStart || c.PortRangeEnd > 65535 {
		return fmt.Errorf("%w: default_port_range_end %d: allowed range is %d-65535 (not below the start)", ErrInvalidConfig, c.PortRangeEnd, c.PortRangeStart)
	}
	if c.DefaultMemoryMB < MinMemoryLimitMB || c.DefaultMemoryMB > MaxMemoryLimitMB {
		return fmt.Errorf("%w: default_memory_mb %d: allowed range is %d-%d", ErrInvalidConfig, c.DefaultMemoryMB, MinMemoryLimitMB, MaxMemoryLimitMB)
	}
	if err := checkDuration("heartbeat_interval_secs (--heartbeat-interval)", c.HeartbeatInterval, 10*time.Millisecond, time.Hour); err != nil {
		return err
	}
	if err := checkDuration("health_check_interval_secs", c.HealthCheckInterval, 10*time.Millisecond, time.Hour); err != nil {
		return err
	}
	if c.HealthCheckFailures < 0 || c.HealthCheckFailures > 100 {
		return fmt.Errorf("%w: health check failures %d: allowed range is 0-100", ErrInvalidConfig, c.HealthCheckFailures)
	}
	if c.RestartMaxAttempts < 0 || c.RestartMaxAttempts > 100 {
		return fmt.Errorf("%w: restart_max_attempts %d: allowed range is 0-100", ErrInvalidConfig, c.RestartMaxAttempts)
	}
	if err := checkDuration("restart_window_secs", c.RestartWindow, time.Second, 7*24*time.Hour); err != nil {
		return err
	}
	if err := checkDuration("restart backoff", c.RestartBackoff, time.Millisecond, time.Hour); err != nil {
		return err
	}
	if err := checkDuration("stop grace", c.StopGrace, 10*time.Millisecond, 10*time.Minute); err != nil {
		return err
	}
	if err := checkDuration("start timeout", c.StartTimeout, 100*time.Millisecond, 10*time.Minute); err != nil {
		return err
	}
	if c.EventQueueSize < 1 {
		return fmt.Errorf("%w: event queue size %d: must be at least 1", ErrInvalidConfig, c.EventQueueSize)
	}
	if c.EventBatchSize < 1 {
		return fmt.Errorf("%w: event batch size %d: must be at least 1", ErrInvalidConfig, c.EventBatchSize)
	}
	if c.BinaryPath == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("%w: binary_path (--binary) is empty and the own executable is unknown: %v", ErrInvalidConfig, err)
		}
		c.BinaryPath = exe
	}
	if !filepath.IsAbs(c.BinaryPath) {
		abs, err := filepath.Abs(c.BinaryPath)
		if err != nil {
			return fmt.Errorf("%w: binary_path (--binary) %q: %v", ErrInvalidConfig, c.BinaryPath, err)
		}
		c.BinaryPath = abs
	}
	if st, err := os.Stat(c.BinaryPath); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		return fmt.Errorf("%w: binary_path (--binary) %q is not an executable file", ErrInvalidConfig, c.BinaryPath)
	}
	return nil
}

// AdvertiseHost is the host part of AdvertiseAddr; node endpoints use it.
func (c *Config) AdvertiseHost() string {
	host, _, err := net.SplitHostPort(c.AdvertiseAddr)
	if err != nil || host == "" {
		return "127.0.0.1"
	}
	return host
}

func checkDuration(key string, d, lo, hi time.Duration) error {
	if d < lo || d > hi {
		return fmt.Errorf("%w: %s %s: allowed range is %s-%s", ErrInvalidConfig, key, d, lo, hi)
	}
	return nil
}

// splitHostPort parses host:port with a numeric port (0 allowed).
func splitHostPort(addr string) (string, int, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("port %q is not a number in 0-65535", portStr)
	}
	return host, port, nil
}

// deriveAdvertise turns a bind address into one others can dial.
func deriveAdvertise(bind string) string {
	host, port, err := net.SplitHostPort(bind)
	if err != nil {
		return bind
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// normalizeEndpoint strips a seed-style scheme ("http://localhost:7000").
func normalizeEndpoint(s string) string {
	s = strings.TrimSpace(s)
	for _, p := range []string{"http://", "https://", "grpc://", "dns:///"} {
		s = strings.TrimPrefix(s, p)
	}
	return strings.TrimSuffix(s, "/")
}

func defaultPlatform() string {
	return "linux-" + archName()
}
