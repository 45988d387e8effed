package events

import (
	"slices"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/waitfor"
)

func TestEmitFillsInAndCommits(t *testing.T) {
	r := newFakeRaft(t)
	r.setLeader("master-1")
	m := newFakeMaster(t, r, "master-1", nil)
	m.pipeline.Emit(&rpc.Event{Type: rpc.EventType_CLUSTER_HEALTHY, EntityId: "cluster", Seq: 99})
	m.pipeline.Start()
	waitfor.True(t, 10*time.Second, "the event committed", func() bool { return m.pipeline.Committed() == 1 })
	got := storedEvents(t, r.store)
	if len(got) != 1 {
		t.Fatalf("stored %d events, want 1", len(got))
	}
	e := got[0]
	if e.Source != "master-1" || e.Id == "" || e.Timestamp == 0 || e.Seq != 1 {
		t.Fatalf("stored %v: want source master-1, an id, a timestamp and seq 1 (the emitted seq is ignored)", e)
	}
}

func TestEmitDropsInvalidEventsAndReportsDrops(t *testing.T) {
	r := newFakeRaft(t)
	r.setLeader("master-1")
	m := newFakeMaster(t, r, "master-1", func(c *Config) { c.DropReportEvery = 10 * time.Millisecond })
	m.pipeline.Start()
	m.pipeline.Emit(&rpc.Event{EntityId: "cluster"})                                  // no type
	m.pipeline.Emit(&rpc.Event{Type: rpc.EventType_CLUSTER_HEALTHY})                  // no entity
	m.pipeline.Emit(&rpc.Event{Type: rpc.EventType_CLUSTER_HEALTHY, EntityId: "a b"}) // a space
	if d := m.pipeline.Dropped(); d != 3 {
		t.Fatalf("dropped = %d, want 3", d)
	}
	var report *rpc.Event
	waitfor.True(t, 10*time.Second, "an events_dropped event", func() bool {
		for _, e := range storedEvents(t, r.store) {
			if e.Type == rpc.EventType_EVENTS_DROPPED {
				report = e
				return true
			}
		}
		return false
	})
	if report.EntityId != "master-1" || report.Details["count"] != "3" || report.Details["total"] != "3" {
		t.Fatalf("drop report %v, want entity master-1, count 3, total 3", report)
	}
	// Nothing new dropped: no second report.
	m.pipeline.reportDrops()
	n := 0
	for _, e := range storedEvents(t, r.store) {
		if e.Type == rpc.EventType_EVENTS_DROPPED {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d drop reports, want 1", n)
	}
}

// TestEmitRequeuedAcrossLeaderChange: a follower's own events fail their
// first commit (not the leader) and are resent through the leader; when
// leadership moves (with a failed commit in between) the old leader's
// events follow it. Every event is stored exactly once, none dropped.
func TestEmitRequeuedAcrossLeaderChange(t *testing.T) {
	r := newFakeRaft(t)
	r.setLeader("master-1")
	m1 := newFakeMaster(t, r, "master-1", nil)
	m2 := newFakeMaster(t, r, "master-2", nil)
	m1.pipeline.Start()
	m2.pipeline.Start()
	var want []string
	emit := func(m *fakeMaster, entity string, n int) {
		for range n {
			e := newEvent(m.id, rpc.EventType_NODE_CRASHED, entity, 0)
			want = append(want, e.Id)
			m.pipeline.Emit(e)
		}
	}
	emit(m2, "node-2", 20) // follower: resent through master-1
	waitfor.True(t, 10*time.Second, "the follower's events stored", func() bool { return len(storedEvents(t, r.store)) == 20 })

	r.mu.Lock()
	r.failNext = 2 // leadership moves: the next commits fail before anyone is leader
	r.mu.Unlock()
	r.setLeader("master-2")
	emit(m1, "node-1", 20) // the old leader: now resent through master-2
	emit(m2, "node-2", 5)
	waitfor.True(t, 10*time.Second, "every event stored", func() bool { return len(storedEvents(t, r.store)) >= 45 })
	var got []string
	for _, e := range storedEvents(t, r.store) {
		got = append(got, e.Id)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("stored %d events, want the %d emitted, each once", len(got), len(want))
	}
	if d := m1.pipeline.Dropped() + m2.pipeline.Dropped(); d != 0 {
		t.Fatalf("dropped %d events", d)
	}
}

func TestStopFlushesQueuedEvents(t *testing.T) {
	r := newFakeRaft(t)
	r.setLeader("master-1")
	m := newFakeMaster(t, r, "master-1", func(c *Config) { c.BatchWait = time.Hour; c.BatchSize = 1000 })
	m.pipeline.Start()
	for range 30 {
		m.pipeline.Emit(newEvent("master-1", rpc.EventType_NODE_CRASHED, "node-1", 0))
	}
	m.pipeline.Stop()
	if n := len(storedEvents(t, r.store)); n != 30 {
		t.Fatalf("after stop %d events stored, want 30", n)
	}
	m.pipeline.Emit(newEvent("master-1", rpc.EventType_NODE_CRASHED, "node-1", 0))
	if d := m.pipeline.Dropped(); d != 1 {
		t.Fatalf("emit after stop: dropped = %d, want 1", d)
	}
	m.pipeline.Stop() // idempotent
}

func TestStopWithoutStart(t *testing.T) {
	r := newFakeRaft(t)
	m := newFakeMaster(t, r, "master-1", nil)
	m.pipeline.Stop() // returns at once
}

func TestNewRequiresDeps(t *testing.T) {
	if _, err := New(DefaultConfig(), Deps{}); err == nil {
		t.Fatal("New without deps succeeded")
	}
}
