package liveness

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/waitfor"
	"github.com/hashicorp/go-hclog"
)

// fakeCluster is an in-memory registry, committer (with the FSM's
// compare-and-set) and leadership; events are those of applied changes.
type fakeCluster struct {
	mu       sync.Mutex
	status   map[string]string
	commits  []*rpc.AgentStatusCommand
	entries  int
	events   []*rpc.Event
	leading  bool
	failNext int
	// commitWait, when set, is received from before each commit.
	commitWait chan struct{}
}

func newFake(agents ...string) *fakeCluster {
	f := &fakeCluster{status: map[string]string{}, leading: true}
	for _, a := range agents {
		f.status[a] = rpc.AgentHealthy
	}
	return f
}

func (f *fakeCluster) AgentIDs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for id := range f.status {
		ids = append(ids, id)
	}
	return ids
}

func (f *fakeCluster) AgentStatus(id string) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.status[id]
	return s, ok
}

func (f *fakeCluster) CommitAgentStatuses(changes []*rpc.AgentStatusCommand) ([]error, error) {
	if f.commitWait != nil {
		<-f.commitWait
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failNext > 0 {
		f.failNext--
		return nil, errors.New("not leader")
	}
	f.entries++
	out := make([]error, len(changes))
	for i, c := range changes {
		if f.status[c.AgentId] != c.ExpectedStatus {
			out[i] = errors.New("stale status")
			continue
		}
		f.commits = append(f.commits, c)
		f.status[c.AgentId] = c.Status
		f.events = append(f.events, c.Events...)
	}
	return out, nil
}

func (f *fakeCluster) IsLeader() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.leading
}

func (f *fakeCluster) eventTypes() []rpc.EventType {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []rpc.EventType
	for _, e := range f.events {
		out = append(out, e.Type)
	}
	return out
}

func newTimers(f *fakeCluster, degraded, offline time.Duration) *HeartbeatTimers {
	cfg := Config{MasterID: "master-1", HeartbeatInterval: time.Second, DegradedAfter: degraded, OfflineAfter: offline}
	return New(cfg, hclog.NewNullLogger(), f, f, f)
}

func TestSilenceDegradesThenOfflinesWithOneEventEach(t *testing.T) {
	f := newFake("agent-1")
	h := newTimers(f, 20*time.Millisecond, 40*time.Millisecond)
	defer h.Clear()
	h.Heartbeat("agent-1", rpc.AgentHealthy, 0)
	waitfor.True(t, 5*time.Second, "agent offline and its event", func() bool {
		s, _ := f.AgentStatus("agent-1")
		return s == rpc.AgentOffline && len(f.eventTypes()) >= 2
	})
	got := f.eventTypes()
	want := []rpc.EventType{rpc.EventType_AGENT_DEGRADED, rpc.EventType_AGENT_OFFLINE}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("events = %v, want %v", got, want)
	}
	// The registry keeps the last heartbeat from now on (the timers release the agent).
	f.mu.Lock()
	lastBeat := f.commits[len(f.commits)-1].LastHeartbeat
	f.mu.Unlock()
	if lastBeat == 0 {
		t.Fatal("the offline change does not carry the last heartbeat")
	}
}

func TestHeartbeatOfDegradedAgentCommitsRecovery(t *testing.T) {
	f := newFake("agent-1")
	f.status["agent-1"] = rpc.AgentDegraded
	h := newTimers(f, time.Hour, 2*time.Hour)
	defer h.Clear()
	h.Heartbeat("agent-1", rpc.AgentDegraded, 0)
	waitfor.True(t, 5*time.Second, "agent recovered", func() bool {
		s, _ := f.AgentStatus("agent-1")
		return s == rpc.AgentHealthy
	})
	if got := f.eventTypes(); len(got) != 1 || got[0] != rpc.EventType_AGENT_RECOVERED {
		t.Fatalf("events = %v, want one agent_recovered", got)
	}
	// A healthy beat commits nothing.
	h.Heartbeat("agent-1", rpc.AgentHealthy, 0)
	if n := len(f.commits); n != 1 {
		t.Fatalf("commits = %d, want 1", n)
	}
}

func TestFollowerTimersCommitNothing(t *testing.T) {
	f := newFake("agent-1")
	f.leading = false
	h := newTimers(f, time.Hour, 2*time.Hour)
	defer h.Clear()
	h.Heartbeat("agent-1", rpc.AgentHealthy, 0)
	h.mu.Lock()
	gen := h.timers["agent-1"].gen
	h.mu.Unlock()
	h.degrade("agent-1", gen) // what the timer does when it fires
	h.offline("agent-1", gen)
	if len(f.commits) != 0 || len(f.eventTypes()) != 0 {
		t.Fatalf("a follower committed %d and emitted %d", len(f.commits), len(f.eventTypes()))
	}
}

// TestFailedCommitIsRetried: an entry that did not commit is sent again,
// and the change ends with exactly one event.
func TestFailedCommitIsRetried(t *testing.T) {
	f := newFake("agent-1")
	f.status["agent-1"] = rpc.AgentOffline
	f.failNext = 2
	h := newTimers(f, time.Hour, 2*time.Hour)
	defer h.Clear()
	h.Heartbeat("agent-1", rpc.AgentOffline, 0)
	waitfor.True(t, 5*time.Second, "recovery committed after two failed tries", func() bool {
		s, _ := f.AgentStatus("agent-1")
		return s == rpc.AgentHealthy
	})
	if got := f.eventTypes(); len(got) != 1 || got[0] != rpc.EventType_AGENT_RECOVERED {
		t.Fatalf("events = %v, want one agent_recovered", got)
	}
}

// TestManyAgentsSilentAreFewEntries: 1,000 agents going silent together
// commit in a handful of entries, each with its events, each change
// chained on the one before it (degraded, then offline).
func TestManyAgentsSilentAreFewEntries(t *testing.T) {
	var ids []string
	for i := range 1000 {
		ids = append(ids, fmt.Sprintf("agent-%04d", i))
	}
	f := newFake(ids...)
	f.commitWait = make(chan struct{})
	h := newTimers(f, time.Hour, 2*time.Hour)
	defer h.Clear()
	for _, id := range ids {
		h.transition(id, rpc.AgentDegraded, time.Time{})
	}
	for _, id := range ids {
		h.transition(id, rpc.AgentOffline, time.Time{})
	}
	close(f.commitWait)
	waitfor.True(t, 10*time.Second, "2,000 changes committed", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(f.commits) == 2000
	})
	f.mu.Lock()
	entries, events := f.entries, len(f.events)
	f.mu.Unlock()
	if want := 1 + (2000-1+maxChangesPerEntry-1)/maxChangesPerEntry; entries > want {
		t.Errorf("%d entries for 2,000 changes, want at most %d", entries, want)
	}
	if events != 2000 {
		t.Errorf("%d events, want 2,000", events)
	}
	for _, id := range ids {
		if s, _ := f.AgentStatus(id); s != rpc.AgentOffline {
			t.Fatalf("%s is %s, want offline", id, s)
		}
	}
}

func TestRearmAllSkipsOfflineAndRemoveForgets(t *testing.T) {
	f := newFake("agent-1", "agent-2")
	f.status["agent-2"] = rpc.AgentOffline
	h := newTimers(f, time.Hour, 2*time.Hour)
	defer h.Clear()
	h.RearmAll(time.Hour)
	h.mu.Lock()
	_, armed1 := h.timers["agent-1"]
	_, armed2 := h.timers["agent-2"]
	h.mu.Unlock()
	if !armed1 || armed2 {
		t.Fatalf("armed agent-1=%v agent-2=%v, want true false", armed1, armed2)
	}
	h.Remove("agent-1")
	h.mu.Lock()
	n := len(h.timers)
	h.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d timers left after remove", n)
	}
}

func TestNextIntervalWithinJitter(t *testing.T) {
	h := newTimers(newFake(), time.Hour, 2*time.Hour)
	for range 100 {
		if ms := h.NextInterval(); ms < 900 || ms > 1100 {
			t.Fatalf("interval %d ms outside 1000±10%%", ms)
		}
	}
}

// TestRunsNoNodesFollowsTheLastBeat: an agent runs no nodes as far as the
// leader knows only when its last beat said so; one not heard from, or
// removed, is unknown.
func TestRunsNoNodesFollowsTheLastBeat(t *testing.T) {
	f := newFake("agent-1")
	h := newTimers(f, time.Hour, 2*time.Hour)
	defer h.Clear()
	if h.RunsNoNodes("agent-1") {
		t.Fatal("an agent not heard from runs no nodes")
	}
	h.Heartbeat("agent-1", rpc.AgentHealthy, 2)
	if h.RunsNoNodes("agent-1") {
		t.Fatal("an agent that counted 2 nodes runs none")
	}
	h.Heartbeat("agent-1", rpc.AgentHealthy, 0)
	if !h.RunsNoNodes("agent-1") {
		t.Fatal("an agent that counted 0 nodes is not known to run none")
	}
	h.Remove("agent-1")
	if h.RunsNoNodes("agent-1") {
		t.Fatal("a removed agent runs no nodes")
	}
}
