package cluster

import (
	"fmt"
	"math"
	"time"

	"github.com/gridctl/grid/cluster/events"
	"github.com/gridctl/grid/cluster/nodes"
	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/rpc/security"
	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
)

// RaftProfile names a set of Raft timings.
type RaftProfile string

const (
	// RaftProfileDefault: HeartbeatTimeout and ElectionTimeout 400 ms,
	// LeaderLeaseTimeout 390 ms, CommitTimeout 20 ms. Sized for a LAN: a
	// SIGKILLed leader is replaced and the next write commits in about
	// 0.5 s (make bench: p50 ~510 ms, p90 ~550 ms; the followers notice a
	// dead leader after 400-500 ms, watchLeaderContact in leader.go, the
	// rest is the election, the new leader's barrier and the write; a
	// leader that is alive but slow is left to raft's randomised check,
	// up to 2x later), with enough
	// slack that a busy CPU does not cause spurious elections: a follower
	// needs 400 ms without a heartbeat (sent every 40 ms) before it calls
	// one, and the heartbeat and event loads of make bench on 2 shared
	// cores cause none (spurious_leader_changes); the leader steps down
	// only after 390 ms without a quorum's answer (it was 300 ms: under
	// heavy load with followers writing snapshots that alone caused
	// elections; it does not slow failover). Consistent reads hold a
	// lease of half the HeartbeatTimeout (200 ms, lease.go).
	RaftProfileDefault RaftProfile = "default"
	// RaftProfileFast: HeartbeatTimeout and ElectionTimeout 150 ms,
	// LeaderLeaseTimeout 140 ms, CommitTimeout 10 ms: failover in about
	// 0.25 s on idle, fast networks; less tolerant of CPU stalls (150 ms
	// without a heartbeat calls an election). Read lease 75 ms.
	RaftProfileFast RaftProfile = "fast"
)

// A profile's LeaderLeaseTimeout stays just below its HeartbeatTimeout: raft
// requires it not to exceed it, and watchLeaderContact briefly lowers the
// heartbeat timeout by a nanosecond to wake raft's contact check.

// RaftTimings are the Raft timing knobs a profile sets.
type RaftTimings struct {
	// HeartbeatTimeout is how long a follower waits without leader contact
	// before starting an election.
	HeartbeatTimeout time.Duration
	// ElectionTimeout is how long a candidate waits for votes.
	ElectionTimeout time.Duration
	// LeaderLeaseTimeout is how long a leader stays leader without quorum contact.
	LeaderLeaseTimeout time.Duration
	// CommitTimeout bounds how long a commit waits before a heartbeat carries it.
	CommitTimeout time.Duration
}

// Timings returns the profile's timings; an unknown profile is an error.
func (p RaftProfile) Timings() (RaftTimings, error) {
	switch p {
	case RaftProfileDefault, "":
		return RaftTimings{400 * time.Millisecond, 400 * time.Millisecond, 390 * time.Millisecond, 20 * time.Millisecond}, nil
	case RaftProfileFast:
		return RaftTimings{150 * time.Millisecond, 150 * time.Millisecond, 140 * time.Millisecond, 10 * time.Millisecond}, nil
	}
	return RaftTimings{}, fmt.Errorf("%w: raft profile %q (want default or fast)", ErrInvalid, string(p))
}

// Config configures a Master. Build one with DefaultConfig and override fields.
type Config struct {
	// ID is this master's unique id (Raft server id and gossip node name).
	ID string
	// Version is this master's Grid version, answered to registering agents
	// as master_version; empty answers "dev".
	Version string
	// DataDir holds raft/ (log, stable store, snapshots), events/ and identity.json.
	DataDir string

	// GRPCAddr is the gRPC listen address (host:port; port 0 picks a free one).
	GRPCAddr string
	// RaftAddr is the Raft TCP transport listen address.
	RaftAddr string
	// GossipAddr is the memberlist listen address (TCP and UDP).
	GossipAddr string
	// HTTPAddr is where the REST API listens; only advertised in gossip and
	// status (the cmd package serves it).
	HTTPAddr string

	// AdvertiseGRPC is the gRPC address others dial; empty derives it from
	// GRPCAddr (0.0.0.0/:: become the first non-loopback address).
	AdvertiseGRPC string
	// AdvertiseRaft is the Raft address others dial; empty derives it from RaftAddr.
	AdvertiseRaft string
	// AdvertiseGossip is the gossip address others dial; empty derives it from GossipAddr.
	AdvertiseGossip string
	// AdvertiseHTTP is the REST address shown to clients; empty derives it from HTTPAddr.
	AdvertiseHTTP string

	// BootstrapExpect, when > 0, bootstraps a new cluster once this many
	// masters with the same expectation see each other by gossip. 0 joins only.
	BootstrapExpect int
	// Join lists gossip addresses of existing members; joining is retried
	// with backoff until it works or the master shuts down.
	Join []string

	// RaftProfile picks the Raft timings (see RaftProfileDefault).
	RaftProfile RaftProfile
	// RaftTimings, when non-zero, overrides the profile (tests).
	RaftTimings RaftTimings
	// SnapshotThreshold is how many log entries trigger a snapshot (raft's
	// own trigger; SnapshotLogBytes is the one that usually fires first).
	SnapshotThreshold uint64
	// SnapshotInterval is how often raft checks whether to snapshot.
	SnapshotInterval time.Duration
	// TrailingLogs is how many entries are kept after a snapshot.
	TrailingLogs uint64

	// HeartbeatInterval is the interval agents are told to heartbeat at
	// (the shortest: see MaxHeartbeatsPerSecond).
	HeartbeatInterval time.Duration
	// MaxHeartbeatsPerSecond caps the heartbeats the whole fleet sends the
	// leader: agents are told max(HeartbeatInterval, agents / this), and
	// their degraded/offline deadlines stretch alike (0: no cap).
	MaxHeartbeatsPerSecond float64
	// DegradedAfter is the silence after which an agent is degraded.
	DegradedAfter time.Duration
	// OfflineAfter is the silence after which an agent is offline; also the
	// grace a new leader gives every agent before judging it.
	OfflineAfter time.Duration

	// AutopilotCleanup lets autopilot remove dead masters from the Raft configuration.
	AutopilotCleanup bool
	// ServerStabilizationTime is how long a new master must be healthy
	// before autopilot promotes it to voter.
	ServerStabilizationTime time.Duration
	// MinQuorum is the fewest voters autopilot's cleanup may leave; dead
	// masters are never removed below it.
	MinQuorum int
	// LastContactThreshold is how long without leader contact makes a master unhealthy.
	LastContactThreshold time.Duration

	// HealthInterval is how often the leader evaluates cluster health.
	HealthInterval time.Duration
	// LeaderWait is how long a request waits for a leader before failing UNAVAILABLE.
	LeaderWait time.Duration
	// ApplyTimeout bounds one Raft apply.
	ApplyTimeout time.Duration
	// VerifyInterval is how often the leader compares every master's state
	// digest in the background (verify.go); 0 turns the check off.
	VerifyInterval time.Duration

	// Gossip tunes memberlist probing.
	Gossip GossipConfig

	// Events configures the event pipeline (package cluster/events); its
	// MasterID, CommitTimeout, Logger and Metrics are set by New.
	Events events.Config
	// Nodes tunes storage-node orchestration on the leader (timeouts,
	// retries, reconcile pacing); zero fields take DefaultNodeConfig's values.
	Nodes NodeConfig
	// Snapshots schedules snapshot files of this master's state (off by default).
	Snapshots SnapshotConfig

	// TLS is this master's TLS material; when Enabled the gRPC port and the
	// Raft transport demand mutual TLS and every outgoing dial presents it.
	TLS security.TLSFiles
	// GossipKey, when set (16, 24 or 32 bytes), encrypts gossip; members
	// without the same key are never seen.
	GossipKey []byte
	// APIToken, when set, is required on every mutating gRPC call and is
	// sent on this master's own calls (forwarding, agents).
	APIToken string
	// ReadToken, when set, is required (or APIToken) on read calls too.
	ReadToken string
	// ACL turns ACL tokens on (--acl): tokens are Raft-replicated, stored
	// hashed, and every call needs a token with the capability it uses.
	ACL bool
	// AgentToken, when set, is sent on this master's calls to agents
	// instead of APIToken (agents check it as their --master-token).
	AgentToken string
	// MaxStreams bounds open event streams per token or client address.
	MaxStreams int
	// MaxSnapshotSize caps a snapshot upload (RestoreSnapshot), in bytes.
	MaxSnapshotSize int64
	// RateLimits bound per-agent heartbeats and per-source event calls.
	RateLimits RateLimitConfig

	// Metrics is where Prometheus collectors are registered; nil disables them.
	Metrics prometheus.Registerer
	// Logger is the root logger; nil discards.
	Logger hclog.Logger
	// LogBroker, when set, is the process's log fan-out behind the Monitor
	// RPC (`grid monitor`); nil answers Monitor for this master with
	// FAILED_PRECONDITION.
	LogBroker *rpc.LogBroker

	// SnapshotLogBytes: a master also snapshots once this many bytes of
	// entries were appended to its log since its last snapshot (0: only
	// SnapshotThreshold counts); see snapshot_logsize.go.
	SnapshotLogBytes uint64
	// SnapshotLogCheck is how often the log's growth is checked.
	SnapshotLogCheck time.Duration

	// RaftLogStore is the Raft log store: "boltdb" (raft-boltdb) or "wal"
	// (raft-wal); "" picks the one the data dir holds, wal for a new data
	// dir (raft.db keeps boltdb). See raft_logstore.go.
	RaftLogStore string
}

// DefaultMaxSnapshotSize is the default cap of a snapshot upload (1 GiB).
const DefaultMaxSnapshotSize = 1 << 30

// NodeConfig tunes storage-node orchestration (package cluster/nodes).
type NodeConfig = nodes.Config

// DefaultNodeConfig returns the seeds' timeouts and retries and a 10 s
// reconcile interval.
func DefaultNodeConfig() NodeConfig { return nodes.DefaultConfig() }

// GossipConfig tunes memberlist (a LAN profile with shorter probes).
type GossipConfig struct {
	// ProbeInterval is how often a random member is probed.
	ProbeInterval time.Duration
	// ProbeTimeout is how long a probe waits for an ack.
	ProbeTimeout time.Duration
	// GossipInterval is how often gossip messages are sent.
	GossipInterval time.Duration
	// SuspicionMult scales how long a suspect member has before being declared dead.
	SuspicionMult int
	// PushPullInterval is how often a full state sync happens.
	PushPullInterval time.Duration
}

// DefaultConfig returns production defaults: ports 7000/7001/7946/9000, the
// default Raft profile and the seed's heartbeat thresholds (5 s, 15 s, 30 s).
func DefaultConfig() Config {
	return Config{
		GRPCAddr:                ":7000",
		RaftAddr:                ":7001",
		GossipAddr:              ":7946",
		HTTPAddr:                ":9000",
		RaftProfile:             RaftProfileDefault,
		SnapshotThreshold:       131072,
		SnapshotInterval:        30 * time.Second,
		TrailingLogs:            10240,
		SnapshotLogBytes:        256 << 20,
		SnapshotLogCheck:        5 * time.Second,
		HeartbeatInterval:       5 * time.Second,
		MaxHeartbeatsPerSecond:  2000,
		DegradedAfter:           15 * time.Second,
		OfflineAfter:            30 * time.Second,
		AutopilotCleanup:        true,
		MinQuorum:               3,
		ServerStabilizationTime: 10 * time.Second,
		LastContactThreshold:    2 * time.Second,
		HealthInterval:          time.Second,
		LeaderWait:              5 * time.Second,
		ApplyTimeout:            10 * time.Second,
		VerifyInterval:          time.Minute,
		Gossip: GossipConfig{
			ProbeInterval:    500 * time.Millisecond,
			ProbeTimeout:     250 * time.Millisecond,
			GossipInterval:   100 * time.Millisecond,
			SuspicionMult:    3,
			PushPullInterval: 15 * time.Second,
		},
		Events:     events.DefaultConfig(),
		Nodes:      DefaultNodeConfig(),
		Snapshots:  DefaultSnapshotConfig(),
		RateLimits: DefaultRateLimitConfig(),

		MaxStreams:      security.DefaultMaxStreams,
		MaxSnapshotSize: DefaultMaxSnapshotSize,
	}
}

// validate checks the config and fills derived defaults.
func (c *Config) validate() error {
	if err := validLogStore(c.RaftLogStore); err != nil {
		return err
	}
	if err := rpc.ValidateID("id", c.ID); err != nil {
		return err
	}
	if c.DataDir == "" {
		return fmt.Errorf("%w: data_dir is empty", ErrInvalid)
	}
	if c.BootstrapExpect < 0 {
		return fmt.Errorf("%w: bootstrap_expect %d is negative", ErrInvalid, c.BootstrapExpect)
	}
	if c.RaftTimings == (RaftTimings{}) {
		t, err := c.RaftProfile.Timings()
		if err != nil {
			return err
		}
		c.RaftTimings = t
	}
	if c.HeartbeatInterval <= 0 || c.DegradedAfter <= 0 || c.OfflineAfter <= c.DegradedAfter {
		return fmt.Errorf("%w: heartbeat timings: want interval > 0, degraded_after > 0 and offline_after > degraded_after (got %s, %s, %s)",
			ErrInvalid, c.HeartbeatInterval, c.DegradedAfter, c.OfflineAfter)
	}
	if r := c.MaxHeartbeatsPerSecond; r < 0 || math.IsNaN(r) || math.IsInf(r, 0) {
		return fmt.Errorf("%w: max_heartbeats_per_second %v: want a finite number >= 0 (0: no cap)", ErrInvalid, r)
	}
	if err := c.TLS.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if n := len(c.GossipKey); n != 0 && n != 16 && n != 24 && n != 32 {
		return fmt.Errorf("%w: gossip key is %d bytes; want 16, 24 or 32", ErrInvalid, n)
	}
	if err := security.ValidateTokens(c.APIToken, c.ReadToken); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := c.RateLimits.validate(); err != nil {
		return err
	}
	if c.Logger == nil {
		c.Logger = hclog.NewNullLogger()
	}
	return nil
}
