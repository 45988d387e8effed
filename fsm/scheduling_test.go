package fsm

import (
	"errors"
	"testing"

	"github.com/gridctl/grid/rpc"
)

// Eligibility and drain are set by AgentSchedulingType, survive a
// re-registration and a snapshot round trip, and an unknown agent is refused.
func TestAgentSchedulingSurvivesReregistration(t *testing.T) {
	f := newTestFSM(t)
	drain := &rpc.AgentDrain{Status: "draining", StartedAt: 5, Deadline: 10, MigrateData: true}
	for _, l := range logOf(t, []entry{
		{RegisterAgentType, &rpc.AgentRecord{AgentId: "agent-001", Status: "healthy"}},
		{AgentSchedulingType, &rpc.AgentSchedulingCommand{AgentId: "agent-001", Ineligible: true, SetDrain: true, Drain: drain,
			Events: []*rpc.Event{{Id: "ev-drain", Type: rpc.EventType_AGENT_DRAIN_STARTED, EntityId: "agent-001", Timestamp: 5}}}},
		{RegisterAgentType, &rpc.AgentRecord{AgentId: "agent-001", Status: "healthy", Hostname: "again"}},
	}) {
		if err, _ := f.Apply(l).(error); err != nil {
			t.Fatal(err)
		}
	}
	a, _ := f.Agent("agent-001")
	if !a.Ineligible || a.GetDrain().GetStatus() != "draining" || !a.GetDrain().GetMigrateData() || a.Hostname != "again" {
		t.Fatalf("after re-registration: %v", a)
	}
	// Eligibility alone leaves the drain as it is.
	l := logOf(t, []entry{{AgentSchedulingType, &rpc.AgentSchedulingCommand{AgentId: "agent-001"}}})[0]
	l.Index = 4
	f.Apply(l)
	if a, _ = f.Agent("agent-001"); a.Ineligible || a.GetDrain().GetStatus() != "draining" {
		t.Fatalf("eligible again: %v", a)
	}
	l = logOf(t, []entry{{AgentSchedulingType, &rpc.AgentSchedulingCommand{AgentId: "agent-404", Ineligible: true}}})[0]
	l.Index = 5
	if err, _ := f.Apply(l).(error); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown agent: %v", err)
	}
	evs, err := f.Events().Events(eventstoreFilterAll())
	if err != nil || len(evs) != 1 || evs[0].Id != "ev-drain" {
		t.Fatalf("events %v %v", evs, err)
	}
}
