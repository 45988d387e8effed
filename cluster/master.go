package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gridctl/grid/cluster/events"
	"github.com/gridctl/grid/cluster/liveness"
	"github.com/gridctl/grid/cluster/nodes"
	"github.com/gridctl/grid/fsm"
	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/rpc/security"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
)

// Addresses are the addresses other processes dial to reach a master.
type Addresses struct {
	GRPC   string
	Raft   string
	Gossip string
	HTTP   string
}

// Master is one Grid master, assembled from parts: the replicated state
// (fsm) and the Raft node that drives it (consensus), membership (gossip),
// the gRPC endpoint, and the leader-only parts (liveness timers, autopilot,
// the event pipeline, node orchestration). New builds every part at start-up
// and wires them; the domain logic lives in the parts.
type Master struct {
	config    Config
	logger    hclog.Logger
	identity  *identityStore
	advertise Addresses

	fsm       *fsm.FSM
	consensus consensus
	members   membership
	endpoint  grpcEndpoint

	heartbeats *liveness.HeartbeatTimers
	// hbStreams ends the open heartbeat streams when leadership ends
	// (heartbeat_stream.go).
	hbStreams heartbeatStreams
	events    *events.Pipeline
	nodes     *nodes.Orchestrator
	autopilot autopilotPart
	health    *healthMonitor
	metrics   *masterMetrics

	lifecycle lifecycle
}

// consensus is the Raft node: raft itself, its stores and transport, and
// whether this master serves as a ready leader.
type consensus struct {
	raft      *raft.Raft
	store     raftLogStore      // raft_logstore.go
	counted   *countingLogStore // store, counting appended bytes (snapshot_logsize.go)
	transport *raft.NetworkTransport
	notifyCh  chan bool
	snapshots raft.SnapshotStore
	// hadState: the data dir held Raft state at start (no bootstrap then).
	hadState bool
	// leaderReady is true once this leader's barrier has applied every
	// committed entry and establishLeadership ran; forward serves locally
	// only then, so a fresh leader never answers from a stale FSM.
	leaderReady leaderReadiness // leader_ready.go
	// leaderTerm is the Raft term of this master's current (or last)
	// leadership, set in establishLeadership and never cleared: every order
	// to an agent carries it (fencing, package nodes).
	leaderTerm atomic.Uint64
	// gate caches the version gate's verdicts (version_gate.go).
	gate versionGateCache
	// lease is the leader's read lease for consistent reads (lease.go).
	lease readLease
}

// grpcEndpoint is the gRPC side of a master: the server on its gRPC port,
// the credentials of every outgoing dial (dial.go), the cached connection
// to the leader (forward.go) and the limiter of REQUEST_REFUSED events.
type grpcEndpoint struct {
	server   *grpc.Server
	listener net.Listener
	// dialCreds are the transport credentials of every outgoing dial.
	dialCreds  transportCredentials
	leaderConn *leaderConnCache
	// auditLimiter bounds REQUEST_REFUSED events per method and peer host.
	auditLimiter *keyedLimiter
	// auth decides tokens and capabilities (gRPC and REST); streams
	// bounds open event streams per token or client.
	auth    *security.Authorizer
	streams *security.StreamLimiter
	// health is grpc.health.v1.Health (grpc_health.go).
	health *health.Server
	// requests serialises the tries of one request id (idempotent.go).
	requests requestLocks
	// limits are the per-agent heartbeat and per-source event rate limits
	// (ratelimit.go), shared by the unary and the streamed heartbeat.
	limits *callLimiter
}

// lifecycle tracks the master's own goroutines and its shutdown.
type lifecycle struct {
	shutdownCh chan struct{}
	once       sync.Once
	err        error
	wg         sync.WaitGroup
}

// New validates cfg, opens the data dir and starts the master: raft,
// gossip (joining cfg.Join in the background), the gRPC server, the event
// pipeline, bootstrap (when BootstrapExpect > 0) and leadership monitoring.
func New(cfg Config) (*Master, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	m := &Master{
		config:    cfg,
		logger:    cfg.Logger.Named("master").With("master_id", cfg.ID),
		members:   membership{reconcileCh: make(chan struct{}, 1)},
		lifecycle: lifecycle{shutdownCh: make(chan struct{})},
	}
	m.members.mismatch.Store("")
	if err := m.start(); err != nil {
		m.closeAll()
		return nil, err
	}
	return m, nil
}

func (m *Master) start() error {
	if err := os.MkdirAll(m.config.DataDir, 0o755); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	id, err := loadIdentity(m.config.DataDir, m.config.ID)
	if err != nil {
		return err
	}
	m.members.peers = loadKnownPeers(m.config.DataDir)
	m.identity = id
	if err := m.loadDialCredentials(); err != nil {
		return err
	}
	m.endpoint.auditLimiter = newKeyedLimiter(1/auditInterval.Seconds(), auditBurst, m.config.RateLimits.MaxTracked)

	// Listen for gRPC first: its port decides the advertised address.
	lis, err := net.Listen("tcp", m.config.GRPCAddr)
	if err != nil {
		return fmt.Errorf("grpc listen on %s: %w", m.config.GRPCAddr, err)
	}
	m.endpoint.listener = lis
	if m.advertise.GRPC, err = advertiseAddr(m.config.AdvertiseGRPC, m.config.GRPCAddr, lis.Addr()); err != nil {
		return err
	}
	if m.advertise.Raft, err = advertiseAddr(m.config.AdvertiseRaft, m.config.RaftAddr, nil); err != nil {
		return err
	}
	if m.advertise.Gossip, err = advertiseAddr(m.config.AdvertiseGossip, m.config.GossipAddr, nil); err != nil {
		return err
	}
	if m.advertise.HTTP, err = advertiseAddr(m.config.AdvertiseHTTP, m.config.HTTPAddr, nil); err != nil {
		return err
	}

	m.metrics = newMasterMetrics(m)
	m.health = newHealthMonitor(m)
	m.endpoint.leaderConn = newLeaderConnCache(m.dialOptions(grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(16 << 20))))

	f, err := fsm.New(fsm.Config{DataDir: m.config.DataDir, Logger: m.config.Logger, OnStoreFailure: m.storeFailed,
		Version: m.masterVersion(), NewestPeerVersion: m.newestMasterVersion})
	if err != nil {
		return err
	}
	m.fsm = f
	m.endpoint.auth = m.newAuthorizer()
	m.endpoint.streams = security.NewStreamLimiter(m.config.MaxStreams)
	agentPool := nodes.NewAgentPool(m.agentDialOptions())
	m.heartbeats = liveness.New(liveness.Config{
		MasterID:               m.config.ID,
		HeartbeatInterval:      m.config.HeartbeatInterval,
		MaxHeartbeatsPerSecond: m.config.MaxHeartbeatsPerSecond,
		DegradedAfter:          m.config.DegradedAfter,
		OfflineAfter:           m.config.OfflineAfter,
		DeadlineTick:           liveness.DefaultDeadlineTick,
		OnTransition:           func(status string) { m.metrics.agentTransitions.WithLabelValues(status).Inc() },
		OnOffline:              agentPool.Drop, // an offline agent keeps no connection on the leader
	}, m.logger, f, liveness.CommitterFunc(m.commitAgentStatuses), liveness.LeadershipFunc(m.isLeader))
	if m.events, err = m.newEventPipeline(); err != nil {
		return err
	}
	m.nodes = nodes.New(m.config.Nodes, nodes.Deps{
		Registry:   f,
		Applier:    nodes.ApplyFunc(m.raftApply),
		Emitter:    nodes.EmitFunc(m.emit),
		Agents:     agentPool,
		Leadership: nodes.NotLeaderFunc(isNotLeaderErr),
		Fencing:    nodes.FencingFuncs{Term: m.consensus.leaderTerm.Load, Verify: m.verifyLeader},
		Silence:    m.agentSilence,
		Forget:     func(id string) { m.heartbeats.Remove(id); agentPool.Drop(id) },
		NoNodes:    m.heartbeats.RunsNoNodes,
		Source:     m.config.ID,
		Logger:     m.logger,
		Metrics:    m.config.Metrics,
	})
	if err := m.setupRaft(); err != nil {
		return err
	}
	m.runStoreMetrics()
	m.runSnapshotSchedule()
	if err := m.setupGossip(); err != nil {
		return err
	}
	m.setupAutopilot()

	serverOpts, err := m.grpcServerOptions()
	if err != nil {
		return err
	}
	m.endpoint.server = grpc.NewServer(serverOpts...)
	rpc.RegisterGridMasterServer(m.endpoint.server, &gridService{m: m})
	rpc.RegisterStorageServiceServer(m.endpoint.server, m.storageService())
	m.endpoint.health = newGRPCHealth()
	healthpb.RegisterHealthServer(m.endpoint.server, m.endpoint.health)
	reflection.Register(m.endpoint.server)
	m.lifecycle.wg.Add(1)
	go func() {
		defer m.lifecycle.wg.Done()
		if err := m.endpoint.server.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			m.logger.Error("grpc server stopped", "error", err)
		}
	}()

	m.events.Start()

	m.lifecycle.wg.Add(3)
	go m.monitorLeadership()
	go m.monitorClusterID()
	go m.health.run()
	if m.config.BootstrapExpect > 0 && !m.consensus.hadState {
		m.lifecycle.wg.Add(1)
		go m.bootstrapLoop()
	}
	if len(m.joinAddrs()) > 0 {
		if err := m.firstJoin(); err != nil {
			return err
		}
	}
	m.logger.Info("master started", "grpc_addr", m.advertise.GRPC, "raft_addr", m.advertise.Raft,
		"gossip_addr", m.advertise.Gossip, "http_addr", m.advertise.HTTP,
		"bootstrap_expect", m.config.BootstrapExpect, "raft_state", m.consensus.hadState)
	return nil
}

// firstJoin tries the join addresses once: a refusal because the other side
// belongs to another cluster fails start; other failures retry in the background.
func (m *Master) firstJoin() error {
	addrs := m.joinAddrs()
	n, err := m.Join(addrs)
	if errors.Is(err, ErrIdentity) {
		return err
	}
	if err == nil {
		m.logger.Info("joined gossip", "contacted", n, "addrs", addrs)
		return nil
	}
	m.logger.Warn("gossip join failed, retrying in the background", "addrs", addrs, "error", err)
	m.lifecycle.wg.Add(1)
	go m.joinLoop(addrs)
	return nil
}

// ID is this master's id.
func (m *Master) ID() string { return m.config.ID }

// Addresses are the advertised addresses (with ports chosen by the OS filled in).
func (m *Master) Addresses() Addresses { return m.advertise }

// FSM is the replicated state (read-only use).
func (m *Master) FSM() *fsm.FSM { return m.fsm }

// Raft is the underlying raft instance (tests and diagnostics).
func (m *Master) Raft() *raft.Raft { return m.consensus.raft }

// Done is closed when the master begins shutting down.
func (m *Master) Done() <-chan struct{} { return m.lifecycle.shutdownCh }

// kickReconcile asks the leader loop to reconcile gossip with raft soon.
func (m *Master) kickReconcile() {
	select {
	case m.members.reconcileCh <- struct{}{}:
	default:
	}
}

// Shutdown leaves gracefully: a leader hands leadership to another voter,
// the master leaves gossip, stops serving, shuts raft down and closes its
// stores. ctx bounds the leadership transfer and the gRPC drain.
func (m *Master) Shutdown(ctx context.Context) error {
	m.lifecycle.once.Do(func() {
		m.logger.Info("master leaving")
		if m.events != nil {
			m.events.Stop() // flush queued events while raft and gossip still work
		}
		if m.consensus.raft != nil && m.isLeader() {
			m.consensus.lease.suspend() // never resumed: this master is leaving
			if err := m.consensus.raft.LeadershipTransfer().Error(); err != nil {
				m.logger.Warn("leadership transfer on leave failed", "error", err)
			}
		}
		if m.members.gossip != nil {
			if err := m.members.gossip.ml.Leave(time.Second); err != nil {
				m.logger.Warn("gossip leave failed", "error", err)
			}
		}
		if m.endpoint.health != nil {
			m.endpoint.health.Shutdown() // NOT_SERVING to every probe and watcher
		}
		if m.endpoint.server != nil {
			done := make(chan struct{})
			go func() { m.endpoint.server.GracefulStop(); close(done) }()
			select {
			case <-done:
			case <-ctx.Done():
				m.endpoint.server.Stop()
			}
		}
		m.closeAll()
	})
	return m.lifecycle.err
}

// Kill stops the master abruptly, as a crash would: no leadership
// transfer, no gossip leave (tests use it to simulate SIGKILL).
func (m *Master) Kill() {
	m.lifecycle.once.Do(func() {
		m.logger.Info("master killed")
		if m.endpoint.server != nil {
			m.endpoint.server.Stop()
		}
		m.closeAll()
	})
}

// closeAll stops goroutines and closes everything that was opened.
func (m *Master) closeAll() {
	close(m.lifecycle.shutdownCh)
	if m.endpoint.server != nil {
		m.endpoint.server.Stop()
	} else if m.endpoint.listener != nil {
		_ = m.endpoint.listener.Close()
	}
	if m.events != nil {
		m.events.Stop()
	}
	var errs []error
	// Close the transport first: a peer's pipelined AppendEntries to this
	// master would otherwise wait forever for an answer from a raft that no
	// longer reads, and that peer's own shutdown would hang on it.
	if m.consensus.transport != nil {
		_ = m.consensus.transport.Close()
	}
	if m.fsm != nil {
		m.fsm.StopPacing() // raft waits for a snapshot being written
	}
	if m.consensus.raft != nil {
		if err := m.consensus.raft.Shutdown().Error(); err != nil {
			errs = append(errs, fmt.Errorf("raft shutdown: %w", err))
		}
	}
	if m.members.gossip != nil {
		if err := m.members.gossip.ml.Shutdown(); err != nil {
			errs = append(errs, fmt.Errorf("gossip shutdown: %w", err))
		}
	}
	m.lifecycle.wg.Wait()
	if m.heartbeats != nil {
		m.heartbeats.Clear()
	}
	if m.endpoint.leaderConn != nil {
		m.endpoint.leaderConn.close()
	}
	if m.consensus.store != nil {
		if err := m.consensus.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("raft store close: %w", err))
		}
	}
	if m.fsm != nil {
		if err := m.fsm.Close(); err != nil {
			errs = append(errs, fmt.Errorf("fsm close: %w", err))
		}
	}
	m.metrics.unregister()
	m.lifecycle.err = errors.Join(errs...)
}
