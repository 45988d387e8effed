package cluster

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gridctl/grid/eventstore"
	"github.com/gridctl/grid/rpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// dialMaster opens a gRPC connection to m, closed with the test.
func dialMaster(t *testing.T, m *Master) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(m.Addresses().GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial %s: %v", m.ID(), err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func followerOf(masters []*Master, leader *Master) *Master {
	for _, m := range masters {
		if m != leader {
			return m
		}
	}
	return nil
}

// allEvents lists every event m's replica holds, in seq order.
func allEvents(t *testing.T, m *Master) []*rpc.Event {
	t.Helper()
	var out []*rpc.Event
	var after uint64
	for {
		page, err := m.fsm.Events().Events(eventstore.Filter{After: after, Ascending: true, Limit: 10000})
		if err != nil {
			t.Fatalf("%s: read events: %v", m.ID(), err)
		}
		out = append(out, page...)
		if len(page) < 10000 {
			return out
		}
		after = page[len(page)-1].Seq
	}
}

// sameOrderEverywhere polls until every master's replica holds the same
// events in the same seq order, each of want exactly once.
func sameOrderEverywhere(t *testing.T, masters []*Master, want []string) {
	t.Helper()
	check := func() string {
		ref := idsOf(allEvents(t, masters[0]))
		for _, m := range masters[1:] {
			if got := idsOf(allEvents(t, m)); !equalStrings(got, ref) {
				return fmt.Sprintf("%s has %d events, %s has %d (or in another order)", masters[0].ID(), len(ref), m.ID(), len(got))
			}
		}
		count := make(map[string]int, len(ref))
		for _, id := range ref {
			count[id]++
		}
		for _, id := range want {
			if count[id] != 1 {
				return fmt.Sprintf("event %s present %d times", id, count[id])
			}
		}
		return ""
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		why := check()
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			for _, m := range masters {
				t.Logf("%s: applied index %d, last seq %d", m.ID(), m.fsm.AppliedIndex(), m.fsm.Events().LastSeq())
			}
			t.Fatalf("replicas not equal and complete after 30s: %s", why)
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
}

// emitAcked sends req through c until it is acknowledged, like an agent
// that keeps its events until then.
func emitAcked(t *testing.T, c rpc.GridMasterClient, req *rpc.EmitEventsRequest) *rpc.EmitEventsResponse {
	t.Helper()
	var resp *rpc.EmitEventsResponse
	var lastErr error
	pollUntil(t, 20*time.Second, "emit acknowledged", func() bool {
		resp, lastErr = c.EmitEvents(context.Background(), req)
		if lastErr != nil {
			t.Logf("emit: %v", lastErr)
		}
		return lastErr == nil
	})
	return resp
}

// pruneOnLeader runs the leader's prune with cfg, on whichever master leads.
func pruneOnLeader(t *testing.T, masters []*Master, cfg EventConfig) uint64 {
	t.Helper()
	var removed uint64
	pollUntil(t, 20*time.Second, "prune committed by the leader", func() bool {
		leader := waitForLeader(t, masters)
		n, err := leader.pruneEvents(time.Now(), cfg)
		if err != nil {
			t.Logf("prune: %v", err)
			return false
		}
		removed = n
		return true
	})
	return removed
}

func freshEvents(source string, n int, typ rpc.EventType, entity string) []*rpc.Event {
	out := make([]*rpc.Event, n)
	for i := range out {
		out[i] = rpc.NewEvent(source, typ, entity, map[string]string{"i": fmt.Sprint(i)})
	}
	return out
}

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
		filter := &rpc.EventFilter{EntityIds: []string{"node-s"}}
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
		if !equalStrings(idsOf(got), want) {
			t.Fatalf("stream across reconnect: got %d events, not the 65 emitted in order exactly once", len(got))
		}
	})

	t.Run("ask in plain words", func(t *testing.T) {
		for _, id := range []string{"agent-001", "agent-002"} {
			pollUntil(t, 20*time.Second, "register "+id, func() bool {
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
		pollUntil(t, 10*time.Second, "2 agent_registered events counted", func() bool {
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
		pollUntil(t, 10*time.Second, "node-9 concept replicated", func() bool {
			r, err := sc.QueryConcept(ctx, &rpc.QueryConceptRequest{ConceptId: "node-9"})
			return err == nil && r.GetFound()
		})
		_, err := sc.LearnConcept(ctx, &rpc.LearnConceptRequest{ConceptId: "x", Content: "y"})
		if status.Code(err) != codes.PermissionDenied {
			t.Fatalf("learn on a master: %v, want PERMISSION_DENIED", err)
		}
	})

	t.Run("stream cursor older than retention is out of range", func(t *testing.T) {
		if removed := pruneOnLeader(t, masters, EventConfig{MaxEvents: 10}); removed == 0 {
			t.Fatal("prune removed nothing")
		}
		for _, m := range masters {
			pollUntil(t, 10*time.Second, m.ID()+" pruned", func() bool {
				st, err := m.fsm.Events().Stats()
				return err == nil && st.Events == 10
			})
		}
		// Nothing more to prune: no Raft entry is written.
		if removed := pruneOnLeader(t, masters, EventConfig{MaxEvents: 10}); removed != 0 {
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

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestEventsSurviveLeaderChanges sends agent batches and master events
// while leadership moves; every acknowledged event ends up exactly once on
// every master, in the same order.
func TestEventsSurviveLeaderChanges(t *testing.T) {
	masters := newTestCluster(t, 3)
	waitForLeader(t, masters)
	clients := make([]rpc.GridMasterClient, len(masters))
	for i, m := range masters {
		clients[i] = rpc.NewGridMasterClient(dialMaster(t, m))
	}

	stop := make(chan struct{})
	var mu sync.Mutex
	var acked []string
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Add(1)
		go func() { // an agent: resend each batch until acknowledged
			defer wg.Done()
			source := fmt.Sprintf("agent-%d", w)
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				batch := freshEvents(source, 10, rpc.EventType_NODE_CRASHED, fmt.Sprintf("node-%d", w))
				for attempt := 0; ; attempt++ {
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					_, err := clients[(n+attempt)%len(clients)].EmitEvents(ctx, &rpc.EmitEventsRequest{Events: batch, Source: source})
					cancel()
					if err == nil {
						break
					}
					t.Logf("%s: emit attempt %d: %v", source, attempt, err)
					select {
					case <-stop:
						return // never acknowledged: not counted
					case <-time.After(20 * time.Millisecond): // agent back-off between resends
					}
				}
				mu.Lock()
				acked = append(acked, idsOf(batch)...)
				mu.Unlock()
			}
		}()
	}
	ackedCount := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	var own []string
	for round := range 3 {
		before := ackedCount()
		pollUntil(t, 20*time.Second, "agent batches acknowledged under this leader", func() bool { return ackedCount() >= before+60 })
		leader := waitForLeader(t, masters)
		for _, m := range masters {
			for _, e := range freshEvents(m.ID(), 20, rpc.EventType_CLUSTER_HEALTHY, m.ID()) {
				own = append(own, e.Id)
				m.emit(e)
			}
		}
		if err := leader.Raft().LeadershipTransfer().Error(); err != nil {
			t.Logf("round %d: leadership transfer: %v", round, err)
		}
		pollUntil(t, 10*time.Second, "a new leader", func() bool {
			for _, m := range masters {
				if m != leader && m.isLeader() {
					return true
				}
			}
			return false
		})
	}
	close(stop)
	wg.Wait()
	mu.Lock()
	want := append(acked, own...)
	mu.Unlock()
	if len(acked) == 0 {
		t.Fatal("no batch was acknowledged")
	}
	t.Logf("%d agent events acknowledged, %d master events emitted", len(acked), len(own))
	sameOrderEverywhere(t, masters, want)
	for _, m := range masters {
		if d := m.pipeline().batcher.Dropped(); d != 0 {
			t.Fatalf("%s dropped %d events", m.ID(), d)
		}
	}
}

// TestPruneByAge checks that the leader's prune by age removes old events
// on every replica, and only them.
func TestPruneByAge(t *testing.T) {
	masters := newTestCluster(t, 3)
	leader := waitForLeader(t, masters)
	old := freshEvents(leader.ID(), 5, rpc.EventType_NODE_CRASHED, "node-old")
	for _, e := range old {
		e.Timestamp = time.Now().Add(-2 * time.Hour).UnixMicro()
	}
	recent := freshEvents(leader.ID(), 1, rpc.EventType_NODE_CRASHED, "node-new")
	c := rpc.NewGridMasterClient(dialMaster(t, followerOf(masters, leader)))
	emitAcked(t, c, &rpc.EmitEventsRequest{Events: append(old, recent...)})
	if removed := pruneOnLeader(t, masters, EventConfig{Retention: time.Hour}); removed != 5 {
		t.Fatalf("prune by age removed %d, want 5", removed)
	}
	for _, m := range masters {
		pollUntil(t, 10*time.Second, m.ID()+" pruned the old events", func() bool {
			store := m.fsm.Events()
			n, err := store.CountEvents(eventstore.Filter{Entities: []string{"node-old"}})
			kept, err2 := store.CountEvents(eventstore.Filter{Entities: []string{"node-new"}})
			return err == nil && err2 == nil && n == 0 && kept == 1
		})
	}
}
