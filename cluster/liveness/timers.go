package liveness

import (
	"math/rand/v2"
	"sync"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/hashicorp/go-hclog"
)

// Registry is the registry view the timers read.
type Registry interface {
	AgentIDs() []string
	AgentStatus(id string) (string, bool)
}

// Committer commits status changes of many agents in one Raft entry
// (leader only). err means the entry is not known to have committed; else
// results has one verdict per change (nil when applied; a refused
// compare-and-set is fsm.ErrStaleStatus).
type Committer interface {
	CommitAgentStatuses(changes []*rpc.AgentStatusCommand) (results []error, err error)
}

// Leadership says whether this master leads right now.
type Leadership interface {
	IsLeader() bool
}

// Config holds the liveness thresholds (seed values: 5 s, 15 s, 30 s).
type Config struct {
	// MasterID is the source of the events the status changes carry.
	MasterID string
	// HeartbeatInterval is the interval handed back to agents (±10% jitter).
	HeartbeatInterval time.Duration
	// DegradedAfter is the silence after which an agent is degraded.
	DegradedAfter time.Duration
	// OfflineAfter is the silence after which an agent is offline.
	OfflineAfter time.Duration
	// OnTransition, when set, is told of every committed transition (metrics).
	OnTransition func(status string)
}

// HeartbeatTimers tracks agent liveness on the leader (nomad heartbeat.go):
// one in-memory timer per agent, reset by each heartbeat. Silence for
// DegradedAfter commits "degraded", for OfflineAfter "offline"; each change
// carries its event and the status it replaces (commit.go).
type HeartbeatTimers struct {
	config    Config
	logger    hclog.Logger
	registry  Registry
	committer Committer
	leader    Leadership
	queue     statusQueue

	mu       sync.Mutex
	timers   map[string]*agentTimer
	lastSeen map[string]time.Time
	gen      uint64
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

// New returns timers that read reg, commit through c and act only while l
// leads.
func New(cfg Config, logger hclog.Logger, reg Registry, c Committer, l Leadership) *HeartbeatTimers {
	return &HeartbeatTimers{
		config:    cfg,
		logger:    logger.Named("heartbeat"),
		registry:  reg,
		committer: c,
		leader:    l,
		timers:    make(map[string]*agentTimer),
		lastSeen:  make(map[string]time.Time),
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

// currentLocked reports whether gen is still id's live timer. Caller holds mu.
func (h *HeartbeatTimers) currentLocked(id string, gen uint64) bool {
	t, ok := h.timers[id]
	return ok && t.gen == gen
}

// Heartbeat records a heartbeat from id now and re-arms its degraded timer.
// status is the agent's status in the registry as the caller just read it:
// when it is not healthy, the recovery is committed.
func (h *HeartbeatTimers) Heartbeat(id, status string) {
	now := time.Now()
	h.mu.Lock()
	h.lastSeen[id] = now
	h.armLocked(id, h.config.DegradedAfter, func(gen uint64) { h.degrade(id, gen) })
	h.mu.Unlock()
	if status != rpc.AgentHealthy {
		h.transition(id, rpc.AgentHealthy, now)
	}
}

// RearmAll gives every known, not-offline agent a fresh timer of grace
// (called when leadership is established or a snapshot was restored).
func (h *HeartbeatTimers) RearmAll(grace time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, id := range h.registry.AgentIDs() {
		if st, ok := h.registry.AgentStatus(id); !ok || st == rpc.AgentOffline {
			continue
		}
		h.armLocked(id, grace, func(gen uint64) { h.degrade(id, gen) })
		n++
	}
	h.logger.Info("heartbeat timers re-armed", "agents", n, "grace", grace)
}

// Remove forgets id (unregistered).
func (h *HeartbeatTimers) Remove(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if t, ok := h.timers[id]; ok {
		t.timer.Stop()
		delete(h.timers, id)
	}
	delete(h.lastSeen, id)
}

// Clear stops every timer and drops the changes not yet committed
// (leadership lost or shutdown).
func (h *HeartbeatTimers) Clear() {
	h.queue.drop()
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, t := range h.timers {
		t.timer.Stop()
		delete(h.timers, id)
	}
	clear(h.lastSeen)
}

// LastHeartbeat returns when id last heartbeated to this leader.
func (h *HeartbeatTimers) LastHeartbeat(id string) (time.Time, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t, ok := h.lastSeen[id]
	return t, ok
}

// degrade fires after DegradedAfter of silence.
func (h *HeartbeatTimers) degrade(id string, gen uint64) {
	h.mu.Lock()
	if !h.currentLocked(id, gen) || !h.leader.IsLeader() {
		h.mu.Unlock()
		return
	}
	remaining := h.config.OfflineAfter - h.config.DegradedAfter
	h.armLocked(id, remaining, func(gen uint64) { h.offline(id, gen) })
	last := h.lastSeen[id]
	h.mu.Unlock()
	h.transition(id, rpc.AgentDegraded, last)
}

// offline fires after OfflineAfter of silence.
func (h *HeartbeatTimers) offline(id string, gen uint64) {
	h.mu.Lock()
	if !h.currentLocked(id, gen) || !h.leader.IsLeader() {
		h.mu.Unlock()
		return
	}
	delete(h.timers, id)
	last := h.lastSeen[id]
	h.mu.Unlock()
	h.transition(id, rpc.AgentOffline, last)
}

// eventType is the lifecycle event of a transition to status.
func eventType(status string) rpc.EventType {
	switch status {
	case rpc.AgentDegraded:
		return rpc.EventType_AGENT_DEGRADED
	case rpc.AgentOffline:
		return rpc.EventType_AGENT_OFFLINE
	default:
		return rpc.EventType_AGENT_RECOVERED
	}
}

// NextInterval is the heartbeat interval with ±10% jitter, in milliseconds.
func (h *HeartbeatTimers) NextInterval() uint32 {
	base := h.config.HeartbeatInterval
	j := base / 10
	d := base - j + rand.N(2*j+1)
	return uint32(d / time.Millisecond)
}

// CommitterFunc adapts a function to Committer.
type CommitterFunc func(changes []*rpc.AgentStatusCommand) ([]error, error)

// CommitAgentStatuses calls f.
func (f CommitterFunc) CommitAgentStatuses(changes []*rpc.AgentStatusCommand) ([]error, error) {
	return f(changes)
}

// LeadershipFunc adapts a function to Leadership.
type LeadershipFunc func() bool

// IsLeader calls f.
func (f LeadershipFunc) IsLeader() bool { return f() }
