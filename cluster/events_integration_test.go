package cluster

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/waitfor"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

func TestEventsOnCluster(t *testing.T) {
	masters := newTestCluster(t, 3)
	leader := waitForLeader(t, masters)
	follower := followerOf(masters, leader)
	fc := rpc.NewGridMasterClient(dialMaster(t, follower))
	ctx := context.Background()

	t.Run("emitted on leader and follower, sent by agents: once everywhere in one order", func(t *testing.T) {
		var want []string
		for _, e := range freshEvents(leader.ID(), 200, rpc.EventType_CLUSTER_HEALTHY, "cluster") {
			want = append(want, e.Id)
			leader.emit(e)
		}
		for _, e := range freshEvents(follower.ID(), 200, rpc.EventType_NODE_CRASHED, "node-7") {
			want = append(want, e.Id)
			follower.emit(e)
		}
		agentEvents := freshEvents("agent-9", 100, rpc.EventType_NODE_RESTARTED, "node-9")
		resp := emitAcked(t, fc, &rpc.EmitEventsRequest{Events: agentEvents, Source: "agent-9"})
		if resp.LastSeq == 0 {
			t.Fatalf("emit answer last_seq=0")
		}
		// Acknowledged means committed: a consistent read sees them.
		list, err := fc.QueryEvents(ctx, &rpc.EventFilter{EntityIds: []string{"node-9"}, Limit: 1000})
		if err != nil || len(list.Events) != 100 {
			t.Fatalf("consistent read after ack: %d events, %v", len(list.GetEvents()), err)
		}
		// A resend (lost answer) is acknowledged, stored once.
		resp = emitAcked(t, fc, &rpc.EmitEventsRequest{Events: agentEvents, Source: "agent-9"})
		if resp.Accepted != 0 {
			t.Fatalf("resend: accepted=%d, want 0", resp.GetAccepted())
		}
		want = append(want, idsOf(agentEvents)...)
		sameOrderEverywhere(t, masters, want)
	})

	t.Run("emit and query validation", func(t *testing.T) {
		_, err := fc.EmitEvents(ctx, &rpc.EmitEventsRequest{})
		if status.Code(err) != codes.InvalidArgument {
			t.Fatalf("empty emit: %v, want INVALID_ARGUMENT", err)
		}
		bad := freshEvents("agent-9", 2, rpc.EventType_NODE_CRASHED, "node-1")
		bad[1].EntityId = ""
		_, err = fc.EmitEvents(ctx, &rpc.EmitEventsRequest{Events: bad})
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "events[1]") {
			t.Fatalf("bad entity: %v, want INVALID_ARGUMENT naming events[1]", err)
		}
		_, err = fc.QueryEvents(ctx, &rpc.EventFilter{Since: 20, Until: 10})
		if status.Code(err) != codes.InvalidArgument {
			t.Fatalf("since > until: %v, want INVALID_ARGUMENT", err)
		}
		_, err = fc.QueryEvents(ctx, &rpc.EventFilter{Limit: 10001})
		if status.Code(err) != codes.InvalidArgument {
			t.Fatalf("limit 10001: %v, want INVALID_ARGUMENT", err)
		}
	})

	t.Run("query consistent and stale", func(t *testing.T) {
		list, err := fc.QueryEvents(ctx, &rpc.EventFilter{EntityIds: []string{"node-9"}, Limit: 1000, Ascending: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Events) != 100 || list.LastSeq < list.Events[99].Seq || list.FirstSeq == 0 {
			t.Fatalf("got %d events, last_seq %d, first_seq %d", len(list.Events), list.LastSeq, list.FirstSeq)
		}
		for i := 1; i < len(list.Events); i++ {
			if list.Events[i].Seq <= list.Events[i-1].Seq {
				t.Fatalf("ascending query out of order at %d", i)
			}
		}
		staleCtx := metadata.AppendToOutgoingContext(ctx, rpc.StaleMetadataKey, "true")
		stale, err := fc.QueryEvents(staleCtx, &rpc.EventFilter{Types: []rpc.EventType{rpc.EventType_NODE_RESTARTED}, Limit: 1})
		if err != nil || len(stale.Events) != 1 || stale.Events[0].EntityId != "node-9" {
			t.Fatalf("stale query: %v %v", stale, err)
		}
	})

	t.Run("stream resumes exactly after a seq across reconnect", func(t *testing.T) {
		// Only the emitted types: 40 crashes also fire crash_loop (an alert_fired of node-s).
		filter := &rpc.EventFilter{EntityIds: []string{"node-s"}, Types: []rpc.EventType{rpc.EventType_NODE_CRASHED, rpc.EventType_NODE_RESTARTED}}
		first := freshEvents("agent-s", 40, rpc.EventType_NODE_CRASHED, "node-s")
		emitAcked(t, fc, &rpc.EmitEventsRequest{Events: first})
		// First connection, to the leader: read 15 events, then drop it.
		lc := rpc.NewGridMasterClient(dialMaster(t, leader))
		sctx, cancel := context.WithCancel(ctx)
		stream, err := lc.StreamEvents(sctx, &rpc.StreamEventsRequest{Filter: filter})
		if err != nil {
			t.Fatal(err)
		}
		var got []*rpc.Event
		for len(got) < 15 {
			e, err := stream.Recv()
			if err != nil {
				t.Fatalf("recv: %v", err)
			}
			got = append(got, e)
		}
		cancel()
		// Reconnect to a follower after the last seq seen, while more arrive.
		sctx, cancel = context.WithCancel(ctx)
		defer cancel()
		stream, err = fc.StreamEvents(sctx, &rpc.StreamEventsRequest{After: got[len(got)-1].Seq, Filter: filter})
		if err != nil {
			t.Fatal(err)
		}
		second := freshEvents("agent-s", 25, rpc.EventType_NODE_RESTARTED, "node-s")
		emitAcked(t, fc, &rpc.EmitEventsRequest{Events: second})
		for len(got) < 65 {
			e, err := stream.Recv()
			if err != nil {
				t.Fatalf("recv after reconnect: %v", err)
			}
			got = append(got, e)
		}
		want := append(idsOf(first), idsOf(second)...)
		if !slices.Equal(idsOf(got), want) {
			t.Fatalf("stream across reconnect: got %d events, not the 65 emitted in order exactly once", len(got))
		}
	})

	t.Run("ask in plain words", func(t *testing.T) {
		for _, id := range []string{"agent-001", "agent-002"} {
			waitfor.True(t, 20*time.Second, "register "+id, func() bool {
				_, err := fc.RegisterAgent(ctx, &rpc.AgentInfo{AgentId: id, Hostname: "host-" + id, Platform: "linux",
					MaxStorageNodes: 4, AgentEndpoint: "127.0.0.1:1"})
				return err == nil
			})
		}
		now := time.Now().UnixMicro()
		var failures []*rpc.Event
		for i := range 3 {
			e := rpc.NewEvent("agent-001", rpc.EventType_SPAWN_FAILED, fmt.Sprintf("node-f%d", i),
				map[string]string{"agent_id": "agent-001", "error": "port in use"})
			e.Timestamp = now
			failures = append(failures, e)
		}
		emitAcked(t, fc, &rpc.EmitEventsRequest{Events: failures})
		var resp *rpc.NaturalQueryResponse
		waitfor.True(t, 10*time.Second, "2 agent_registered events counted", func() bool {
			var err error
			resp, err = fc.AskQuery(ctx, &rpc.NaturalQueryRequest{Query: "how many agents registered"})
			return err == nil && resp.Count == 2
		})
		if resp.Interpretation.GetIntent() != "count" || !containsString(resp.Interpretation.GetEventTypes(), "agent_registered") {
			t.Fatalf("interpretation %v, want count of agent_registered", resp.Interpretation)
		}

		resp, err := fc.AskQuery(ctx, &rpc.NaturalQueryRequest{Query: "spawn failures today"})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Interpretation.GetIntent() != "list" || len(resp.Results) != 3 || resp.Count != 3 {
			t.Fatalf("spawn failures today: intent %q, %d results: %v", resp.Interpretation.GetIntent(), len(resp.Results), resp)
		}
		for _, e := range resp.Results {
			if e.Type != rpc.EventType_SPAWN_FAILED {
				t.Fatalf("result of type %s", e.Type.Name())
			}
		}

		resp, err = fc.AskQuery(ctx, &rpc.NaturalQueryRequest{Query: "which agents are offline"})
		if err != nil || resp.Interpretation.GetIntent() != "state" || len(resp.Agents) != 0 || len(resp.Examples) == 0 {
			t.Fatalf("which agents are offline: %v %v", resp, err)
		}

		long := strings.Repeat("what happened to agent-001 ", 800) // ~21 KB
		resp, err = fc.AskQuery(ctx, &rpc.NaturalQueryRequest{Query: long})
		if err != nil || !resp.Success || !strings.Contains(resp.Explanation, "only its beginning was read") {
			t.Fatalf("long question: %v %v", resp.GetExplanation(), err)
		}
		for _, q := range []string{"", "\u202e\u0000🔥🔥", "colorless green ideas"} {
			resp, err = fc.AskQuery(ctx, &rpc.NaturalQueryRequest{Query: q})
			if err != nil || !resp.Success || resp.Explanation == "" {
				t.Fatalf("question %q: %v %v", q, resp, err)
			}
		}
	})

	t.Run("storage service on a master is the read-only event graph", func(t *testing.T) {
		sc := rpc.NewStorageServiceClient(dialMaster(t, follower))
		waitfor.True(t, 10*time.Second, "node-9 concept replicated", func() bool {
			r, err := sc.QueryConcept(ctx, &rpc.QueryConceptRequest{ConceptId: "node-9"})
			return err == nil && r.GetFound()
		})
		_, err := sc.LearnConcept(ctx, &rpc.LearnConceptRequest{ConceptId: "x", Content: "y"})
		if status.Code(err) != codes.PermissionDenied {
			t.Fatalf("learn on a master: %v, want PERMISSION_DENIED", err)
		}
	})

	t.Run("stream cursor older than retention is out of range", func(t *testing.T) {
		if removed := pruneOnLeader(t, masters, 0, 10); removed == 0 {
			t.Fatal("prune removed nothing")
		}
		for _, m := range masters {
			waitfor.True(t, 10*time.Second, m.ID()+" pruned", func() bool {
				st, err := m.fsm.Events().Stats()
				return err == nil && st.Events == 10
			})
		}
		// Nothing more to prune: no Raft entry is written.
		if removed := pruneOnLeader(t, masters, 0, 10); removed != 0 {
			t.Fatalf("second prune removed %d", removed)
		}
		firstSeq := follower.fsm.Events().FirstSeq()
		stream, err := fc.StreamEvents(ctx, &rpc.StreamEventsRequest{After: 1})
		if err == nil {
			_, err = stream.Recv()
		}
		want := fmt.Sprintf("events after seq 1 were pruned; oldest retained is %d", firstSeq)
		if status.Code(err) != codes.OutOfRange || !strings.Contains(err.Error(), want) {
			t.Fatalf("stream after pruned seq: %v, want OUT_OF_RANGE %q", err, want)
		}
		// Resuming right before the oldest retained event is no gap.
		sctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stream, err = fc.StreamEvents(sctx, &rpc.StreamEventsRequest{After: firstSeq - 1})
		if err != nil {
			t.Fatal(err)
		}
		e, err := stream.Recv()
		if err != nil || e.Seq != firstSeq {
			t.Fatalf("stream from the oldest retained: %v %v", e, err)
		}
	})
}
