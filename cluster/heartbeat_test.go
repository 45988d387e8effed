package cluster

import (
	"testing"
	"time"

	"github.com/gridctl/grid/eventstore"
	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/waitfor"
)

// agentEvents lists the event types recorded for an agent on m, oldest first.
func agentEvents(t *testing.T, m *Master, agentID string) []rpc.EventType {
	t.Helper()
	evs, err := m.fsm.Events().Events(eventstore.Filter{Entities: []string{agentID}, Ascending: true, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out []rpc.EventType
	for _, e := range evs {
		if e.EntityId == agentID {
			out = append(out, e.Type)
		}
	}
	return out
}

func agentStatus(m *Master, id string) string {
	a, ok := m.fsm.Agent(id)
	if !ok {
		return ""
	}
	return a.Status
}

func TestHeartbeatTransitions(t *testing.T) {
	tc := startTestCluster(t, 3, func(c *Config) {
		c.HeartbeatInterval = 100 * time.Millisecond
		c.DegradedAfter = 300 * time.Millisecond
		c.OfflineAfter = 600 * time.Millisecond
	})
	leader := waitForLeader(t, tc.masters)
	follower := followerOfCluster(tc.masters, leader)
	c := grpcClient(t, follower)
	if _, err := c.RegisterAgent(testCtx(t), &rpc.AgentInfo{AgentId: "agent-hb", AgentEndpoint: "127.0.0.1:1"}); err != nil {
		t.Fatal(err)
	}
	applied := leader.consensus.raft.AppliedIndex()
	// Steady heartbeats keep it healthy and write nothing to Raft.
	for range 5 {
		if _, err := c.Heartbeat(testCtx(t), &rpc.HeartbeatRequest{AgentId: "agent-hb"}); err != nil {
			t.Fatal(err)
		}
	}
	waitfor.True(t, 5*time.Second, "registration replicated", func() bool { return agentStatus(follower, "agent-hb") == rpc.AgentHealthy })
	// Silence: degraded, then offline, replicated to every master.
	waitfor.True(t, 5*time.Second, "agent degraded", func() bool { return agentStatus(follower, "agent-hb") == rpc.AgentDegraded })
	if leader.consensus.raft.AppliedIndex() <= applied {
		t.Error("degraded transition was not committed")
	}
	waitfor.True(t, 5*time.Second, "agent offline", func() bool { return agentStatus(follower, "agent-hb") == rpc.AgentOffline })
	st, err := c.GetClusterStatus(testCtx(t), &rpc.Empty{})
	if err != nil || st.Status == clusterHealthy || st.HealthyAgents != 0 {
		t.Errorf("status with the only agent offline = %v, %v", st, err)
	}
	// A heartbeat brings it back.
	if _, err := c.Heartbeat(testCtx(t), &rpc.HeartbeatRequest{AgentId: "agent-hb"}); err != nil {
		t.Fatal(err)
	}
	waitfor.True(t, 5*time.Second, "agent recovered", func() bool { return agentStatus(follower, "agent-hb") == rpc.AgentHealthy })
	// Every master records the lifecycle. (An election in the middle of a
	// transition can make its commit's outcome unknown to the old leader,
	// which then emits no event, so the check is "each kind present",
	// registration first.)
	want := []rpc.EventType{rpc.EventType_AGENT_DEGRADED, rpc.EventType_AGENT_OFFLINE, rpc.EventType_AGENT_RECOVERED}
	waitfor.True(t, 5*time.Second, "lifecycle events on every master", func() bool {
		for _, m := range tc.masters {
			got := agentEvents(t, m, "agent-hb")
			if len(got) == 0 || got[0] != rpc.EventType_AGENT_REGISTERED {
				return false
			}
			seen := map[rpc.EventType]bool{}
			for _, e := range got {
				seen[e] = true
			}
			n := 0
			for _, w := range want {
				if seen[w] {
					n++
				}
			}
			if n < len(want)-1 || !seen[rpc.EventType_AGENT_RECOVERED] {
				return false
			}
		}
		return true
	})
}

func TestHeartbeatGraceAfterLeaderChange(t *testing.T) {
	tc := startTestCluster(t, 3, func(c *Config) {
		c.HeartbeatInterval = 100 * time.Millisecond
		c.DegradedAfter = 400 * time.Millisecond
		// The grace (OfflineAfter) leaves room for the time waitForLeader
		// takes to see the new leader, counted after the election: on a
		// loaded machine it took 750 ms, and with a grace of 800 ms the
		// first heartbeat came after the grace had run out.
		c.OfflineAfter = 2 * time.Second
	})
	leader := waitForLeader(t, tc.masters)
	follower := followerOfCluster(tc.masters, leader)
	c := grpcClient(t, follower)
	if _, err := c.RegisterAgent(testCtx(t), &rpc.AgentInfo{AgentId: "agent-grace", AgentEndpoint: "127.0.0.1:1"}); err != nil {
		t.Fatal(err)
	}
	// The old leader dies right after the last heartbeat it saw. The agent
	// stays silent for longer than DegradedAfter counted from the new
	// leader's election (but less than the grace), then heartbeats again:
	// the grace must keep it healthy.
	if _, err := c.Heartbeat(testCtx(t), &rpc.HeartbeatRequest{AgentId: "agent-grace"}); err != nil {
		t.Fatal(err)
	}
	leader.Kill()
	newLeader := waitForLeader(t, tc.masters)
	elected := time.Now()
	nc := grpcClient(t, newLeader)
	silence := tc.configs[0].DegradedAfter + 150*time.Millisecond
	waitfor.True(t, 5*time.Second, "a silence longer than degraded_after", func() bool { return time.Since(elected) > silence })
	hbUntil := time.Now().Add(2 * tc.configs[0].OfflineAfter)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(hbUntil) {
		if _, err := nc.Heartbeat(testCtx(t), &rpc.HeartbeatRequest{AgentId: "agent-grace"}); err != nil {
			t.Fatalf("heartbeat to the new leader: %v", err)
		}
		<-tick.C
	}
	for _, typ := range agentEvents(t, newLeader, "agent-grace") {
		if typ == rpc.EventType_AGENT_OFFLINE || typ == rpc.EventType_AGENT_DEGRADED {
			t.Fatalf("agent judged %s because the leader changed", typ.Name())
		}
	}
	if got := agentStatus(newLeader, "agent-grace"); got != rpc.AgentHealthy {
		t.Fatalf("status = %q, want healthy", got)
	}
}
