package cluster

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/gridctl/grid/fsm"
	"github.com/gridctl/grid/fsm/faults"
	"github.com/gridctl/grid/rpc/security"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"
)

const (
	// raftDirName is the raft directory inside the data dir.
	raftDirName = "raft"
	// peersFile triggers outage recovery when present in the raft dir.
	peersFile = "peers.json"
	// snapshotsRetained is how many raft snapshots are kept on disk.
	snapshotsRetained = 2
	// logCacheEntries and logCacheBytes bound the in-memory cache of recent
	// log entries (raft_logcache.go), so replication to followers that keep
	// up never reads the log store. Registry entries are a few hundred bytes
	// (the entry bound decides); one event batch can be half a megabyte
	// (the byte bound decides: 4 MiB covers the event batcher's entries in
	// flight). raft's own cache counts entries only: its 64 held ~30 MB of
	// a leader's heap after 1M events.
	logCacheEntries = 256
	logCacheBytes   = 4 << 20
	// raftMaxAppendEntries bounds entries per AppendEntries RPC and per
	// FSM batch (raft's default is 64).
	raftMaxAppendEntries = 128
	// raftStoreOpenTimeout bounds the wait for another process's lock on raft.db.
	raftStoreOpenTimeout = 2 * time.Second
)

// setupRaft opens the raft stores and transport, runs peers.json recovery
// when asked to, and starts raft. It reports whether raft state existed.
func (m *Master) setupRaft() error {
	dir := filepath.Join(m.config.DataDir, raftDirName)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create raft dir: %w", err)
	}
	logger := m.logger.Named("raft")

	store, err := openLogStore(dir, m.config.RaftLogStore, logger)
	if err != nil {
		return err
	}
	m.consensus.store = store
	m.consensus.counted = &countingLogStore{raftLogStore: store}
	logs, err := newLogCache(m.consensus.counted, logCacheEntries, logCacheBytes)
	if err != nil {
		return fmt.Errorf("raft log cache: %w", err)
	}
	// Raft's file snapshot layout, checksummed with CRC-32C and flushed
	// while written (snapshot_store.go, snapshot_writebehind.go).
	snaps, err := newSnapshotStore(dir, snapshotsRetained, logger.Named("snapshot"))
	if err != nil {
		return fmt.Errorf("raft snapshot store: %w", err)
	}
	m.consensus.snapshots = snaps

	// With port 0 and no advertise address the listener's own address is
	// advertised (it must then have a specific host).
	var advertise net.Addr
	if _, port, _ := splitHostPortNum(m.config.RaftAddr); port != 0 || m.config.AdvertiseRaft != "" {
		a, err := net.ResolveTCPAddr("tcp", m.advertise.Raft)
		if err != nil {
			return fmt.Errorf("%w: raft advertise address %q: %v", ErrInvalid, m.advertise.Raft, err)
		}
		advertise = a
	}
	trans, err := m.raftNetworkTransport(advertise, logger)
	if err != nil {
		return fmt.Errorf("raft transport on %s: %w", m.config.RaftAddr, err)
	}
	m.consensus.transport = trans
	m.advertise.Raft = string(trans.LocalAddr())

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(m.config.ID)
	rc.Logger = logger
	t := m.config.RaftTimings
	rc.HeartbeatTimeout = t.HeartbeatTimeout
	rc.ElectionTimeout = t.ElectionTimeout
	rc.LeaderLeaseTimeout = t.LeaderLeaseTimeout
	rc.CommitTimeout = t.CommitTimeout
	m.consensus.lease.length = leaseLength(t)
	// Concurrent Apply calls share one log write and one AppendEntries, and
	// the FSM gets up to MaxAppendEntries entries per ApplyBatch (consecutive
	// event entries then share one event-store commit).
	rc.BatchApplyCh = true
	rc.MaxAppendEntries = raftMaxAppendEntries
	if m.config.SnapshotThreshold > 0 {
		rc.SnapshotThreshold = m.config.SnapshotThreshold
	}
	if m.config.SnapshotInterval > 0 {
		rc.SnapshotInterval = m.config.SnapshotInterval
	}
	if m.config.TrailingLogs > 0 {
		rc.TrailingLogs = m.config.TrailingLogs
	}
	// A removed master stays up (so it can be re-added); a restarted one
	// rejoins through gossip.
	rc.ShutdownOnRemove = false
	m.consensus.notifyCh = make(chan bool, 10)
	rc.NotifyCh = m.consensus.notifyCh

	if err := m.recoverPeers(dir, rc, logs, store, m.consensus.snapshots, trans); err != nil {
		return err
	}

	has, err := raft.HasExistingState(logs, store, m.consensus.snapshots)
	if err != nil {
		return fmt.Errorf("check raft state: %w", err)
	}
	m.consensus.hadState = has

	r, err := raft.NewRaft(rc, m.fsm, logs, store, m.consensus.snapshots, trans)
	if err != nil {
		return fmt.Errorf("start raft: %w", err)
	}
	m.consensus.raft = r
	return nil
}

// raftTransportConfig is the Raft transport's configuration around its
// stream layer. MaxRPCsInFlight 1 turns off hashicorp/raft's pipelined
// replication: in raft v1.7.3 a follower answering an AppendEntries with
// Success=false ends the pipeline's decoder while the sender can still park
// one more send on the pipeline's unbuffered channels, and that follower's
// replication goroutine then waits forever (it never gets another entry,
// heartbeats keep it from calling an election, and Shutdown hangs waiting
// for it): hashicorp/raft#612, the deadlock grafana/pyroscope#5518
// describes. Caught here by TestEventsSurviveLeaderChanges hanging in
// Shutdown. Without the pipeline each AppendEntries waits for its answer
// before the next is sent, with up to raftMaxAppendEntries entries in it;
// HashiCorp's own analysis (raft#541) found pipelining of little benefit
// with batching.
func raftTransportConfig(stream raft.StreamLayer, logger hclog.Logger) *raft.NetworkTransportConfig {
	return &raft.NetworkTransportConfig{
		Stream:          stream,
		MaxPool:         3,
		Timeout:         10 * time.Second,
		Logger:          logger,
		MaxRPCsInFlight: 1,
	}
}

// raftNetworkTransport is the Raft transport: mutual TLS (TLSStreamLayer)
// when Config.TLS is on, plain TCP otherwise.
func (m *Master) raftNetworkTransport(advertise net.Addr, logger hclog.Logger) (*raft.NetworkTransport, error) {
	if !m.config.TLS.Enabled() {
		return raft.NewTCPTransportWithConfig(m.config.RaftAddr, advertise, raftTransportConfig(nil, logger))
	}
	server, err := security.ServerTLSConfig(m.config.TLS)
	if err != nil {
		return nil, err
	}
	client, err := security.ClientTLSConfig(m.config.TLS, "")
	if err != nil {
		return nil, err
	}
	layer, err := NewTLSStreamLayer(m.config.RaftAddr, advertise, server, client)
	if err != nil {
		return nil, err
	}
	if l, ok := layer.(*TLSStreamLayer); ok {
		l.OnRefused = func(peer, reason string) { m.AuditRefused(peer, "raft", reason) }
	}
	return raft.NewNetworkTransportWithConfig(raftTransportConfig(layer, logger)), nil
}

// recoverPeers runs outage recovery when <raft dir>/peers.json exists: the
// file's configuration replaces the cluster's, then it is renamed to
// peers.json.applied so it runs once.
func (m *Master) recoverPeers(dir string, rc *raft.Config, logs raft.LogStore, stable raft.StableStore,
	snaps raft.SnapshotStore, trans raft.Transport) error {
	path := filepath.Join(dir, peersFile)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	conf, err := raft.ReadConfigJSON(path)
	if err != nil {
		return fmt.Errorf("%w: peers.json recovery: %v", ErrInvalid, err)
	}
	// RecoverCluster replays into a throwaway FSM; the real one is rebuilt at start.
	tmp, err := fsm.New(fsm.Config{DataDir: filepath.Join(m.config.DataDir, "recovery"), Logger: m.logger})
	if err != nil {
		return fmt.Errorf("peers.json recovery: %w", err)
	}
	defer func() {
		_ = tmp.Close()
		_ = os.RemoveAll(filepath.Join(m.config.DataDir, "recovery"))
	}()
	if err := raft.RecoverCluster(rc, tmp, logs, stable, snaps, trans, conf); err != nil {
		return fmt.Errorf("peers.json recovery: %w", err)
	}
	if err := os.Rename(path, path+".applied"); err != nil {
		return fmt.Errorf("peers.json recovery: rename: %w", err)
	}
	m.logger.Warn("recovered raft configuration from peers.json", "path", path, "servers", len(conf.Servers))
	return nil
}

// raftApply commits one command. It is leader only (ErrNotLeader wrapped
// otherwise) and returns the FSM's response; an error response becomes the
// returned error.
func (m *Master) raftApply(t fsm.MessageType, msg proto.Message) (any, error) {
	wait, err := m.raftApplyStart(t, msg)
	if err != nil {
		return nil, err
	}
	return wait()
}

// raftApplyStart hands one command to raft and returns once raft has taken
// it (its place in the log order is then fixed); wait returns what
// raftApply would. Callers that start several commands in turn keep several
// entries in flight, in that order (the event batcher's pipeline).
func (m *Master) raftApplyStart(t fsm.MessageType, msg proto.Message) (wait func() (any, error), err error) {
	if m.consensus.raft.State() != raft.Leader {
		return nil, fmt.Errorf("apply %s: %w", t, ErrNotLeader)
	}
	if err := m.votersKnow(t); err != nil {
		return nil, fmt.Errorf("apply %s: %w", t, err)
	}
	buf, err := fsm.Encode(t, msg)
	if err != nil {
		return nil, fmt.Errorf("apply %s: %w", t, err)
	}
	start := time.Now()
	fut := m.consensus.raft.Apply(buf, m.config.ApplyTimeout)
	if t == fsm.AgentStatusBatchType {
		faults.Hit(faults.StatusAppended)
	}
	return func() (any, error) { return m.raftApplyWait(t, fut, start) }, nil
}

// raftApplyWait waits for an apply future and turns its result into
// raftApply's.
func (m *Master) raftApplyWait(t fsm.MessageType, fut raft.ApplyFuture, start time.Time) (any, error) {
	// An apply future can stay unanswered when raft shuts down mid-commit.
	done := make(chan error, 1)
	go func() { done <- fut.Error() }()
	var err error
	select {
	case err = <-done:
	case <-m.lifecycle.shutdownCh:
		return nil, fmt.Errorf("apply %s: %w", t, ErrShutdown)
	}
	if err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			return nil, fmt.Errorf("apply %s: %w: %v", t, ErrNotLeader, err)
		}
		return nil, fmt.Errorf("apply %s: %w", t, err)
	}
	m.metrics.observeApply(t, time.Since(start))
	resp := fut.Response()
	if err, ok := resp.(error); ok {
		return nil, err
	}
	return resp, nil
}

// isLeader reports whether this master is the Raft leader.
func (m *Master) isLeader() bool { return m.consensus.raft.State() == raft.Leader }

// leaderID is the current leader's server id ("" when unknown).
func (m *Master) leaderID() string {
	_, id := m.consensus.raft.LeaderWithID()
	return string(id)
}

// raftConfiguration returns the latest Raft configuration.
func (m *Master) raftConfiguration() (raft.Configuration, error) {
	fut := m.consensus.raft.GetConfiguration()
	if err := fut.Error(); err != nil {
		return raft.Configuration{}, fmt.Errorf("raft configuration: %w", err)
	}
	return fut.Configuration(), nil
}

// hasRaftState reports whether raft has a log, snapshot or configuration.
func (m *Master) hasRaftState() bool {
	if m.consensus.hadState || m.consensus.raft.LastIndex() > 0 {
		return true
	}
	cfg, err := m.raftConfiguration()
	return err == nil && len(cfg.Servers) > 0
}
