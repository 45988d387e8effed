package test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gridctl/grid/eventstore"
	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/harness"
	"github.com/gridctl/grid/test/waitfor"
)

// crashingBinary writes a storage-node binary that serves for a moment
// (so the spawn succeeds) and then exits non-zero: every restart crashes.
func crashingBinary(t *testing.T) string {
	t.Helper()
	real, err := harness.Binary()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "crashing-node")
	script := fmt.Sprintf("#!/bin/sh\n%q \"$@\" &\nchild=$!\nsleep 1\nkill -9 $child\nexit 3\n", real)
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// alertEvents lists one master's alert_fired events (its own replica).
func alertEvents(t *testing.T, m *harness.Master) []*rpc.Event {
	t.Helper()
	ctx, cancel := harness.Ctx(10 * time.Second)
	defer cancel()
	l, err := m.Client().QueryEvents(ctx, &rpc.EventFilter{Types: []rpc.EventType{rpc.EventType_ALERT_FIRED}, Limit: 100, Stale: true})
	if err != nil {
		t.Fatalf("alert events on %s: %v", m.ID, err)
	}
	return l.GetEvents()
}

// TestCrashLoopAlertFiresOnceAndWhyExplains: a storage node that crashes
// on every start fires crash_loop exactly once, associated with its
// crashes, also after a leader change; "why did NODE fail" returns the chain.
func TestCrashLoopAlertFiresOnceAndWhyExplains(t *testing.T) {
	c := harness.NewCluster(t, harness.Options{})
	c.AddAgent("agent-1", harness.AgentOptions{Args: []string{"--binary", crashingBinary(t)}})
	waitStatus(t, c, "agent-1", "healthy")
	r := spawnCLI(t, c, "--agent", "agent-1")
	node := r.NodeID
	waitNodeOnAll(t, c, node, "failed after its restart budget", func(n *rpc.NodeStatus) bool { return n.Status == "failed" })

	leader := c.WaitLeader(30 * time.Second)
	var fired []*rpc.Event
	waitfor.Until(t, 30*time.Second, "crash_loop alert_fired for "+node, func() (bool, string) {
		fired = alertEvents(t, leader)
		return len(fired) > 0, "none yet"
	})
	if len(fired) != 1 || fired[0].GetEntityId() != node || fired[0].GetDetails()["rule"] != "crash_loop" {
		t.Fatalf("alert_fired events: %v", fired)
	}
	// Associated with its crashes, in the graph (alert --[998]--> crash).
	alert := fired[0]
	ctx, cancel := harness.Ctx(20 * time.Second)
	defer cancel()
	concept := fmt.Sprintf("event-alert_fired-%d", alert.GetTimestamp())
	nb, err := leader.Storage().GetNeighbors(ctx, &rpc.GetNeighborsRequest{ConceptId: concept, AssocType: eventstore.CausedByAssocType})
	if err != nil || len(nb.GetNeighbors()) < 3 {
		t.Fatalf("caused_by associations of %s: %v %v", concept, nb, err)
	}
	for _, n := range nb.GetNeighbors() {
		if !strings.HasPrefix(n.GetConceptId(), "event-node_crashed-") {
			t.Errorf("alert associated with %s, want node_crashed events", n.GetConceptId())
		}
	}

	// A new leader rebuilds the episode from the graph and does not fire again.
	rebuilt := func(m *harness.Master) int {
		b, _ := os.ReadFile(m.Log)
		return strings.Count(string(b), "alert state rebuilt")
	}
	before := map[string]int{}
	for _, m := range c.Masters {
		before[m.ID] = rebuilt(m)
	}
	if err := leader.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := leader.Start(); err != nil {
		t.Fatal(err)
	}
	next := c.WaitLeader(30 * time.Second)
	waitfor.Until(t, 30*time.Second, "the new leader rebuilt its alert state", func() (bool, string) {
		return rebuilt(next) > before[next.ID], "not yet"
	})
	for _, m := range c.Live() {
		if got := alertEvents(t, m); len(got) != 1 {
			t.Fatalf("%s holds %d alert_fired events after the leader change, want 1", m.ID, len(got))
		}
	}
	ctx2, cancel2 := harness.Ctx(20 * time.Second)
	defer cancel2()
	list, err := next.Client().ListAlerts(ctx2, &rpc.ListAlertsRequest{})
	if err != nil || len(list.GetAlerts()) != 1 || list.Alerts[0].GetKey() != node || len(list.Alerts[0].GetTriggerEventIds()) < 3 {
		t.Fatalf("ListAlerts = %v, %v", list, err)
	}

	// Why: the chain runs back from node_failed through the crashes and the alert.
	resp, err := next.Client().AskQuery(ctx2, &rpc.NaturalQueryRequest{Query: "why did " + node + " fail"})
	if err != nil {
		t.Fatal(err)
	}
	chain := resp.GetChain()
	if resp.GetInterpretation().GetIntent() != "why" || len(chain) < 5 || len(resp.GetInterpretation().GetFollowed()) == 0 {
		t.Fatalf("why: %s; chain %v", resp.GetExplanation(), chain)
	}
	counts := map[rpc.EventType]int{}
	for _, st := range chain {
		counts[st.GetEvent().GetType()]++
	}
	if last := chain[len(chain)-1].GetEvent(); last.GetType() != rpc.EventType_NODE_FAILED || last.GetEntityId() != node {
		t.Errorf("chain ends with %v, want %s's node_failed", last, node)
	}
	if counts[rpc.EventType_NODE_CRASHED] < 3 || counts[rpc.EventType_ALERT_FIRED] != 1 {
		t.Errorf("chain steps by type: %v", counts)
	}
	out := grid(t, c, "query", "why did "+node+" fail")
	if !strings.Contains(out, "node_crashed") || !strings.Contains(out, "alert_fired") || !strings.Contains(out, "explained event") {
		t.Errorf("grid query why:\n%s", out)
	}
	if out := grid(t, c, "alerts", "--all"); !strings.Contains(out, "crash_loop") || !strings.Contains(out, node) {
		t.Errorf("grid alerts --all:\n%s", out)
	}
	// An entity nobody has seen is not silently replaced.
	resp, err = next.Client().AskQuery(ctx2, &rpc.NaturalQueryRequest{Query: "why did node-doesnotexist fail"})
	if err != nil || len(resp.GetChain()) != 0 || len(resp.GetInterpretation().GetUnknownEntities()) != 1 {
		t.Fatalf("unknown entity: %v %v", resp, err)
	}
}
