package test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/harness"
	"github.com/gridctl/grid/test/waitfor"
)

var shortLiveness = []string{"--heartbeat-interval", "300ms", "--degraded-after", "1500ms", "--offline-after", "3s"}

// agentStatus reads an agent's status as the leader sees it.
func agentStatus(c *harness.Cluster, id string) (string, error) {
	leader, why := c.LeaderOf()
	if leader == nil {
		return "", fmt.Errorf("no leader: %s", why)
	}
	ctx, cancel := harness.Ctx(3 * time.Second)
	defer cancel()
	l, err := leader.Client().ListAgents(ctx, &rpc.Empty{})
	if err != nil {
		return "", err
	}
	for _, a := range l.Agents {
		if a.AgentId == id {
			return a.Status, nil
		}
	}
	return "", fmt.Errorf("agent %s not listed", id)
}

func waitStatus(t *testing.T, c *harness.Cluster, id, want string) {
	t.Helper()
	waitfor.Until(t, 30*time.Second, id+" "+want, func() (bool, string) {
		s, err := agentStatus(c, id)
		if err != nil {
			return false, err.Error()
		}
		return s == want, "status " + s
	})
}

// beat sends one heartbeat to the first master that accepts it.
func beat(c *harness.Cluster, id string) error {
	var last error
	for _, m := range c.Live() {
		ctx, cancel := harness.Ctx(2 * time.Second)
		_, err := m.Client().Heartbeat(ctx, &rpc.HeartbeatRequest{AgentId: id, Timestamp: uint64(time.Now().Unix())})
		cancel()
		if err == nil {
			return nil
		}
		last = err
	}
	return last
}

func eventTypesOf(t *testing.T, m *harness.Master, entity string) map[rpc.EventType]int {
	t.Helper()
	ctx, cancel := harness.Ctx(5 * time.Second)
	defer cancel()
	l, err := m.Client().QueryEvents(ctx, &rpc.EventFilter{EntityIds: []string{entity}, Limit: 1000})
	if err != nil {
		t.Fatalf("events of %s: %v", entity, err)
	}
	out := map[rpc.EventType]int{}
	for _, e := range l.Events {
		out[e.Type]++
	}
	return out
}

func TestAgentGoesDegradedOfflineAndRecovers(t *testing.T) {
	c := harness.NewCluster(t, harness.Options{MasterArgs: shortLiveness})
	leader := c.WaitLeader(30 * time.Second)
	register(t, leader, "agent-007")
	if err := beat(c, "agent-007"); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, c, "agent-007", "healthy")
	// Silence: degraded, then offline.
	waitStatus(t, c, "agent-007", "degraded")
	waitStatus(t, c, "agent-007", "offline")
	// A heartbeat brings it back.
	if err := beat(c, "agent-007"); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, c, "agent-007", "healthy")
	waitfor.Until(t, 20*time.Second, "degraded, offline and recovered events", func() (bool, string) {
		got := eventTypesOf(t, c.WaitLeader(10*time.Second), "agent-007")
		ok := got[rpc.EventType_AGENT_REGISTERED] == 1 && got[rpc.EventType_AGENT_DEGRADED] == 1 &&
			got[rpc.EventType_AGENT_OFFLINE] == 1 && got[rpc.EventType_AGENT_RECOVERED] == 1
		return ok, fmt.Sprint(got)
	})
	c.WaitSameState(20 * time.Second)
}

func TestLeaderChangeMarksNoAgentOffline(t *testing.T) {
	c := harness.NewCluster(t, harness.Options{MasterArgs: shortLiveness})
	leader := c.WaitLeader(30 * time.Second)
	ids := []string{"agent-a", "agent-b", "agent-c"}
	for _, id := range ids {
		register(t, leader, id)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				_ = beat(c, id)
				time.Sleep(300 * time.Millisecond) // the agent's heartbeat interval
			}
		}()
	}
	defer func() { stop.Store(true); wg.Wait() }()
	for _, id := range ids {
		waitStatus(t, c, id, "healthy")
	}
	if err := leader.Kill(); err != nil {
		t.Fatal(err)
	}
	newLeader := c.WaitLeader(30 * time.Second)
	// Observe the new leader for twice the offline threshold.
	window := time.Now().Add(6 * time.Second)
	waitfor.Until(t, 30*time.Second, "an observation window of twice the offline threshold", func() (bool, string) {
		for _, id := range ids {
			s, err := agentStatus(c, id)
			if err == nil && s == "offline" {
				t.Fatalf("%s marked offline after the leader changed to %s", id, newLeader.ID)
			}
		}
		return time.Now().After(window), "still observing"
	})
	for _, id := range ids {
		if n := eventTypesOf(t, newLeader, id)[rpc.EventType_AGENT_OFFLINE]; n != 0 {
			t.Fatalf("%s has %d agent_offline events after a leader change", id, n)
		}
	}
}
