package events

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/gridctl/grid/fsm"
	"github.com/gridctl/grid/rpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// leaderAndFollower starts two fake masters on one fake Raft; master-1 leads.
func leaderAndFollower(t *testing.T) (r *fakeRaft, leader, follower *fakeMaster) {
	t.Helper()
	r = newFakeRaft(t)
	r.setLeader("master-1")
	leader = newFakeMaster(t, r, "master-1", nil)
	follower = newFakeMaster(t, r, "master-2", nil)
	leader.pipeline.Start()
	follower.pipeline.Start()
	return r, leader, follower
}

func TestEmitEventsForwardedAndAcknowledgedOnce(t *testing.T) {
	r, _, follower := leaderAndFollower(t)
	ctx := context.Background()
	batch := []*rpc.Event{
		newEvent("", rpc.EventType_NODE_RESTARTED, "node-9", 0),
		newEvent("", rpc.EventType_NODE_RESTARTED, "node-9", 0),
	}
	req := &rpc.EmitEventsRequest{Events: batch, Source: "agent-9"}
	resp, err := follower.pipeline.EmitEvents(ctx, req)
	if err != nil || resp.Accepted != 2 || resp.LastSeq != 2 {
		t.Fatalf("emit on a follower: %v, %v; want 2 accepted, last_seq 2", resp, err)
	}
	stored := storedEvents(t, r.store)
	if len(stored) != 2 || stored[0].Source != "agent-9" {
		t.Fatalf("stored %v, want 2 events with the request's source", stored)
	}
	resp, err = follower.pipeline.EmitEvents(ctx, req) // a resend after a lost answer
	if err != nil || resp.Accepted != 0 || resp.LastSeq != 2 {
		t.Fatalf("resend: %v, %v; want 0 accepted, last_seq 2", resp, err)
	}
}

func TestEmitEventsRejectsInvalidBatches(t *testing.T) {
	r, leader, _ := leaderAndFollower(t)
	bad := newEvent("agent-1", rpc.EventType_NODE_CRASHED, "node-1", 0)
	bad.Timestamp = -1
	for name, req := range map[string]*rpc.EmitEventsRequest{
		"empty":      {},
		"bad second": {Events: []*rpc.Event{newEvent("agent-1", rpc.EventType_NODE_CRASHED, "node-1", 0), bad}},
	} {
		_, err := leader.pipeline.EmitEvents(context.Background(), req)
		if status.Code(err) != codes.InvalidArgument {
			t.Fatalf("%s: %v, want INVALID_ARGUMENT", name, err)
		}
	}
	if n := r.applyCount(fsm.AppendEventsType); n != 0 {
		t.Fatalf("%d append commands committed for rejected batches", n)
	}
}

func TestEmitEventsAfterStopIsUnavailable(t *testing.T) {
	_, leader, _ := leaderAndFollower(t)
	leader.pipeline.Stop()
	req := &rpc.EmitEventsRequest{Events: []*rpc.Event{newEvent("agent-1", rpc.EventType_NODE_CRASHED, "node-1", 0)}}
	if _, err := leader.pipeline.EmitEvents(context.Background(), req); status.Code(err) != codes.Unavailable {
		t.Fatalf("emit after stop: %v, want UNAVAILABLE", err)
	}
}

func TestQueryEventsConsistentAndStale(t *testing.T) {
	_, leader, follower := leaderAndFollower(t)
	appendEvents(t, leader, "node-1", 4)
	ctx := context.Background()
	list, err := follower.pipeline.QueryEvents(ctx, &rpc.EventFilter{EntityIds: []string{"node-1"}, Ascending: true})
	if err != nil || len(list.Events) != 4 || list.LastSeq != 4 || list.FirstSeq != 1 {
		t.Fatalf("consistent query through the leader: %v, %v", list, err)
	}
	// A stale read is answered by this master even when the leader is gone.
	leader.raft.setLeader("")
	staleCtx := metadata.NewIncomingContext(ctx, metadata.Pairs(rpc.StaleMetadataKey, "true"))
	if list, err = follower.pipeline.QueryEvents(staleCtx, &rpc.EventFilter{Limit: 1}); err != nil || len(list.Events) != 1 {
		t.Fatalf("stale query: %v, %v", list, err)
	}
	if list, err = follower.pipeline.QueryEvents(ctx, &rpc.EventFilter{Stale: true}); err != nil || len(list.Events) != 4 {
		t.Fatalf("stale filter: %v, %v", list, err)
	}
	if _, err = follower.pipeline.QueryEvents(ctx, &rpc.EventFilter{}); status.Code(err) != codes.Unavailable {
		t.Fatalf("consistent query without a leader: %v, want UNAVAILABLE", err)
	}
	if _, err = follower.pipeline.QueryEvents(ctx, &rpc.EventFilter{Since: 20, Until: 10}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("since > until: %v, want INVALID_ARGUMENT", err)
	}
}

func TestAskQueryAnswersFromEventsAndRegistry(t *testing.T) {
	r, leader, follower := leaderAndFollower(t)
	r.mu.Lock()
	r.agents = []*rpc.AgentRecord{{AgentId: "agent-001", Status: "offline"}, {AgentId: "agent-002", Status: "healthy"}}
	r.mu.Unlock()
	var batch []*rpc.Event
	for range 3 {
		batch = append(batch, newEvent("agent-001", rpc.EventType_SPAWN_FAILED, "node-f", 0))
	}
	if _, err := leader.Apply(fsm.AppendEventsType, &rpc.EmitEventsRequest{Events: batch}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	resp, err := follower.pipeline.AskQuery(ctx, &rpc.NaturalQueryRequest{Query: "spawn failures today"})
	if err != nil || resp.Interpretation.GetIntent() != "list" || resp.Count != 3 || len(resp.Results) != 3 {
		t.Fatalf("spawn failures today: %v, %v", resp, err)
	}
	resp, err = follower.pipeline.AskQuery(ctx, &rpc.NaturalQueryRequest{Query: "which agents are offline"})
	if err != nil || resp.Interpretation.GetIntent() != "state" || len(resp.Agents) != 1 || resp.Agents[0].AgentId != "agent-001" {
		t.Fatalf("which agents are offline: %v, %v", resp, err)
	}
	resp, err = follower.pipeline.AskQuery(ctx, &rpc.NaturalQueryRequest{Query: "how many spawn failures"})
	if err != nil || resp.Interpretation.GetIntent() != "count" || resp.Count != 3 {
		t.Fatalf("how many spawn failures: %v, %v", resp, err)
	}
	long := strings.Repeat("what happened to agent-001 ", 800)
	resp, err = follower.pipeline.AskQuery(ctx, &rpc.NaturalQueryRequest{Query: long})
	if err != nil || !strings.Contains(resp.Explanation, "only its beginning was read") || len(resp.Query) > maxQuestionBytes {
		t.Fatalf("long question: %q, %v", resp.GetExplanation(), err)
	}
	resp, err = follower.pipeline.AskQuery(ctx, &rpc.NaturalQueryRequest{Query: "colorless green ideas"})
	if err != nil || !resp.Success || len(resp.Examples) == 0 {
		t.Fatalf("not understood: %v, %v; want examples", resp, err)
	}
	known := follower.pipeline.knownEntities(r.store)
	for _, id := range []string{"agent-001", "agent-002", "node-f", "master-1", "master-2"} {
		if !slices.Contains(known, id) {
			t.Fatalf("known entities %v lack %s", known, id)
		}
	}
}

func TestToStatus(t *testing.T) {
	cases := []struct {
		err  error
		want codes.Code
	}{
		{ErrInvalid, codes.InvalidArgument},
		{ErrEventsPruned, codes.OutOfRange},
		{ErrStopped, codes.Unavailable},
		{ErrBatcherStopped, codes.Unavailable},
		{context.DeadlineExceeded, codes.DeadlineExceeded},
		{context.Canceled, codes.Canceled},
		{status.Error(codes.NotFound, "x"), codes.NotFound},
		{errNotLeader, codes.Internal},
	}
	for _, tc := range cases {
		if got := status.Code(toStatus(tc.err)); got != tc.want {
			t.Errorf("toStatus(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
	if err := ownStatus(errNotLeader); err != errNotLeader {
		t.Errorf("ownStatus changed a foreign error: %v", err)
	}
}
