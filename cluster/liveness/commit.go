package liveness

import (
	"sync"
	"time"

	"github.com/gridctl/grid/rpc"
)

// maxChangesPerEntry bounds the status changes one Raft entry carries.
const maxChangesPerEntry = 512

// maxLoggedChanges is the largest batch logged one line per agent.
const maxLoggedChanges = 10

// coalesceWindow is how long a flush waits before its first entry, so the
// changes of timers that fire together (Config.DeadlineTick) go in one entry
// rather than the first alone.
const coalesceWindow = 10 * time.Millisecond

// Retry pacing of a status entry that was not committed (leader busy,
// election, timeout): it is sent again while this master leads.
const (
	retryMin = 50 * time.Millisecond
	retryMax = time.Second
)

// statusQueue is the leader's group commit of status changes: changes queue
// while one entry is in flight and go out together in the next, so 1,000
// agents going silent at once are a handful of entries. Each change names
// the status it replaces (the last queued change of that agent, else the
// registry's), so Apply refuses a stale one, a retried one that had
// committed after all, or one racing a fresher heartbeat.
type statusQueue struct {
	mu       sync.Mutex
	pending  []*rpc.AgentStatusCommand // not sent yet, in order
	inflight []*rpc.AgentStatusCommand // in the entry being committed
	flushing bool
	// last is, per agent with changes queued (pending or in flight), the
	// status they leave it in and how many there are: one lookup per
	// change, not a scan of the queue.
	last map[string]queued
}

// queued is one agent's queued changes.
type queued struct {
	status string
	n      int
}

// lastQueuedLocked is the status id's queued changes leave it in ("" when
// none is queued). Caller holds q.mu.
func (q *statusQueue) lastQueuedLocked(id string) string {
	return q.last[id].status
}

// queueLocked appends c to the pending changes. Caller holds q.mu.
func (q *statusQueue) queueLocked(c *rpc.AgentStatusCommand) {
	if q.last == nil {
		q.last = make(map[string]queued)
	}
	q.pending = append(q.pending, c)
	q.last[c.AgentId] = queued{status: c.Status, n: q.last[c.AgentId].n + 1}
}

// settledLocked forgets the batch's changes, which left the queue.
// Caller holds q.mu.
func (q *statusQueue) settledLocked(batch []*rpc.AgentStatusCommand) {
	for _, c := range batch {
		e := q.last[c.AgentId]
		if e.n <= 1 {
			delete(q.last, c.AgentId)
			continue
		}
		e.n--
		q.last[c.AgentId] = e
	}
}

// drop forgets the changes not sent yet (leadership lost).
func (q *statusQueue) drop() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.pending = nil
	clear(q.last)
	for _, c := range q.inflight {
		q.last[c.AgentId] = queued{status: c.Status, n: q.last[c.AgentId].n + 1}
	}
}

// transition queues the change of id to status with its event, unless id
// is already (or about to be) in that status, and starts a flush.
func (h *HeartbeatTimers) transition(id, status string, last time.Time) {
	q := &h.queue
	q.mu.Lock()
	defer q.mu.Unlock()
	previous := q.lastQueuedLocked(id)
	if previous == "" {
		var ok bool
		if previous, ok = h.registry.AgentStatus(id); !ok {
			return
		}
	}
	if previous == status {
		return
	}
	now := time.Now()
	cmd := &rpc.AgentStatusCommand{AgentId: id, Status: status, ExpectedStatus: previous, At: now.UnixMicro()}
	details := map[string]string{"agent_id": id, "previous_status": previous, "status": status}
	if !last.IsZero() {
		cmd.LastHeartbeat = last.Unix()
		details["last_heartbeat"] = last.UTC().Format(time.RFC3339)
	}
	cmd.Events = []*rpc.Event{rpc.NewEvent(h.config.MasterID, eventType(status), id, details)}
	q.queueLocked(cmd)
	if !q.flushing {
		q.flushing = true
		go h.flush()
	}
}

// flush commits queued changes, up to maxChangesPerEntry per entry, until
// none is left or this master stops leading. An entry that was not
// committed is sent again (the same changes: one that had committed after
// all is refused as stale, so no event is stored twice).
func (h *HeartbeatTimers) flush() {
	q := &h.queue
	wait := retryMin
	time.Sleep(coalesceWindow) // group commit: let the changes firing with this one queue
	for {
		q.mu.Lock()
		if len(q.pending) == 0 || !h.leader.IsLeader() {
			if len(q.pending) > 0 {
				h.logger.Warn("status changes dropped: no longer leader", "changes", len(q.pending))
			}
			q.pending, q.inflight, q.flushing = nil, nil, false
			clear(q.last)
			q.mu.Unlock()
			return
		}
		n := min(len(q.pending), maxChangesPerEntry)
		q.inflight = append([]*rpc.AgentStatusCommand(nil), q.pending[:n]...)
		q.pending = append([]*rpc.AgentStatusCommand(nil), q.pending[n:]...)
		batch := q.inflight
		q.mu.Unlock()

		results, err := h.committer.CommitAgentStatuses(batch)
		q.mu.Lock()
		q.inflight = nil
		if err != nil {
			q.pending = append(batch, q.pending...)
			q.mu.Unlock()
			h.logger.Warn("agent status changes not committed, retrying", "changes", len(batch), "retry_in", wait, "error", err)
			time.Sleep(wait)
			wait = min(2*wait, retryMax)
			continue
		}
		q.settledLocked(batch)
		q.mu.Unlock()
		wait = retryMin
		h.report(batch, results)
	}
}

// report logs each change's verdict (one line per agent for a small
// batch, a summary for a large one: a mass change is not a log storm on the
// leader), counts the applied ones, and releases the agents that went
// offline, off the flush path.
func (h *HeartbeatTimers) report(batch []*rpc.AgentStatusCommand, results []error) {
	perAgent := len(batch) <= maxLoggedChanges
	applied := make(map[string]int)
	var offline []string
	for i, c := range batch {
		var err error
		if i < len(results) {
			err = results[i]
		}
		if err != nil {
			h.logger.Debug("agent status change refused", "agent_id", c.AgentId, "status", c.Status, "error", err)
			continue
		}
		if perAgent {
			h.logger.Info("agent status changed", "agent_id", c.AgentId, "from", c.ExpectedStatus, "to", c.Status)
		} else {
			h.logger.Debug("agent status changed", "agent_id", c.AgentId, "from", c.ExpectedStatus, "to", c.Status)
		}
		applied[c.Status]++
		if h.config.OnTransition != nil {
			h.config.OnTransition(c.Status)
		}
		if c.Status == rpc.AgentOffline {
			h.released(c.AgentId)
			offline = append(offline, c.AgentId)
		}
	}
	if !perAgent {
		h.logger.Info("agent status changes committed", "changes", len(batch), "healthy", applied[rpc.AgentHealthy],
			"degraded", applied[rpc.AgentDegraded], "offline", applied[rpc.AgentOffline])
	}
	if h.config.OnOffline != nil && len(offline) > 0 {
		go func() {
			for _, id := range offline {
				h.config.OnOffline(id)
			}
		}()
	}
}
