package cluster

import (
	"context"
	"time"

	"github.com/gridctl/grid/eventstore"
	"github.com/gridctl/grid/rpc"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// metricsCursor is what observe remembers between health ticks.
type metricsCursor struct {
	leader  string // the last leader seen ("" none yet)
	started bool
	// store and applied are the event store and its per-type applied
	// counters at the last tick.
	store   *eventstore.Store
	applied map[rpc.EventType]uint64
}

// observe refreshes the gauges read from raft and the FSM and counts the
// events applied since the last tick by type. It runs on every master's
// health tick.
func (mm *masterMetrics) observe(m *Master) {
	r := m.consensus.raft
	mm.commitIndex.Set(float64(r.CommitIndex()))
	mm.appliedIndex.Set(float64(r.AppliedIndex()))
	mm.term.Set(float64(r.CurrentTerm()))
	if lc := m.lastContactMs(); lc >= 0 {
		mm.lastContact.Set(float64(lc) / 1000)
	}
	leader := m.leaderID()
	if leader == "" {
		mm.hasLeader.Set(0)
	} else {
		mm.hasLeader.Set(1)
		if mm.cursor.leader != "" && leader != mm.cursor.leader {
			mm.leaderChanges.Inc()
		}
		mm.cursor.leader = leader
	}
	counts := m.fsm.Counts()
	for _, s := range []string{rpc.AgentHealthy, rpc.AgentDegraded, rpc.AgentOffline} {
		mm.agentsByStatus.WithLabelValues(s).Set(float64(counts.AgentsByStatus[s]))
	}
	for _, s := range []string{rpc.NodePending, rpc.NodeStarting, rpc.NodeRunning, rpc.NodeCrashed, rpc.NodeRestarting,
		rpc.NodeStopping, rpc.NodeStopped, rpc.NodeFailed, rpc.NodeLost} {
		mm.nodesByStatus.WithLabelValues(s).Set(float64(counts.NodesByStatus[s]))
	}
	mm.countEvents(m)
}

// countEvents adds the events applied since the last tick to
// grid_events_applied_total, from the store's per-type applied counters
// (no event is read). The first tick only takes the position: the history
// before start is not counted again. A store replaced by a restore counts
// from zero: what it applied since then is added at the next tick.
func (mm *masterMetrics) countEvents(m *Master) { mm.countStoreEvents(m.fsm.Events()) }

// countStoreEvents is countEvents on the FSM's current event store.
func (mm *masterMetrics) countStoreEvents(store *eventstore.Store) {
	if store == nil {
		return
	}
	applied := store.AppliedByType()
	if !mm.cursor.started {
		mm.cursor.started = true
		mm.cursor.store, mm.cursor.applied = store, applied
		for _, t := range rpc.AllEventTypes() {
			mm.eventsApplied.WithLabelValues(t.Name())
		}
		return
	}
	prev := mm.cursor.applied
	if store != mm.cursor.store {
		prev = nil
	}
	for t, n := range applied {
		if d := n - prev[t]; n > prev[t] {
			mm.eventsApplied.WithLabelValues(t.Name()).Add(float64(d))
		}
	}
	mm.cursor.store, mm.cursor.applied = store, applied
}

// storeMetricsInterval is how often raft-boltdb reports its bolt stats
// (raft_boltdb_numFreePages, raft_boltdb_txstats_*, ...).
const storeMetricsInterval = 10 * time.Second

// runStoreMetrics has raft-boltdb report its stats until shutdown.
func (m *Master) runStoreMetrics() {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-m.lifecycle.shutdownCh
		cancel()
	}()
	if bs, ok := m.consensus.store.(*raftboltdb.BoltStore); ok {
		go bs.RunMetrics(ctx, storeMetricsInterval) // raft-wal reports through go-metrics itself
	}
}
