package agent

import (
	"context"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/waitfor"
)

func TestEventBufferDeliversOnceAcrossMasterFailover(t *testing.T) {
	m1, m2 := startStubMaster(t), startStubMaster(t)
	// m1 stores the first batch but the ack is lost; then it goes down.
	m1.set(func(m *stubMaster) { m.ackLost = true })
	pool := NewMasterPool([]string{m1.addr, m2.addr})
	defer pool.Close()
	b := NewEventBuffer(pool, "agent-x", 1000, 50, testLogger(t))
	var ids []string
	for i := range 200 {
		e := rpc.NewEvent("agent-x", rpc.EventType_NODE_CRASHED, "n"+itoa(i%3), map[string]string{"i": itoa(i)})
		ids = append(ids, e.Id)
		b.Emit(e)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go b.Run(ctx)
	waitfor.True(t, 10*time.Second, "m1 saw a batch", func() bool { return m1.get(func(m *stubMaster) bool { return len(m.events) > 0 }) })
	m1.set(func(m *stubMaster) { m.unavailable = true })
	waitfor.True(t, 10*time.Second, "all events acknowledged", func() bool { return b.Pending() == 0 })

	// Every event reached a master; the ones m1 stored without acking were
	// resent to m2 with the same ids (masters dedupe on them).
	seen := map[string]bool{}
	for _, m := range []*stubMaster{m1, m2} {
		m.get(func(m *stubMaster) bool {
			for id := range m.events {
				seen[id] = true
			}
			return true
		})
	}
	for _, id := range ids {
		if !seen[id] {
			t.Fatalf("event %s never delivered", id)
		}
	}
	if len(seen) != len(ids) {
		t.Fatalf("masters hold %d distinct events, emitted %d", len(seen), len(ids))
	}
}

func TestEventBufferBoundsAndReportsDrops(t *testing.T) {
	m := startStubMaster(t)
	m.set(func(m *stubMaster) { m.unavailable = true })
	pool := NewMasterPool([]string{m.addr})
	defer pool.Close()
	b := NewEventBuffer(pool, "agent-y", 10, 100, testLogger(t))
	for i := range 25 {
		b.Emit(rpc.NewEvent("agent-y", rpc.EventType_NODE_RESTARTED, "n1", map[string]string{"i": itoa(i)}))
	}
	if b.Pending() != 10 || b.Dropped() != 15 {
		t.Fatalf("pending %d dropped %d; want 10 and 15", b.Pending(), b.Dropped())
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go b.Run(ctx)
	m.set(func(m *stubMaster) { m.unavailable = false })
	waitfor.True(t, 10*time.Second, "queue drained", func() bool { return b.Pending() == 0 })
	if got := m.countEvents(rpc.EventType_NODE_RESTARTED, "n1"); got != 10 {
		t.Fatalf("delivered %d node events, want the newest 10", got)
	}
	if m.countEvents(rpc.EventType_EVENTS_DROPPED, "agent-y") != 1 {
		t.Fatal("no events_dropped event reported")
	}
}

func TestStatusReporterLatestWins(t *testing.T) {
	m := startStubMaster(t)
	m.set(func(m *stubMaster) { m.unavailable = true })
	pool := NewMasterPool([]string{m.addr})
	defer pool.Close()
	r := NewStatusReporter(pool, testLogger(t))
	for _, s := range []string{rpc.NodeCrashed, rpc.NodeRestarting, rpc.NodeRunning} {
		r.ReportStatus(&rpc.NodeStatus{NodeId: "n1", Status: s})
	}
	r.ReportStatus(&rpc.NodeStatus{NodeId: "n2", Status: rpc.NodeFailed})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx)
	m.set(func(m *stubMaster) { m.unavailable = false })
	waitfor.True(t, 10*time.Second, "states delivered", func() bool { return r.Pending() == 0 })
	m.get(func(m *stubMaster) bool {
		if len(m.states) != 2 || m.states[0].Status != rpc.NodeRunning || m.states[1].Status != rpc.NodeFailed {
			t.Fatalf("delivered %v; want n1 running then n2 failed", m.states)
		}
		return true
	})
}
