package eventstore

import (
	"slices"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
)

// answerStore holds: agent-001 hosting node-a (crashes 3x then fails) and
// node-b (1 crash), a leader election between, and an alert naming node-a's
// crashes as causes.
func answerStore(t *testing.T) *Store {
	t.Helper()
	s := openTestStore(t, true)
	sec := int64(time.Second / time.Microsecond)
	on := func(agent string) map[string]string { return map[string]string{"agent_id": agent} }
	events := []*rpc.Event{
		ev("r1", rpc.EventType_AGENT_REGISTERED, "agent-001", base, nil),
		ev("c1", rpc.EventType_NODE_CRASHED, "node-a", base+1*sec, on("agent-001")),
		ev("l1", rpc.EventType_LEADER_ELECTED, "master-1", base+2*sec, nil),
		ev("c2", rpc.EventType_NODE_CRASHED, "node-a", base+3*sec, on("agent-001")),
		ev("d1", rpc.EventType_AGENT_DEGRADED, "agent-001", base+4*sec, nil),
		ev("c3", rpc.EventType_NODE_CRASHED, "node-a", base+5*sec, on("agent-001")),
		ev("cb", rpc.EventType_NODE_CRASHED, "node-b", base+6*sec, on("agent-002")),
		ev("a1", rpc.EventType_ALERT_FIRED, "node-a", base+7*sec, map[string]string{"rule": "crash_loop", CausedByDetail: "c1,c2,c3,missing"}),
		ev("f1", rpc.EventType_NODE_FAILED, "node-a", base+8*sec, on("agent-001")),
		ev("l2", rpc.EventType_LEADER_ELECTED, "master-2", base+9*sec, nil),
	}
	if _, err := s.AppendEvents(events); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAggregateGroupsOrdersAndFilters(t *testing.T) {
	s := answerStore(t)
	crashes := Filter{Types: []rpc.EventType{rpc.EventType_NODE_CRASHED}}
	got, _, err := s.Aggregate(crashes, GroupNode, Having{}, "desc", 0)
	if err != nil || !slices.Equal(got, []Group{{"node-a", 3}, {"node-b", 1}}) {
		t.Fatalf("per node = %v, %v", got, err)
	}
	got, _, _ = s.Aggregate(crashes, GroupAgent, Having{}, "desc", 1)
	if !slices.Equal(got, []Group{{"agent-001", 3}}) {
		t.Fatalf("top agent = %v", got)
	}
	got, _, _ = s.Aggregate(crashes, GroupNode, Having{Op: "gt", Count: 2}, "desc", 0)
	if !slices.Equal(got, []Group{{"node-a", 3}}) {
		t.Fatalf("more than twice = %v", got)
	}
	got, _, _ = s.Aggregate(crashes, GroupNode, Having{}, "asc", 0)
	if !slices.Equal(got, []Group{{"node-b", 1}, {"node-a", 3}}) {
		t.Fatalf("fewest first = %v", got)
	}
}

func TestWhyWalksBackFromTheFailure(t *testing.T) {
	s := answerStore(t)
	in := Compile("why did node-a fail", compileNow, []string{"node-a", "node-b", "agent-001"})
	steps, err := s.Why(in)
	if err != nil {
		t.Fatal(err)
	}
	var ids, links []string
	for _, st := range steps {
		ids = append(ids, st.Event.GetId())
		links = append(links, st.Link)
	}
	// Oldest first, the failure last; node-b's crash and the later election are not part of it.
	want := []string{"r1", "c1", "l1", "c2", "d1", "c3", "a1", "f1"}
	if !slices.Equal(ids, want) {
		t.Fatalf("chain = %v (%v), want %v", ids, links, want)
	}
	if links[2] != "leader change" || links[4] != "hosting agent agent-001" || links[len(links)-1] != "explained event" {
		t.Fatalf("links = %v", links)
	}
	// The alert's caused_by detail became graph associations.
	nb, err := s.Neighbors(mustConcept(t, s, "a1"), CausedByAssocType, 10)
	if err != nil || len(nb) != 3 {
		t.Fatalf("caused_by associations = %v, %v", nb, err)
	}
}

func mustConcept(t *testing.T, s *Store, id string) string {
	t.Helper()
	es, err := s.EventsByID([]string{id})
	if err != nil || len(es) != 1 {
		t.Fatalf("event %s: %v %v", id, es, err)
	}
	return "event-" + es[0].GetType().Name() + "-" + fmtInt(int(es[0].GetTimestamp()))
}

func TestResolveAnchorNarrowsTheRange(t *testing.T) {
	s := answerStore(t)
	known := []string{"node-a", "agent-001", "master-1", "master-2"}
	sec := int64(time.Second / time.Microsecond)
	in := Compile("crashes after the last failover", compileNow, known)
	if err := s.ResolveAnchor(&in); err != nil || in.Since != base+9*sec+1 || !in.Answerable() {
		t.Fatalf("after: since %d, %v", in.Since, err)
	}
	in = Compile("crashes between the last two leader elections", compileNow, known)
	if err := s.ResolveAnchor(&in); err != nil || in.Since != base+2*sec+1 || in.Until != base+9*sec {
		t.Fatalf("between: %d..%d, %v", in.Since, in.Until, err)
	}
	events, _ := s.Events(in.Filter(100))
	if got := seqsOf(events); len(got) != 3 {
		t.Fatalf("crashes between = %v", got)
	}
	in = Compile("what happened before agent-001 went offline", compileNow, known)
	if err := s.ResolveAnchor(&in); err != nil || in.Answerable() {
		t.Fatalf("no offline event: answerable %v, %v", in.Answerable(), err)
	}
}
