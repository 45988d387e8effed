package events

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// eventMetrics are the event pipeline's Prometheus collectors. A nil
// *eventMetrics records nothing, so code paths never check.
type eventMetrics struct {
	emitted   prometheus.Counter
	committed prometheus.Counter
	dropped   prometheus.Counter
	batchSize prometheus.Histogram
}

// newEventMetrics registers the pipeline's collectors with reg. A nil reg
// gives nil (no metrics). A collector already registered (a second master in
// the same process sharing a registry) is reused.
func newEventMetrics(reg prometheus.Registerer) *eventMetrics {
	if reg == nil {
		return nil
	}
	m := &eventMetrics{
		emitted: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "grid", Subsystem: "events", Name: "emitted_total",
			Help: "Events accepted by this master for commit (its own and those submitted to it as leader).",
		})),
		committed: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "grid", Subsystem: "events", Name: "committed_total",
			Help: "Events in batches this master saw acknowledged (committed through Raft).",
		})),
		dropped: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "grid", Subsystem: "events", Name: "dropped_total",
			Help: "Events this master dropped: emit queue full, rejected batch, or still pending at shutdown.",
		})),
		batchSize: register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "grid", Subsystem: "events", Name: "batch_size",
			Help:    "Events per commit attempt (one Raft entry).",
			Buckets: prometheus.ExponentialBuckets(1, 4, 8),
		})),
	}
	return m
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

func (m *eventMetrics) addEmitted(n int) {
	if m != nil {
		m.emitted.Add(float64(n))
	}
}

func (m *eventMetrics) addCommitted(n int) {
	if m != nil {
		m.committed.Add(float64(n))
	}
}

func (m *eventMetrics) addDropped(n int) {
	if m != nil {
		m.dropped.Add(float64(n))
	}
}

func (m *eventMetrics) observeBatch(n int) {
	if m != nil {
		m.batchSize.Observe(float64(n))
	}
}
