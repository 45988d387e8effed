package fsm

import (
	"sort"
	"testing"
)

// TestAgentMarks: one mark per agent with the record's status, endpoint
// and registration time, following later changes; a reused buffer is
// filled again from the start.
func TestAgentMarks(t *testing.T) {
	f := newTestFSM(t)
	logs := sampleLog(t)
	check := func(marks []AgentMark) {
		t.Helper()
		a := f.Agents()
		if len(marks) != len(a) {
			t.Fatalf("AgentMarks = %v, want one per agent (%d)", marks, len(a))
		}
		sort.Slice(marks, func(i, j int) bool { return marks[i].AgentID < marks[j].AgentID })
		for i, m := range marks {
			want := AgentMark{AgentID: a[i].AgentId, Status: a[i].Status, Endpoint: a[i].Endpoint, RegisteredAt: a[i].RegisteredAt}
			if m != want {
				t.Errorf("AgentMarks[%d] = %+v, want %+v", i, m, want)
			}
		}
	}
	var buf []AgentMark
	for _, l := range logs[:2] {
		f.Apply(l)
	}
	buf = f.AgentMarks(buf)
	check(buf)
	before := append([]AgentMark(nil), buf...)
	for _, l := range logs[2:] {
		f.Apply(l)
	}
	buf = f.AgentMarks(buf)
	check(buf)
	changed := false
	for i := range buf {
		changed = changed || i >= len(before) || buf[i] != before[i]
	}
	if !changed {
		t.Errorf("marks did not follow the registry's changes: %v", buf)
	}
}
