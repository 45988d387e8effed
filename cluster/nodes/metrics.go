package nodes

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Results recorded in grid_nodes_spawns_total and grid_nodes_stops_total.
const (
	resultSuccess     = "success"
	resultRejected    = "rejected"    // refused by the master's checks (validation, placement)
	resultRefused     = "refused"     // refused by the agent
	resultUnreachable = "unreachable" // agent not reachable; left to the reconciler
	resultAborted     = "aborted"     // leadership lost or commit failed mid-order
)

// nodeMetrics are the orchestrator's Prometheus collectors. A nil
// *nodeMetrics records nothing.
type nodeMetrics struct {
	spawns         *prometheus.CounterVec
	stops          *prometheus.CounterVec
	spawnLatency   prometheus.Histogram
	reconcileSteps *prometheus.CounterVec
}

// newNodeMetrics registers the collectors with reg; nil reg gives nil.
func newNodeMetrics(reg prometheus.Registerer) *nodeMetrics {
	if reg == nil {
		return nil
	}
	return &nodeMetrics{
		spawns: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "grid", Subsystem: "nodes", Name: "spawns_total",
			Help: "Storage-node spawn orders handled by this master as leader, by result.",
		}, []string{"result"})),
		stops: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "grid", Subsystem: "nodes", Name: "stops_total",
			Help: "Storage-node stop orders handled by this master as leader, by result.",
		}, []string{"result"})),
		spawnLatency: register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "grid", Subsystem: "nodes", Name: "spawn_duration_seconds",
			Help:    "Time from admitting a spawn order to the agent's answer being committed.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		})),
		reconcileSteps: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "grid", Subsystem: "nodes", Name: "reconcile_actions_total",
			Help: "Actions the reconciler took (respawn, stop, stop_orphan, sync, lost).",
		}, []string{"action"})),
	}
}

func (m *nodeMetrics) spawn(result string) {
	if m != nil {
		m.spawns.WithLabelValues(result).Inc()
	}
}

func (m *nodeMetrics) stop(result string) {
	if m != nil {
		m.stops.WithLabelValues(result).Inc()
	}
}

func (m *nodeMetrics) spawnTook(d time.Duration) {
	if m != nil {
		m.spawnLatency.Observe(d.Seconds())
	}
}

func (m *nodeMetrics) reconciled(action string) {
	if m != nil {
		m.reconcileSteps.WithLabelValues(action).Inc()
	}
}

// register registers c, or returns the collector already registered under
// the same description.
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
