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
	lastSeq uint64 // events counted up to this sequence
	started bool
}

// eventsPerTick bounds the events observe counts per tick; a larger burst
// is counted over the next ticks.
const eventsPerTick = eventstore.MaxEventLimit

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
// grid_events_applied_total. The first tick only takes the position: the
// history before start is not counted again.
func (mm *masterMetrics) countEvents(m *Master) {
	store := m.fsm.Events()
	if store == nil {
		return
	}
	last := store.LastSeq()
	if !mm.cursor.started || last < mm.cursor.lastSeq { // first tick, or a restore replaced the graph
		mm.cursor.started = true
		mm.cursor.lastSeq = last
		for _, t := range rpc.AllEventTypes() {
			mm.eventsApplied.WithLabelValues(t.Name())
		}
		return
	}
	if last == mm.cursor.lastSeq {
		return
	}
	evs, err := store.Events(eventstore.Filter{After: mm.cursor.lastSeq, Limit: eventsPerTick, Ascending: true})
	if err != nil {
		return
	}
	for _, e := range evs {
		mm.eventsApplied.WithLabelValues(e.GetType().Name()).Inc()
		mm.cursor.lastSeq = e.GetSeq()
	}
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
