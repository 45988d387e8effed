package cluster

import (
	"math/rand/v2"
	"sync"
	"time"

	"github.com/gridctl/grid/fsm"
	"github.com/gridctl/grid/rpc"
	"github.com/hashicorp/go-hclog"
)

// HeartbeatTimers tracks agent liveness on the leader (nomad heartbeat.go):
// one in-memory timer per agent, reset by each heartbeat. Silence for
// DegradedAfter commits "degraded", for OfflineAfter "offline". A steady
// heartbeat never touches Raft; only status transitions are committed.
type HeartbeatTimers struct {
	m      *Master
	logger hclog.Logger

	mu       sync.Mutex
	timers   map[string]*agentTimer
	lastSeen map[string]time.Time
	gen      uint64

	// transitionMu serialises status transitions (check, then commit) so a
	// heartbeat racing a timer, or two heartbeats of a recovering agent,
	// never commit the same change twice. Transitions are rare; steady
	// heartbeats never take it.
	transitionMu sync.Mutex
}

// agentTimer is one agent's pending transition. A heartbeat re-arms the
// same timer (Reset, no new timer per beat). A callback that had already
// started when the timer was re-armed sees that due is still ahead and does
// nothing; gen guards the transitions against replaced or removed timers.
type agentTimer struct {
	timer *time.Timer
	gen   uint64
	// due is when the current arming expires.
	due time.Time
	// fire is what the current arming does when it expires.
	fire func(gen uint64)
}

func newHeartbeatTimers(m *Master) *HeartbeatTimers {
	return &HeartbeatTimers{
		m:        m,
		logger:   m.logger.Named("heartbeat"),
		timers:   make(map[string]*agentTimer),
		lastSeen: make(map[string]time.Time),
	}
}

// armLocked makes id's timer fire fn after d, reusing the agent's timer.
// Caller holds mu.
func (h *HeartbeatTimers) armLocked(id string, d time.Duration, fn func(gen uint64)) {
	h.gen++
	if t, ok := h.timers[id]; ok {
		t.timer.Stop()
		t.gen, t.fire, t.due = h.gen, fn, time.Now().Add(d)
		t.timer.Reset(d)
		return
	}
	t := &agentTimer{gen: h.gen, fire: fn, due: time.Now().Add(d)}
	t.timer = time.AfterFunc(d, func() { h.expire(id, t) })
	h.timers[id] = t
}

// expire runs the timer's current action, unless the timer was re-armed
// after this callback was scheduled (then the timer fires again at due).
func (h *HeartbeatTimers) expire(id string, t *agentTimer) {
	h.mu.Lock()
	if time.Now().Before(t.due) || h.timers[id] != t {
		h.mu.Unlock()
		return
	}
	gen, fire := t.gen, t.fire
	h.mu.Unlock()
	fire(gen)
}

// current reports whether gen is still id's live timer. Caller holds mu.
func (h *HeartbeatTimers) currentLocked(id string, gen uint64) bool {
	t, ok := h.timers[id]
	return ok && t.gen == gen
}

// heartbeat records a heartbeat from id now and re-arms its degraded timer.
func (h *HeartbeatTimers) heartbeat(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lastSeen[id] = time.Now()
	h.armLocked(id, h.m.config.DegradedAfter, func(gen uint64) { h.degrade(id, gen) })
}

// rearmAll gives every known, not-offline agent a fresh timer of grace
// (called when leadership is established).
func (h *HeartbeatTimers) rearmAll(grace time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, id := range h.m.fsm.AgentIDs() {
		if st, ok := h.m.fsm.AgentStatus(id); !ok || st == rpc.AgentOffline {
			continue
		}
		h.armLocked(id, grace, func(gen uint64) { h.degrade(id, gen) })
		n++
	}
	h.logger.Info("heartbeat timers re-armed", "agents", n, "grace", grace)
}

// remove forgets id (unregistered).
func (h *HeartbeatTimers) remove(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if t, ok := h.timers[id]; ok {
		t.timer.Stop()
		delete(h.timers, id)
	}
	delete(h.lastSeen, id)
}

// clear stops every timer (leadership lost or shutdown).
func (h *HeartbeatTimers) clear() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, t := range h.timers {
		t.timer.Stop()
		delete(h.timers, id)
	}
	clear(h.lastSeen)
}

// lastHeartbeat returns when id last heartbeated to this leader.
func (h *HeartbeatTimers) lastHeartbeat(id string) (time.Time, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t, ok := h.lastSeen[id]
	return t, ok
}

// degrade fires after DegradedAfter of silence.
func (h *HeartbeatTimers) degrade(id string, gen uint64) {
	h.mu.Lock()
	if !h.currentLocked(id, gen) || !h.m.isLeader() {
		h.mu.Unlock()
		return
	}
	remaining := h.m.config.OfflineAfter - h.m.config.DegradedAfter
	h.armLocked(id, remaining, func(gen uint64) { h.offline(id, gen) })
	last := h.lastSeen[id]
	h.mu.Unlock()
	h.transition(id, rpc.AgentDegraded, last)
}

// offline fires after OfflineAfter of silence.
func (h *HeartbeatTimers) offline(id string, gen uint64) {
	h.mu.Lock()
	if !h.currentLocked(id, gen) || !h.m.isLeader() {
		h.mu.Unlock()
		return
	}
	delete(h.timers, id)
	last := h.lastSeen[id]
	h.mu.Unlock()
	h.transition(id, rpc.AgentOffline, last)
}

// transition commits a status change and emits its event; it is a no-op
// when the registry already holds that status.
func (h *HeartbeatTimers) transition(id, status string, last time.Time) {
	h.transitionMu.Lock()
	defer h.transitionMu.Unlock()
	previous, ok := h.m.fsm.AgentStatus(id)
	if !ok || previous == status {
		return
	}
	cmd := &rpc.AgentStatusCommand{AgentId: id, Status: status, At: time.Now().UnixMicro()}
	if !last.IsZero() {
		cmd.LastHeartbeat = last.Unix()
	}
	if _, err := h.m.raftApply(fsm.AgentStatusType, cmd); err != nil {
		h.logger.Warn("agent status transition not committed", "agent_id", id, "status", status, "error", err)
		return
	}
	var typ rpc.EventType
	switch status {
	case rpc.AgentDegraded:
		typ = rpc.EventType_AGENT_DEGRADED
	case rpc.AgentOffline:
		typ = rpc.EventType_AGENT_OFFLINE
	default:
		typ = rpc.EventType_AGENT_RECOVERED
	}
	details := map[string]string{"agent_id": id, "previous_status": previous, "status": status}
	if !last.IsZero() {
		details["last_heartbeat"] = last.UTC().Format(time.RFC3339)
	}
	h.logger.Info("agent status changed", "agent_id", id, "from", previous, "to", status)
	h.m.metrics.agentTransitions.WithLabelValues(status).Inc()
	h.m.emit(rpc.NewEvent(h.m.config.ID, typ, id, details))
}

// nextInterval is the heartbeat interval with ±10% jitter, in milliseconds.
func (h *HeartbeatTimers) nextInterval() uint32 {
	base := h.m.config.HeartbeatInterval
	j := base / 10
	d := base - j + rand.N(2*j+1)
	return uint32(d / time.Millisecond)
}
