package cluster

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/gridctl/grid/eventstore"
	"github.com/gridctl/grid/rpc"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestCountEventsByType: grid_events_applied_total counts the events
// applied between ticks by type, from the store's counters: not the
// history before the first tick, and a restored (new) store from zero.
func TestCountEventsByType(t *testing.T) {
	mm := &masterMetrics{eventsApplied: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "applied"}, []string{"type"})}
	open := func(name string) *eventstore.Store {
		s, err := eventstore.Open(filepath.Join(t.TempDir(), name), eventstore.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	n := 0
	emit := func(s *eventstore.Store, typ rpc.EventType, k int) {
		var batch []*rpc.Event
		for range k {
			batch = append(batch, &rpc.Event{Id: fmt.Sprintf("e-%d", n), Type: typ, EntityId: "node-1", Timestamp: int64(n + 1)})
			n++
		}
		if _, err := s.AppendEvents(batch); err != nil {
			t.Fatal(err)
		}
	}
	count := func(typ rpc.EventType) float64 {
		return testutil.ToFloat64(mm.eventsApplied.WithLabelValues(typ.Name()))
	}
	s := open("a.db")
	emit(s, rpc.EventType_NODE_CRASHED, 3)
	mm.countStoreEvents(s) // first tick: the position only
	if got := count(rpc.EventType_NODE_CRASHED); got != 0 {
		t.Fatalf("first tick counted %v", got)
	}
	emit(s, rpc.EventType_NODE_CRASHED, 2)
	emit(s, rpc.EventType_NODE_RESTARTED, 1)
	mm.countStoreEvents(s)
	mm.countStoreEvents(s) // nothing new
	if c, r := count(rpc.EventType_NODE_CRASHED), count(rpc.EventType_NODE_RESTARTED); c != 2 || r != 1 {
		t.Fatalf("crashed %v restarted %v, want 2 and 1", c, r)
	}
	restored := open("b.db")
	emit(restored, rpc.EventType_NODE_RESTARTED, 4)
	mm.countStoreEvents(restored)
	if r := count(rpc.EventType_NODE_RESTARTED); r != 5 {
		t.Fatalf("restarted %v after the store was replaced, want 5", r)
	}
}
