package agent

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gridctl/grid/rpc"
	"golang.org/x/sys/unix"
)

// logPath is where a node's stdout and stderr go. Files, not pipes: a node
// must outlive its agent without dying of SIGPIPE.
func (s *Supervisor) logPath(nodeID string) string {
	return filepath.Join(s.cfg.DataDir, "logs", nodeID+".log")
}

// nodeEnv is the agent's environment without the node's own settings and
// without any GRID_* variable (the agent's tokens and keys stay with it),
// plus GOMEMLIMIT at 90% of the node's limit.
func nodeEnv(limitMB uint64) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "GOMEMLIMIT", k == "STORAGE_PORT", k == "STORAGE_PATH", strings.HasPrefix(k, "GRID_"):
			continue
		}
		env = append(env, kv)
	}
	return append(env, fmt.Sprintf("GOMEMLIMIT=%dMiB", limitMB*9/10))
}

// startLocked starts n's process and a goroutine that waits for it.
func (s *Supervisor) startLocked(n *node) error {
	r := n.rec
	if err := ensureDir(r.StoragePath); err != nil {
		return fmt.Errorf("%w: create storage path %q: %v", ErrNodeStartFailed, r.StoragePath, err)
	}
	logf, err := os.OpenFile(s.logPath(r.NodeID), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("%w: open log: %v", ErrNodeStartFailed, err)
	}
	defer logf.Close()

	cmd := s.nodeCommand(r, logf)
	cgfd, err := s.mem.CgroupFor(r.NodeID, r.MemoryLimitMB)
	if err != nil {
		s.logger.Warn("no cgroup for node; falling back to rlimit", "node_id", r.NodeID, "error", err)
	}
	if cgfd >= 0 {
		cmd.SysProcAttr.UseCgroupFD = true
		cmd.SysProcAttr.CgroupFD = cgfd
		defer unix.Close(cgfd)
	}
	err = cmd.Start()
	if err != nil && cgfd >= 0 {
		s.logger.Warn("could not start node in its cgroup; falling back to rlimit", "node_id", r.NodeID, "error", err)
		cmd = s.nodeCommand(r, logf)
		cgfd = -1
		err = cmd.Start()
	}
	if err != nil {
		return fmt.Errorf("%w: exec %s: %v", ErrNodeStartFailed, s.cfg.BinaryPath, err)
	}
	pid := cmd.Process.Pid
	if cgfd < 0 {
		if err := s.mem.ApplyRlimit(pid, r.MemoryLimitMB); err != nil {
			s.logger.Warn("could not set memory rlimit", "node_id", r.NodeID, "pid", pid, "error", err)
		}
	}
	startTime, err := processStartTime(pid)
	if err != nil {
		s.logger.Warn("could not read process start time", "node_id", r.NodeID, "pid", pid, "error", err)
	}
	n.gen++
	gen, exited := n.gen, make(chan struct{})
	n.exited = exited
	r.PID, r.StartTime, r.StartedAt = pid, startTime, time.Now().UnixMicro()
	go func() {
		_ = cmd.Wait()
		s.handleExit(n, gen, exitInfoOf(cmd.ProcessState))
		close(exited)
	}()
	return nil
}

// nodeCommand is the node's command line: the configured binary (never a
// shell), its own process group, logs to a file.
func (s *Supervisor) nodeCommand(r *NodeRecord, logf *os.File) *exec.Cmd {
	args := append(slices.Clone(s.cfg.NodeArgs),
		"--port", strconv.Itoa(r.Port), "--storage-path", r.StoragePath, "--node-id", r.NodeID)
	cmd := exec.Command(s.cfg.BinaryPath, args...)
	cmd.Env = nodeEnv(r.MemoryLimitMB)
	cmd.Dir = r.StoragePath
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

// adoptLocked watches a live process a previous agent started.
func (s *Supervisor) adoptLocked(n *node) error {
	unwatch := make(chan struct{})
	gone, err := pidfdWatch(n.rec.PID, n.rec.StartTime, unwatch)
	if err != nil {
		return err
	}
	n.gen++
	gen, exited := n.gen, make(chan struct{})
	n.exited, n.unwatch = exited, unwatch
	go func() {
		select {
		case <-gone:
			// Not our child: the exit status belongs to its new parent.
			s.handleExit(n, gen, exitInfo{Code: -1})
			close(exited)
		case <-unwatch:
		}
	}()
	return nil
}

// handleExit records how a node's process ended and decides what follows:
// stopped (an asked-for stop), failed (died while starting, or the restart
// budget is spent) or a restart after the policy's backoff.
func (s *Supervisor) handleExit(n *node, gen uint64, info exitInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || n.gen != gen {
		return
	}
	s.mem.Release(n.rec.NodeID)
	r := n.rec
	r.LastExitCode, r.LastSignal = info.Code, info.Signal
	switch r.Status {
	case rpc.NodeStopping, rpc.NodeStopped:
		return // Stop finishes the bookkeeping.
	case rpc.NodeStarting:
		r.Status = rpc.NodeFailed
		r.LastError = "exited before serving: " + info.String()
		s.logger.Error("node exited while starting", "node_id", r.NodeID, "pid", r.PID, "exit", info.String())
		s.persistLocked()
		s.notify.ReportStatus(s.statusLocked(n))
		return
	}
	reason := "crashed: " + info.String()
	if n.unhealthy != "" {
		reason, n.unhealthy = "unhealthy: "+n.unhealthy, ""
	}
	s.logger.Warn("node crashed", "node_id", r.NodeID, "pid", r.PID, "exit_code", info.Code, "signal", info.Signal)
	s.crashedLocked(n, info, reason)
}

// crashedLocked emits node_crashed and schedules a restart or fails the node.
func (s *Supervisor) crashedLocked(n *node, info exitInfo, reason string) {
	r := n.rec
	r.LastError = reason
	r.Status = rpc.NodeCrashed
	s.notify.Emit(rpc.NewEvent(s.cfg.AgentID, rpc.EventType_NODE_CRASHED, r.NodeID, map[string]string{
		"node_id":   r.NodeID,
		"agent_id":  s.cfg.AgentID,
		"exit_code": strconv.Itoa(int(info.Code)),
		"signal":    info.Signal,
		"pid":       strconv.Itoa(r.PID),
	}))
	now := time.Now()
	restart, delay, recent := s.policy.Next(now, r.Restarts)
	r.Restarts = recent
	if !restart {
		r.Status = rpc.NodeFailed
		if s.policy.Enabled {
			r.LastError = fmt.Sprintf("%s; restart budget spent (%d restarts within %s)", reason, len(recent), s.policy.Window)
		} else {
			r.LastError = reason + "; restarts are off"
		}
		s.logger.Error("node failed", "node_id", r.NodeID, "restart_count", r.RestartCount, "reason", r.LastError)
		s.notify.Emit(rpc.NewEvent(s.cfg.AgentID, rpc.EventType_NODE_FAILED, r.NodeID, map[string]string{
			"node_id":       r.NodeID,
			"agent_id":      s.cfg.AgentID,
			"restart_count": strconv.Itoa(int(r.RestartCount)),
			"reason":        r.LastError,
		}))
		s.persistLocked()
		s.notify.ReportStatus(s.statusLocked(n))
		return
	}
	r.Status = rpc.NodeRestarting
	r.Restarts = append(r.Restarts, now.UnixMicro())
	gen := n.gen
	n.restartTimer = time.AfterFunc(delay, func() { s.restart(n, gen) })
	s.logger.Info("restarting node", "node_id", r.NodeID, "delay", delay, "attempt", len(r.Restarts))
	s.persistLocked()
	s.notify.ReportStatus(s.statusLocked(n))
}

// restart starts a crashed node again on its port and path.
func (s *Supervisor) restart(n *node, gen uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || n.gen != gen || n.rec.Status != rpc.NodeRestarting || s.nodes[n.rec.NodeID] != n {
		return
	}
	n.restartTimer = nil
	r := n.rec
	r.RestartCount++
	if err := s.startLocked(n); err != nil {
		s.logger.Error("restart failed", "node_id", r.NodeID, "error", err)
		n.gen++ // no process for the old generation any more
		s.crashedLocked(n, exitInfo{Code: -1}, err.Error())
		return
	}
	r.Status = rpc.NodeRunning
	s.logger.Info("restarted node", "node_id", r.NodeID, "pid", r.PID, "restart_count", r.RestartCount)
	s.notify.Emit(rpc.NewEvent(s.cfg.AgentID, rpc.EventType_NODE_RESTARTED, r.NodeID, map[string]string{
		"node_id":       r.NodeID,
		"agent_id":      s.cfg.AgentID,
		"restart_count": strconv.Itoa(int(r.RestartCount)),
		"new_pid":       strconv.Itoa(r.PID),
	}))
	s.persistLocked()
	s.notify.ReportStatus(s.statusLocked(n))
}

// recoverLocked takes charge of a node found in the persisted table.
func (s *Supervisor) recoverLocked(rec *NodeRecord) {
	log := s.logger.With("node_id", rec.NodeID, "pid", rec.PID)
	if ValidateNodeID(rec.NodeID) != nil {
		log.Warn("dropping node with invalid id from the state file")
		return
	}
	live := sameProcess(rec.PID, rec.StartTime)
	// Any other process serving this node is a leftover (the agent died
	// between starting it and recording it): it must not keep the port.
	known := 0
	if live {
		known = rec.PID
	}
	for _, pid := range findOrphans(rec.NodeID, rec.StoragePath, known) {
		log.Warn("killing orphan node process", "orphan_pid", pid)
		killOrphan(pid, 5*time.Second)
	}
	n := &node{rec: rec}
	switch {
	case rec.Status == rpc.NodeStopped:
		return
	case rec.Status == rpc.NodeStopping:
		if live {
			log.Info("finishing an interrupted stop")
			killOrphan(rec.PID, s.cfg.StopGrace)
		}
		return
	case rec.Status == rpc.NodeFailed:
		s.nodes[rec.NodeID] = n
		return
	case live:
		if err := s.adoptLocked(n); err == nil {
			if rec.Status != rpc.NodeRunning {
				rec.Status = rpc.NodeRunning
			}
			s.nodes[rec.NodeID] = n
			log.Info("re-adopted running node", "port", rec.Port)
			s.notify.ReportStatus(s.statusLocked(n))
			return
		} else {
			log.Warn("could not re-adopt node; restarting it", "error", err)
			killOrphan(rec.PID, 5*time.Second)
		}
	}
	s.nodes[rec.NodeID] = n
	if s.cfg.HoldRecovered > 0 {
		// Its node may have been rescheduled to another agent meanwhile:
		// wait for the first registration's word before restarting it.
		log.Warn("node died while the agent was away; restarting it once a master confirms it is still ours", "hold", s.cfg.HoldRecovered)
		rec.Status = rpc.NodeCrashed
		rec.LastError = "process gone while the agent was down; waiting for a master before restarting"
		if s.held == nil {
			s.held = map[string]bool{}
		}
		s.held[rec.NodeID] = true
		return
	}
	log.Warn("node died while the agent was away")
	s.crashedLocked(n, exitInfo{Code: -1}, "process gone while the agent was down")
}

// ReleaseHeld restarts the nodes held at start-up, except the stale ones
// (placed on another agent by the registry): those are dropped from the
// table, their data left in place. Called after each registration (only
// the first finds nodes held) and, with nil, when the hold expires.
func (s *Supervisor) ReleaseHeld(stale []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.held) == 0 || s.closed {
		return
	}
	isStale := make(map[string]bool, len(stale))
	for _, id := range stale {
		isStale[id] = true
	}
	for id := range s.held {
		delete(s.held, id)
		n, ok := s.nodes[id]
		if !ok || n.rec.Status != rpc.NodeCrashed {
			continue
		}
		if isStale[id] {
			s.logger.Warn("not restarting a stale copy: the registry placed the node elsewhere", "node_id", id)
			delete(s.nodes, id)
			if s.stoppedPaths == nil {
				s.stoppedPaths = map[string]string{}
			}
			s.stoppedPaths[id] = n.rec.StoragePath
			continue
		}
		s.crashedLocked(n, exitInfo{Code: -1}, "process gone while the agent was down")
	}
	s.persistLocked()
}

// Unhealthy handles a running node whose health checks failed failures
// times in a row: it emits node_unhealthy and kills the process (SIGKILL
// to its group, which also ends a SIGSTOPped one); the exit then goes the
// way of a crash, restarted under the restart budget. It reports false
// when the node is no longer that running process.
func (s *Supervisor) Unhealthy(nodeID string, pid uint32, failures int, reason string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.nodes[nodeID]
	if !ok || s.closed || n.rec.Status != rpc.NodeRunning || uint32(n.rec.PID) != pid {
		return false
	}
	s.logger.Warn("node unhealthy; killing it for a restart", "node_id", nodeID, "pid", pid, "failures", failures)
	s.notify.Emit(rpc.NewEvent(s.cfg.AgentID, rpc.EventType_NODE_UNHEALTHY, nodeID, map[string]string{
		"node_id":  nodeID,
		"agent_id": s.cfg.AgentID,
		"pid":      strconv.Itoa(int(pid)),
		"failures": strconv.Itoa(failures),
		"reason":   reason,
	}))
	n.unhealthy = reason
	if err := signalGroup(int(pid), syscall.SIGKILL); err != nil {
		s.logger.Warn("could not kill unhealthy node", "node_id", nodeID, "pid", pid, "error", err)
	}
	return true
}
