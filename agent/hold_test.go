package agent

import (
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/waitfor"
)

// Nodes found dead at start-up wait for a registration: the stale one
// (placed elsewhere meanwhile) is dropped without a restart, the other is
// restarted.
func TestHeldNodesReleasedByRegistration(t *testing.T) {
	cfg := testConfig(t)
	cfg.HoldRecovered = time.Hour
	recs := []*NodeRecord{
		{NodeID: "moved", Port: cfg.PortRangeStart, StoragePath: cfg.DataDir + "/nodes/moved", MemoryLimitMB: 64, PID: 1 << 22, StartTime: 1, Status: rpc.NodeRunning},
		{NodeID: "ours", Port: cfg.PortRangeStart + 1, StoragePath: cfg.DataDir + "/nodes/ours", MemoryLimitMB: 64, PID: 1<<22 + 1, StartTime: 1, Status: rpc.NodeRunning},
	}
	if err := saveState(cfg.DataDir, cfg.AgentID, recs); err != nil {
		t.Fatal(err)
	}
	s, rec := newTestSupervisor(t, cfg)
	for _, id := range []string{"moved", "ours"} {
		if st := nodeStatus(t, s, id); st.Status != rpc.NodeCrashed || st.Pid != 0 && rec.count(rpc.EventType_NODE_RESTARTED, id) != 0 {
			t.Fatalf("%s before registration: %+v", id, st)
		}
	}
	s.ReleaseHeld([]string{"moved"})
	waitfor.True(t, 10*time.Second, "ours restarted", func() bool {
		st := nodeStatus(t, s, "ours")
		return st.Status == rpc.NodeRunning && st.Pid != 0
	})
	if _, err := s.Status("moved"); err == nil {
		t.Fatal("the stale node is still in the table")
	}
	if rec.count(rpc.EventType_NODE_RESTARTED, "moved") != 0 || rec.count(rpc.EventType_NODE_CRASHED, "moved") != 0 {
		t.Fatal("the stale node was restarted")
	}
}
