package fsm

import (
	"maps"
	"testing"
)

func TestRegistryViews(t *testing.T) {
	f := newTestFSM(t)
	if f.Version() != 0 {
		t.Fatalf("fresh version = %d", f.Version())
	}
	logs := sampleLog(t)
	var versions []uint64
	for _, l := range logs {
		f.Apply(l)
		versions = append(versions, f.Version())
	}
	// Registry entries bump the version, event entries do not.
	if versions[5] != versions[4] || versions[6] != versions[5] {
		t.Errorf("event entries moved the version: %v", versions)
	}
	if versions[4] != 5 || versions[len(versions)-1] != 7 {
		t.Errorf("versions = %v, want 5 after five registry entries and 7 at the end", versions)
	}
	if st, ok := f.AgentStatus("agent-002"); !ok || st != "degraded" {
		t.Errorf("AgentStatus(agent-002) = %q, %v", st, ok)
	}
	if _, ok := f.AgentStatus("nope"); ok {
		t.Error("AgentStatus found an unknown agent")
	}
	c := f.Counts()
	if c.Agents != 2 || c.AgentsByStatus["healthy"] != 1 || c.AgentsByStatus["degraded"] != 1 || c.Nodes != 1 || c.NodesByStatus["running"] != 1 {
		t.Errorf("counts = %+v", c)
	}
	if ids := f.AgentIDsWithNodes(); len(ids) != 1 || ids[0] != "agent-001" {
		t.Errorf("AgentIDsWithNodes = %v", ids)
	}
	if ids := f.AgentIDs(); len(ids) != 2 || ids[0] != "agent-001" {
		t.Errorf("AgentIDs = %v", ids)
	}
	a := f.Agents()
	briefs := f.AgentBriefs()
	if len(briefs) != len(a) {
		t.Fatalf("AgentBriefs = %v, want one per agent", briefs)
	}
	for i, b := range briefs {
		if b.AgentID != a[i].AgentId || b.Status != a[i].Status || b.DrainStatus != a[i].GetDrain().GetStatus() {
			t.Errorf("AgentBriefs[%d] = %+v, want the record %v", i, b, a[i])
		}
	}
	if len(a) != 2 || len(a[0].StorageNodes) != 1 || a[0].CurrentStorageNodes != 1 || len(a[1].StorageNodes) != 0 {
		t.Errorf("Agents() nodes not filled: %v", a)
	}
}

// TestCountsFollowEveryChange: the memoised Counts and AgentBriefs equal a fresh walk of
// the registry after every entry of a log (registry changes, events,
// status changes, node upserts).
func TestCountsFollowEveryChange(t *testing.T) {
	f := newTestFSM(t)
	walk := func() RegistryCounts {
		c := RegistryCounts{AgentsByStatus: map[string]int{}, NodesByStatus: map[string]int{}}
		for _, a := range f.Agents() {
			c.Agents++
			c.AgentsByStatus[a.Status]++
		}
		for _, n := range f.Nodes() {
			c.Nodes++
			c.NodesByStatus[n.Status]++
		}
		return c
	}
	for i, l := range sampleLog(t) {
		f.Apply(l)
		got, want := f.Counts(), walk()
		if got.Agents != want.Agents || got.Nodes != want.Nodes || !maps.Equal(got.AgentsByStatus, want.AgentsByStatus) ||
			!maps.Equal(got.NodesByStatus, want.NodesByStatus) {
			t.Fatalf("after entry %d: Counts = %+v, a walk gives %+v", i, got, want)
		}
		briefs, agents := f.AgentBriefs(), f.Agents()
		if len(briefs) != len(agents) {
			t.Fatalf("after entry %d: %d briefs for %d agents", i, len(briefs), len(agents))
		}
		for j, b := range briefs {
			if b.AgentID != agents[j].AgentId || b.Status != agents[j].Status || b.DrainStatus != agents[j].GetDrain().GetStatus() {
				t.Fatalf("after entry %d: brief %+v, record %v", i, b, agents[j])
			}
		}
		got.AgentsByStatus["scribbled"] = 1 // callers get their own maps
		if _, ok := f.Counts().AgentsByStatus["scribbled"]; ok {
			t.Fatal("Counts handed out its cached map")
		}
	}
}
