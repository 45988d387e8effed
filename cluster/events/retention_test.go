package events

import (
	"context"
	"testing"
	"time"

	"github.com/gridctl/grid/eventstore"
	"github.com/gridctl/grid/fsm"
	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/waitfor"
)

func TestPruneCommand(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	cases := []struct {
		name      string
		retention time.Duration
		maxEvents uint64
		want      *rpc.PruneEventsCommand
	}{
		{"keep everything", 0, 0, nil},
		{"by age", time.Hour, 0, &rpc.PruneEventsCommand{Before: now.Add(-time.Hour).UnixMicro()}},
		{"by count", 0, 10, &rpc.PruneEventsCommand{KeepMax: 10}},
		{"both", 24 * time.Hour, 5, &rpc.PruneEventsCommand{Before: now.Add(-24 * time.Hour).UnixMicro(), KeepMax: 5}},
		{"negative age is off", -time.Hour, 7, &rpc.PruneEventsCommand{KeepMax: 7}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := PruneCommand(now, tc.retention, tc.maxEvents)
			if (got == nil) != (tc.want == nil) || (got != nil && (got.Before != tc.want.Before || got.KeepMax != tc.want.KeepMax)) {
				t.Fatalf("PruneCommand = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestPruneCommitsOnlyWhenNeeded: a prune that would remove nothing writes
// no Raft entry; one that would removes exactly the old events.
func TestPruneCommitsOnlyWhenNeeded(t *testing.T) {
	r := newFakeRaft(t)
	r.setLeader("master-1")
	m := newFakeMaster(t, r, "master-1", nil)
	now := time.Now()
	var batch []*rpc.Event
	for range 5 {
		batch = append(batch, newEvent("agent-1", rpc.EventType_NODE_CRASHED, "node-old", now.Add(-2*time.Hour).UnixMicro()))
	}
	batch = append(batch, newEvent("agent-1", rpc.EventType_NODE_CRASHED, "node-new", now.UnixMicro()))
	if _, err := m.Apply(fsm.AppendEventsType, &rpc.EmitEventsRequest{Events: batch}); err != nil {
		t.Fatal(err)
	}

	if n, err := m.pipeline.Prune(PruneCommand(now, 3*time.Hour, 100)); err != nil || n != 0 {
		t.Fatalf("prune within limits: removed %d, %v", n, err)
	}
	if c := r.applyCount(fsm.PruneEventsType); c != 0 {
		t.Fatalf("%d prune commands committed for nothing to prune", c)
	}
	if n, err := m.pipeline.Prune(PruneCommand(now, time.Hour, 0)); err != nil || n != 5 {
		t.Fatalf("prune by age: removed %d, %v; want 5", n, err)
	}
	left := storedEvents(t, r.store)
	if len(left) != 1 || left[0].EntityId != "node-new" {
		t.Fatalf("after prune %d events left, want only node-new", len(left))
	}
	if n, err := m.pipeline.Prune(nil); err != nil || n != 0 {
		t.Fatalf("nil command: removed %d, %v", n, err)
	}
	r.setLeader("master-2")
	if _, err := m.pipeline.Prune(PruneCommand(now, 0, 1)); err != nil {
		t.Fatalf("nothing to prune on a follower: %v", err) // no entry needed, so no error
	}
	if _, err := m.pipeline.Prune(&rpc.PruneEventsCommand{Before: now.Add(time.Hour).UnixMicro()}); err == nil {
		t.Fatal("prune on a follower succeeded")
	}
}

// TestRunLeaderPrunesUntilCanceled: the leader task prunes to MaxEvents,
// and returns nil once its context ends.
func TestRunLeaderPrunesUntilCanceled(t *testing.T) {
	r := newFakeRaft(t)
	r.setLeader("master-1")
	m := newFakeMaster(t, r, "master-1", func(c *Config) { c.MaxEvents = 3; c.PruneEvery = 5 * time.Millisecond })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.pipeline.RunLeader(ctx) }()
	var batch []*rpc.Event
	for range 10 {
		batch = append(batch, newEvent("agent-1", rpc.EventType_NODE_CRASHED, "node-1", 0))
	}
	if _, err := m.Apply(fsm.AppendEventsType, &rpc.EmitEventsRequest{Events: batch}); err != nil {
		t.Fatal(err)
	}
	waitfor.True(t, 10*time.Second, "events pruned to 3", func() bool {
		st, err := r.store.Stats()
		return err == nil && st.Events == 3
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("RunLeader returned %v after cancel, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("RunLeader did not return after its context ended")
	}
	kept, err := r.store.Events(eventstore.Filter{Ascending: true, Limit: 10})
	if err != nil || len(kept) != 3 || kept[0].Id != batch[7].Id {
		t.Fatalf("kept %v (%v), want the 3 newest", kept, err)
	}
}

// Retention that keeps everything returns at once (RunLeader itself runs
// until its context ends: alert rules and webhooks run beside retention).
func TestRetentionKeepingEverythingReturnsAtOnce(t *testing.T) {
	r := newFakeRaft(t)
	m := newFakeMaster(t, r, "master-1", nil) // Retention 0, MaxEvents 0
	if err := m.pipeline.runRetention(context.Background()); err != nil {
		t.Fatal(err)
	}
}
