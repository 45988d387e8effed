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
	// HeartbeatInterval is the shortest interval handed back to agents
	// (±10% jitter); larger fleets get a longer one (MaxHeartbeatsPerSecond).
	HeartbeatInterval time.Duration
	// MaxHeartbeatsPerSecond caps the heartbeat rate the whole fleet sends
	// this leader (Nomad's max_heartbeats_per_second): the interval given
	// is max(HeartbeatInterval, agents / MaxHeartbeatsPerSecond), and each
	// agent's degraded and offline deadlines stretch by the same factor.
	// 0 keeps HeartbeatInterval for any fleet.
	MaxHeartbeatsPerSecond float64
	// DegradedAfter is the silence after which an agent is degraded.
	DegradedAfter time.Duration
	// OfflineAfter is the silence after which an agent is offline.
	OfflineAfter time.Duration
	// DeadlineTick, when set, rounds every deadline up to a multiple of it
	// (wall clock), so agents that fell silent within one tick are judged
	// at the same instant and their changes share Raft entries; a deadline
	// is late by less than one tick. The master uses DefaultDeadlineTick.
	DeadlineTick time.Duration
	// OnTransition, when set, is told of every committed transition (metrics).
	OnTransition func(status string)
	// OnOffline, when set, is told of every agent whose offline status
	// committed, so the leader lets go of what it held for it (its
	// connection); the timers themselves keep nothing for it.
	OnOffline func(agentID string)
}

// DefaultDeadlineTick is the master's Config.DeadlineTick.
const DefaultDeadlineTick = 500 * time.Millisecond

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
	lastSeen map[string]beat
	gen      uint64

	// degradeFn and offlineFn are h.degrade and h.offline, bound once.
	degradeFn, offlineFn func(id string, gen uint64)
}

// beat is what the leader keeps of an agent's last heartbeat: when, and
// how many storage nodes the agent said it runs (storage_node_count).
type beat struct {
	at    time.Time
	nodes uint32
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
	fire func(id string, gen uint64)
	// stretch scales the agent's deadlines: its interval over
	// HeartbeatInterval when it was last given one (>= 1).
	stretch float64
}

// New returns timers that read reg, commit through c and act only while l
// leads.
func New(cfg Config, logger hclog.Logger, reg Registry, c Committer, l Leadership) *HeartbeatTimers {
	h := &HeartbeatTimers{
		config:    cfg,
		logger:    logger.Named("heartbeat"),
		registry:  reg,
		committer: c,
		leader:    l,
		timers:    make(map[string]*agentTimer),
		lastSeen:  make(map[string]beat),
	}
	h.degradeFn, h.offlineFn = h.degrade, h.offline
	return h
}

// armLocked makes id's timer call fn(id, gen) after d, reusing the
// agent's timer (no closure or timer allocated per heartbeat). Caller holds mu.
func (h *HeartbeatTimers) armLocked(id string, d time.Duration, stretch float64, fn func(id string, gen uint64)) {
	h.gen++
	now := time.Now()
	due := now.Add(d)
	if tick := h.config.DeadlineTick; tick > 0 {
		if r := due.Truncate(tick); r.Before(due) {
			d = r.Add(tick).Sub(now)
			due = now.Add(d) // keeps the monotonic reading expire compares with
		}
	}
	if t, ok := h.timers[id]; ok {
		t.gen, t.fire, t.due, t.stretch = h.gen, fn, due, stretch
		t.timer.Reset(d)
		return
	}
	t := &agentTimer{gen: h.gen, fire: fn, due: due, stretch: stretch}
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
	fire(id, gen)
}

// currentLocked reports whether gen is still id's live timer. Caller holds mu.
func (h *HeartbeatTimers) currentLocked(id string, gen uint64) bool {
	t, ok := h.timers[id]
	return ok && t.gen == gen
}

// Heartbeat records a heartbeat from id now, re-arms its degraded timer and
// returns the interval (ms, jittered) the agent is to heartbeat at next:
// the timer's deadlines stretch with that interval, so an agent told to
// beat less often is not judged by the shorter one. status is the agent's
// status in the registry as the caller just read it: when it is not
// healthy, the recovery is committed. nodes is how many storage nodes the
// agent says it runs (RunsNoNodes).
func (h *HeartbeatTimers) Heartbeat(id, status string, nodes uint32) uint32 {
	now := time.Now()
	h.mu.Lock()
	h.lastSeen[id] = beat{at: now, nodes: nodes}
	stretch := h.stretchLocked(len(h.timers))
	h.armLocked(id, h.scaled(h.config.DegradedAfter, stretch), stretch, h.degradeFn)
	h.mu.Unlock()
	if status != rpc.AgentHealthy {
		h.transition(id, rpc.AgentHealthy, now)
	}
	return jittered(h.scaled(h.config.HeartbeatInterval, stretch))
}

// RearmAll gives every known, not-offline agent a fresh timer of grace
// (called when leadership is established or a snapshot was restored).
func (h *HeartbeatTimers) RearmAll(grace time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var ids []string
	for _, id := range h.registry.AgentIDs() {
		if st, ok := h.registry.AgentStatus(id); !ok || st == rpc.AgentOffline {
			continue
		}
		ids = append(ids, id)
	}
	// Agents may have been given a fleet-scaled interval by the last leader.
	stretch := h.stretchLocked(len(ids))
	for _, id := range ids {
		h.armLocked(id, h.scaled(grace, stretch), stretch, h.degradeFn)
	}
	h.logger.Info("heartbeat timers re-armed", "agents", len(ids), "grace", h.scaled(grace, stretch))
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
	b, ok := h.lastSeen[id]
	return b.at, ok
}

// RunsNoNodes reports whether id's last heartbeat to this leader said it
// runs no storage node (storage_node_count 0; an agent counts every node
// it has that has not failed). False for an agent not heard from since
// this master leads.
func (h *HeartbeatTimers) RunsNoNodes(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	b, ok := h.lastSeen[id]
	return ok && b.nodes == 0
}

// released forgets an agent whose offline status committed, unless it
// heartbeated since (it has a timer again): the registry holds its last
// heartbeat from now on.
func (h *HeartbeatTimers) released(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.timers[id]; !ok {
		delete(h.lastSeen, id)
	}
}

// degrade fires after DegradedAfter of silence.
func (h *HeartbeatTimers) degrade(id string, gen uint64) {
	h.mu.Lock()
	if !h.currentLocked(id, gen) || !h.leader.IsLeader() {
		h.mu.Unlock()
		return
	}
	t := h.timers[id]
	remaining := h.scaled(h.config.OfflineAfter-h.config.DegradedAfter, t.stretch)
	h.armLocked(id, remaining, t.stretch, h.offlineFn)
	last := h.lastSeen[id].at
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
	last := h.lastSeen[id].at
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

// NextInterval is the interval (ms, ±10% jitter) an agent is to heartbeat
// at, for the fleet this leader tracks now.
func (h *HeartbeatTimers) NextInterval() uint32 {
	h.mu.Lock()
	stretch := h.stretchLocked(len(h.timers))
	h.mu.Unlock()
	return jittered(h.scaled(h.config.HeartbeatInterval, stretch))
}

// stretchLocked is how much longer than HeartbeatInterval a fleet of n
// live agents must beat so that it sends at most MaxHeartbeatsPerSecond:
// max(1, n / rate / HeartbeatInterval). Caller holds mu.
func (h *HeartbeatTimers) stretchLocked(n int) float64 {
	r, base := h.config.MaxHeartbeatsPerSecond, h.config.HeartbeatInterval.Seconds()
	if r <= 0 || base <= 0 {
		return 1
	}
	return max(1, float64(n)/r/base)
}

// scaled is d stretched.
func (h *HeartbeatTimers) scaled(d time.Duration, stretch float64) time.Duration {
	if stretch <= 1 {
		return d
	}
	return time.Duration(float64(d) * stretch)
}

// jittered is d ±10%, in milliseconds.
func jittered(d time.Duration) uint32 {
	j := d / 10
	if j > 0 {
		d = d - j + rand.N(2*j+1)
	}
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
