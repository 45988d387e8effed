package cluster

import (
	"errors"
	"time"

	"github.com/gridctl/grid/fsm"
	"github.com/prometheus/client_golang/prometheus"
)

// masterMetrics are the master's Prometheus collectors. They always exist;
// they are registered only when Config.Metrics is set.
type masterMetrics struct {
	reg        prometheus.Registerer
	collectors []prometheus.Collector

	isLeader         prometheus.Gauge
	term             prometheus.Gauge
	commitIndex      prometheus.Gauge
	appliedIndex     prometheus.Gauge
	lastContact      prometheus.Gauge
	heartbeats       prometheus.Counter
	heartbeatStreams prometheus.Gauge
	agentsByStatus   *prometheus.GaugeVec
	nodesByStatus    *prometheus.GaugeVec
	hasLeader        prometheus.Gauge
	leaderChanges    prometheus.Counter
	eventsApplied    *prometheus.CounterVec
	agentTransitions *prometheus.CounterVec
	applyLatency     *prometheus.HistogramVec
	failureTolerance prometheus.Gauge
	digestMismatch   prometheus.Gauge

	cursor metricsCursor // observe's memory; health tick goroutine only
}

func newMasterMetrics(m *Master) *masterMetrics {
	mm := &masterMetrics{
		reg: m.config.Metrics,
		isLeader: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "grid", Subsystem: "raft", Name: "is_leader",
			Help: "1 when this master is the Raft leader."}),
		term: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "grid", Subsystem: "raft", Name: "term",
			Help: "Current Raft term."}),
		commitIndex: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "grid", Subsystem: "raft", Name: "commit_index",
			Help: "Raft commit index."}),
		appliedIndex: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "grid", Subsystem: "raft", Name: "applied_index",
			Help: "Last Raft index applied to the FSM."}),
		lastContact: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "grid", Subsystem: "raft", Name: "last_contact_seconds",
			Help: "Seconds since the leader was last heard from (0 on the leader)."}),
		heartbeats: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "grid", Subsystem: "agents", Name: "heartbeats_received_total",
			Help: "Agent heartbeats handled by this master as leader."}),
		heartbeatStreams: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "grid", Subsystem: "agents", Name: "heartbeat_streams",
			Help: "Open HeartbeatStreams (one per agent beating on a stream) this master serves as leader."}),
		agentsByStatus: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "grid", Name: "agents",
			Help: "Registered agents by status (this master's replica)."}, []string{"status"}),
		nodesByStatus: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "grid", Name: "storage_nodes",
			Help: "Storage node records by status (this master's replica)."}, []string{"status"}),
		hasLeader: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "grid", Subsystem: "raft", Name: "has_leader",
			Help: "1 when this master knows a Raft leader."}),
		leaderChanges: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "grid", Subsystem: "raft", Name: "leader_changes_total",
			Help: "Changes of the known Raft leader this master observed (to a new leader, not to none)."}),
		eventsApplied: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "grid", Subsystem: "events", Name: "applied_total",
			Help: "Events applied to this master's event graph since it started, by event type."}, []string{"type"}),
		agentTransitions: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "grid", Subsystem: "agents", Name: "transitions_total",
			Help: "Agent liveness transitions committed by this master, by new status."}, []string{"status"}),
		applyLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "grid", Subsystem: "raft", Name: "apply_seconds",
			Help:    "Latency of Raft applies by command type.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}}, []string{"type"}),
		failureTolerance: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "grid", Subsystem: "cluster", Name: "failure_tolerance",
			Help: "How many more voting masters may fail without losing quorum (leader's view)."}),
		digestMismatch: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "grid", Name: "replica_digest_mismatch",
			Help: "1 when the leader's last background verification found masters whose state digests differ at one index."}),
	}
	mm.collectors = []prometheus.Collector{mm.isLeader, mm.term, mm.commitIndex, mm.appliedIndex, mm.lastContact,
		mm.heartbeats, mm.agentsByStatus, mm.agentTransitions, mm.applyLatency, mm.failureTolerance,
		mm.nodesByStatus, mm.hasLeader, mm.leaderChanges, mm.eventsApplied, mm.digestMismatch, mm.heartbeatStreams}
	if mm.reg != nil {
		for _, c := range mm.collectors {
			if err := mm.reg.Register(c); err != nil {
				m.logger.Warn("metric registration failed", "error", err)
			}
		}
	}
	return mm
}

func (mm *masterMetrics) setLeader(b bool) {
	if b {
		mm.isLeader.Set(1)
	} else {
		mm.isLeader.Set(0)
	}
}

func (mm *masterMetrics) observeApply(t fsm.MessageType, d time.Duration) {
	mm.applyLatency.WithLabelValues(t.String()).Observe(d.Seconds())
}

func (mm *masterMetrics) unregister() {
	if mm == nil || mm.reg == nil {
		return
	}
	for _, c := range mm.collectors {
		mm.reg.Unregister(c)
	}
}

// register registers c, or returns the collector already registered under
// the same description (a second master in the same process sharing a
// registry).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
	}
	return c
}
