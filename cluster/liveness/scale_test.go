package liveness

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/waitfor"
	"github.com/hashicorp/go-hclog"
)

// TestIntervalGrowsWithFleetAndDeadlinesFollow: with at most 100
// heartbeats/s and a 1 s minimum, 50 agents keep 1 s, 1,000 agents are told
// 10 s (±10%), and each agent's degraded deadline stretches by the same
// factor, so the slower interval cannot make it degraded.
func TestIntervalGrowsWithFleetAndDeadlinesFollow(t *testing.T) {
	var ids []string
	for i := range 1000 {
		ids = append(ids, fmt.Sprintf("agent-%04d", i))
	}
	f := newFake(ids...)
	cfg := Config{MasterID: "m", HeartbeatInterval: time.Second, MaxHeartbeatsPerSecond: 100,
		DegradedAfter: 3 * time.Second, OfflineAfter: 6 * time.Second}
	h := New(cfg, hclog.NewNullLogger(), f, f, f)
	defer h.Clear()

	for _, id := range ids[:50] {
		if ms := h.Heartbeat(id, rpc.AgentHealthy, 0); ms < 900 || ms > 1100 {
			t.Fatalf("50 agents: interval %d ms, want 1000±10%%", ms)
		}
	}
	var last uint32
	for _, id := range ids[50:] {
		last = h.Heartbeat(id, rpc.AgentHealthy, 0)
	}
	if last < 9000 || last > 11000 {
		t.Fatalf("1,000 agents: interval %d ms, want 10,000±10%%", last)
	}
	if ms := h.NextInterval(); ms < 9000 || ms > 11000 {
		t.Fatalf("NextInterval with 1,000 agents = %d ms, want 10,000±10%%", ms)
	}
	h.mu.Lock()
	tm := h.timers[ids[999]]
	left, stretch := time.Until(tm.due), tm.stretch
	h.mu.Unlock()
	if stretch < 9.9 || left < 25*time.Second {
		t.Fatalf("degraded deadline %s away (stretch %.2f), want about 30 s (3 s x 10)", left, stretch)
	}
}

// TestNoCapKeepsInterval: MaxHeartbeatsPerSecond 0 keeps the configured
// interval whatever the fleet.
func TestNoCapKeepsInterval(t *testing.T) {
	f := newFake()
	h := newTimers(f, time.Hour, 2*time.Hour)
	defer h.Clear()
	for i := range 5000 {
		h.Heartbeat(fmt.Sprintf("agent-%d", i), rpc.AgentHealthy, 0)
	}
	if ms := h.NextInterval(); ms < 900 || ms > 1100 {
		t.Fatalf("interval %d ms with no cap, want 1000±10%%", ms)
	}
}

// TestOfflineAgentIsReleased: once an agent's offline status commits, the
// timers hold nothing for it (no timer, no last-heartbeat entry) and
// OnOffline is told, so the master drops its connection.
func TestOfflineAgentIsReleased(t *testing.T) {
	f := newFake("agent-1", "agent-2")
	var mu sync.Mutex
	var released []string
	cfg := Config{MasterID: "m", HeartbeatInterval: time.Second, DegradedAfter: 20 * time.Millisecond,
		OfflineAfter: 40 * time.Millisecond, OnOffline: func(id string) {
			mu.Lock()
			released = append(released, id)
			mu.Unlock()
		}}
	h := New(cfg, hclog.NewNullLogger(), f, f, f)
	defer h.Clear()
	h.Heartbeat("agent-1", rpc.AgentHealthy, 0)
	waitfor.True(t, 5*time.Second, "agent-1 released after going offline", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(released) == 1
	})
	if s, _ := f.AgentStatus("agent-1"); s != rpc.AgentOffline || released[0] != "agent-1" {
		t.Fatalf("status %s, released %v", s, released)
	}
	h.mu.Lock()
	timers, seen := len(h.timers), len(h.lastSeen)
	h.mu.Unlock()
	if timers != 0 || seen != 0 {
		t.Fatalf("after offline: %d timers, %d last-heartbeat entries, want none", timers, seen)
	}
}

// TestSilentWithinATickShareEntries: 200 agents whose last heartbeats are
// spread over 200 ms (ten groups 20 ms apart) are judged at whole
// DeadlineTicks, so their 400 changes (degraded, offline) take a few
// entries, not one or two per group.
func TestSilentWithinATickShareEntries(t *testing.T) {
	var ids []string
	for i := range 200 {
		ids = append(ids, fmt.Sprintf("agent-%03d", i))
	}
	f := newFake(ids...)
	cfg := Config{MasterID: "m", HeartbeatInterval: 100 * time.Millisecond, DeadlineTick: 500 * time.Millisecond,
		DegradedAfter: 500 * time.Millisecond, OfflineAfter: time.Second}
	h := New(cfg, hclog.NewNullLogger(), f, f, f)
	defer h.Clear()
	for g := range 10 {
		for _, id := range ids[g*20 : (g+1)*20] {
			h.Heartbeat(id, rpc.AgentHealthy, 0)
		}
		time.Sleep(20 * time.Millisecond) // spreads the last heartbeats (the stimulus), not a wait
	}
	waitfor.True(t, 10*time.Second, "400 changes committed", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(f.commits) == 400
	})
	f.mu.Lock()
	entries, events := f.entries, len(f.events)
	f.mu.Unlock()
	if entries > 10 || events != 400 {
		t.Fatalf("%d entries and %d events for 400 changes, want at most 10 entries and 400 events", entries, events)
	}
}
