package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/hashicorp/go-hclog"
)

// Notifier receives what the Supervisor has to tell the masters. Both
// methods must not block: they are called with the Supervisor's lock held.
type Notifier interface {
	// Emit queues a node event (node_crashed, node_restarted, node_failed).
	Emit(e *rpc.Event)
	// ReportStatus queues a node's new state; the latest state wins.
	ReportStatus(st *rpc.NodeStatus)
}

// SpawnSpec is a spawn order as the Supervisor takes it.
type SpawnSpec struct {
	// NodeID names the node; a second spawn of a running id is a no-op.
	NodeID string
	// Port is the node's gRPC port; 0 picks the first free port in range.
	Port int
	// StoragePath is relative to the data dir; empty = <data>/nodes/<id>.
	StoragePath string
	// MemoryLimitMB is the node's memory limit; 0 = the default.
	MemoryLimitMB uint64
}

// node is a NodeRecord plus the live handles of its current process.
type node struct {
	rec *NodeRecord
	// gen numbers the node's processes; a stale exit is ignored.
	gen uint64
	// exited is closed once the current process has exited and been handled.
	exited chan struct{}
	// unwatch ends a pidfd watch of an adopted process.
	unwatch chan struct{}
	// restartTimer fires a pending restart.
	restartTimer *time.Timer
	// ready is closed when a spawned node's start ends (serving or not);
	// readyErr says why it did not start.
	ready    chan struct{}
	readyErr error
	// unhealthy says why the HealthChecker had the current process killed.
	unhealthy string
}

// Supervisor runs storage-node processes: spawn, watch, restart within the
// RestartPolicy, stop, and the persisted node table.
type Supervisor struct {
	cfg    Config
	policy RestartPolicy
	mem    *MemoryLimiter
	notify Notifier
	logger hclog.Logger

	mu     sync.Mutex
	nodes  map[string]*node
	closed bool
	// stoppedPaths: data directories of nodes stopped here (not persisted),
	// for a migration that follows a stop.
	stoppedPaths map[string]string
	// held: nodes found dead at start-up, not restarted until a master says
	// which of them were moved elsewhere meanwhile (ReleaseHeld), or until
	// cfg.HoldRecovered passes without one.
	held map[string]bool
}

// Runs reports whether nodeID is in the table and not failed or stopped.
func (s *Supervisor) Runs(nodeID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.nodes[nodeID]
	return ok && n.rec.Status != rpc.NodeFailed && n.rec.Status != rpc.NodeStopped
}

// NewSupervisor loads the node table from cfg.DataDir and takes charge of
// it: live nodes (same pid and start time) are re-adopted, dead ones are
// restarted within the restart policy. cfg must be validated.
func NewSupervisor(cfg Config, notify Notifier, logger hclog.Logger) (*Supervisor, error) {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	logger = logger.Named("supervisor")
	for _, dir := range []string{cfg.DataDir, cfg.DataDir + "/nodes", cfg.DataDir + "/logs"} {
		if err := ensureDir(dir); err != nil {
			return nil, fmt.Errorf("create %s: %w", dir, err)
		}
	}
	recs, err := loadState(cfg.DataDir, cfg.AgentID)
	if err != nil {
		return nil, err
	}
	s := &Supervisor{
		cfg:    cfg,
		policy: NewRestartPolicy(cfg),
		mem:    NewMemoryLimiter(cfg.CgroupParent, cfg.AgentID, logger),
		notify: notify,
		logger: logger,
		nodes:  make(map[string]*node),
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rec := range recs {
		s.recoverLocked(rec)
	}
	s.persistLocked()
	if len(s.held) > 0 {
		time.AfterFunc(cfg.HoldRecovered, func() { s.ReleaseHeld(nil) })
	}
	return s, nil
}

// MemoryLimitMode says which hard memory limit applies on this machine.
func (s *Supervisor) MemoryLimitMode() string { return s.mem.Mode() }

// Spawn starts a node and waits until it accepts connections on its port.
// Spawning an id that already runs returns its status without a second
// process.
func (s *Supervisor) Spawn(ctx context.Context, spec SpawnSpec) (*rpc.NodeStatus, error) {
	if err := ValidateNodeID(spec.NodeID); err != nil {
		return nil, fmt.Errorf("node_id %q: %w", spec.NodeID, err)
	}
	mem, err := CheckMemoryLimit(spec.MemoryLimitMB, s.cfg.DefaultMemoryMB)
	if err != nil {
		return nil, err
	}
	path, err := ResolveStoragePath(s.cfg.DataDir, spec.StoragePath, spec.NodeID)
	if err != nil {
		return nil, err
	}

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrSupervisorClosed
	}
	if n, ok := s.nodes[spec.NodeID]; ok && n.rec.Status != rpc.NodeFailed {
		switch {
		case n.rec.Status == rpc.NodeStopping:
			s.mu.Unlock()
			return nil, fmt.Errorf("%w: node %q is stopping; retry once it has stopped", ErrNodeConflict, spec.NodeID)
		case spec.Port != 0 && spec.Port != n.rec.Port:
			s.mu.Unlock()
			return nil, fmt.Errorf("%w: node %q already runs on port %d, not %d", ErrNodeConflict, spec.NodeID, n.rec.Port, spec.Port)
		case spec.StoragePath != "" && path != n.rec.StoragePath:
			s.mu.Unlock()
			return nil, fmt.Errorf("%w: node %q already runs on storage path %q, not %q", ErrNodeConflict, spec.NodeID, n.rec.StoragePath, path)
		}
		if n.rec.Status == rpc.NodeStarting && n.ready != nil {
			s.mu.Unlock()
			return s.awaitReady(ctx, n)
		}
		defer s.mu.Unlock()
		return s.statusLocked(n), nil
	}
	port, err := s.choosePortLocked(spec.Port)
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	for _, other := range s.nodes {
		if other.rec.NodeID != spec.NodeID && other.rec.Status != rpc.NodeFailed && other.rec.StoragePath == path {
			s.mu.Unlock()
			return nil, fmt.Errorf("%w: storage_path %q is used by node %q", ErrInvalidStoragePath, path, other.rec.NodeID)
		}
	}
	if s.activeLocked(spec.NodeID) >= s.cfg.MaxNodes {
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: it runs %d of %d storage nodes", ErrAgentFull, s.activeLocked(spec.NodeID), s.cfg.MaxNodes)
	}
	now := time.Now().UnixMicro()
	rec := &NodeRecord{NodeID: spec.NodeID, Port: port, StoragePath: path, MemoryLimitMB: mem, CreatedAt: now, Status: rpc.NodeStarting}
	if old, ok := s.nodes[spec.NodeID]; ok { // a failed node spawned again keeps its count
		rec.RestartCount = old.rec.RestartCount
		rec.CreatedAt = old.rec.CreatedAt
	}
	n := &node{rec: rec}
	s.nodes[spec.NodeID] = n
	if err := s.startLocked(n); err != nil {
		delete(s.nodes, spec.NodeID)
		s.persistLocked()
		s.mu.Unlock()
		return nil, err
	}
	gen, exited := n.gen, n.exited
	s.persistLocked()
	s.notify.ReportStatus(s.statusLocked(n))
	s.mu.Unlock()

	s.logger.Info("spawned node", "node_id", spec.NodeID, "pid", rec.PID, "port", port, "storage_path", path, "memory_limit_mb", mem)
	n.ready = make(chan struct{})
	go s.watchStart(n, gen, exited)
	return s.awaitReady(ctx, n)
}

// awaitReady waits until a starting node serves or has failed to. The
// caller giving up does not stop the node: a retried spawn waits again.
func (s *Supervisor) awaitReady(ctx context.Context, n *node) (*rpc.NodeStatus, error) {
	select {
	case <-n.ready:
	case <-ctx.Done():
		return nil, fmt.Errorf("node %q still starting: %w", n.rec.NodeID, ctx.Err())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n.readyErr != nil {
		return nil, n.readyErr
	}
	return s.statusLocked(n), nil
}

// watchStart waits for a new node's port to accept connections, then marks
// it running; a node that exits first is failed, one that is not serving
// within StartTimeout is stopped.
func (s *Supervisor) watchStart(n *node, gen uint64, exited <-chan struct{}) {
	defer close(n.ready)
	deadline := time.NewTimer(s.cfg.StartTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(n.rec.Port))
	for {
		conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			_ = conn.Close()
			s.mu.Lock()
			defer s.mu.Unlock()
			if n.gen == gen && n.rec.Status == rpc.NodeStarting {
				n.rec.Status = rpc.NodeRunning
				s.persistLocked()
				s.notify.ReportStatus(s.statusLocked(n))
			}
			return
		}
		select {
		case <-exited:
			s.mu.Lock()
			defer s.mu.Unlock()
			n.readyErr = fmt.Errorf("%w: node %q exited before serving (%s); see %s",
				ErrNodeStartFailed, n.rec.NodeID, n.rec.LastError, s.logPath(n.rec.NodeID))
			return
		case <-deadline.C:
			s.mu.Lock()
			n.readyErr = fmt.Errorf("%w: node %q not serving on port %d after %s; see %s",
				ErrNodeStartFailed, n.rec.NodeID, n.rec.Port, s.cfg.StartTimeout, s.logPath(n.rec.NodeID))
			s.mu.Unlock()
			s.logger.Error("node not serving in time; stopping it", "node_id", n.rec.NodeID, "timeout", s.cfg.StartTimeout)
			_ = s.Stop(context.Background(), n.rec.NodeID)
			return
		case <-tick.C:
		}
	}
}

// Stop stops a node: SIGTERM to its process group, SIGKILL after the grace,
// and waits for it to exit. The node leaves the table.
func (s *Supervisor) Stop(ctx context.Context, nodeID string) error {
	s.mu.Lock()
	n, ok := s.nodes[nodeID]
	if !ok {
		s.mu.Unlock()
		return fmt.Errorf("%w: %q", ErrNodeNotFound, nodeID)
	}
	if n.restartTimer != nil {
		n.restartTimer.Stop()
		n.restartTimer = nil
	}
	alive := n.exited != nil && !isClosed(n.exited)
	pid, exited := n.rec.PID, n.exited
	if alive {
		n.rec.Status = rpc.NodeStopping
		s.persistLocked()
		s.notify.ReportStatus(s.statusLocked(n))
	}
	s.mu.Unlock()

	if alive {
		s.logger.Info("stopping node", "node_id", nodeID, "pid", pid)
		if err := signalGroup(pid, syscall.SIGTERM); err != nil {
			s.logger.Warn("sigterm failed", "node_id", nodeID, "pid", pid, "error", err)
		}
		grace := time.NewTimer(s.cfg.StopGrace)
		defer grace.Stop()
		select {
		case <-exited:
		case <-grace.C:
			s.logger.Warn("node ignored sigterm; killing", "node_id", nodeID, "pid", pid, "grace", s.cfg.StopGrace)
			_ = signalGroup(pid, syscall.SIGKILL)
			select {
			case <-exited:
			case <-ctx.Done():
				return fmt.Errorf("node %q (pid %d) killed but not yet reaped: %w", nodeID, pid, ctx.Err())
			}
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.nodes[nodeID]; ok && cur == n {
		delete(s.nodes, nodeID)
		if s.stoppedPaths == nil {
			s.stoppedPaths = map[string]string{}
		}
		s.stoppedPaths[nodeID] = n.rec.StoragePath
		n.rec.Status = rpc.NodeStopped
		n.rec.PID = 0
		s.persistLocked()
		s.notify.ReportStatus(s.statusLocked(n))
	}
	s.logger.Info("stopped node", "node_id", nodeID)
	return nil
}

// Close stops pending restarts and watches. With stopNodes it first stops
// every node; otherwise the nodes keep running for the next agent to adopt.
func (s *Supervisor) Close(ctx context.Context, stopNodes bool) error {
	var errs []error
	if stopNodes {
		for _, st := range s.List() {
			if err := s.Stop(ctx, st.NodeId); err != nil && !errors.Is(err, ErrNodeNotFound) {
				errs = append(errs, err)
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for _, n := range s.nodes {
		if n.restartTimer != nil {
			n.restartTimer.Stop()
		}
		if n.unwatch != nil {
			close(n.unwatch)
			n.unwatch = nil
		}
	}
	return errors.Join(errs...)
}
