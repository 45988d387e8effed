package test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/harness"
	"github.com/gridctl/grid/test/waitfor"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// register registers a simulated agent through m and fails the test on error.
func register(t *testing.T, m *harness.Master, id string) {
	t.Helper()
	ctx, cancel := harness.Ctx(15 * time.Second)
	defer cancel()
	_, err := m.Client().RegisterAgent(ctx, &rpc.AgentInfo{AgentId: id, Hostname: "sim-" + id, Platform: "linux-x86_64", MaxStorageNodes: 5, AgentEndpoint: "127.0.0.1:1"})
	if err != nil {
		t.Fatalf("register %s through %s: %v", id, m.ID, err)
	}
}

// agentIDs lists the agents master m knows from its own replica.
func agentIDs(m *harness.Master) (map[string]bool, error) {
	ctx, cancel := harness.Ctx(3 * time.Second)
	defer cancel()
	l, err := m.Client().ListAgents(harness.Stale(ctx), &rpc.Empty{})
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, a := range l.Agents {
		out[a.AgentId] = true
	}
	return out, nil
}

// waitAllHave waits until every live master's replica holds every id in want.
func waitAllHave(t *testing.T, c *harness.Cluster, want []string) {
	t.Helper()
	waitfor.Until(t, 20*time.Second, "every acknowledged registration on every live master", func() (bool, string) {
		for _, m := range c.Live() {
			have, err := agentIDs(m)
			if err != nil {
				return false, fmt.Sprintf("%s: %v", m.ID, err)
			}
			for _, id := range want {
				if !have[id] {
					return false, fmt.Sprintf("%s lacks %s", m.ID, id)
				}
			}
		}
		return true, ""
	})
}

func TestLeaderKilledFiveTimesLosesNothing(t *testing.T) {
	c := harness.NewCluster(t, harness.Options{})
	var acked []string
	leader := c.WaitLeader(30 * time.Second)
	for round := 1; round <= 5; round++ {
		// Register through the leader and through each follower (forwarded).
		for i, m := range append([]*harness.Master{leader}, c.Followers(leader)...) {
			id := fmt.Sprintf("agent-r%d-%d", round, i)
			register(t, m, id)
			acked = append(acked, id)
		}
		old := leader
		if err := old.Kill(); err != nil {
			t.Fatal(err)
		}
		leader = c.WaitLeader(30 * time.Second)
		if leader == old {
			t.Fatalf("round %d: %s still leader after SIGKILL", round, old.ID)
		}
		// A write through the new leader is accepted.
		id := fmt.Sprintf("agent-r%d-after", round)
		register(t, leader, id)
		acked = append(acked, id)
		waitAllHave(t, c, acked)
		if err := old.Start(); err != nil {
			t.Fatal(err)
		}
		c.WaitLeader(30 * time.Second)
		waitAllHave(t, c, acked)
		c.WaitSameState(30 * time.Second)
	}
	h := c.WaitSameState(30 * time.Second)
	if int(h.Agents) != len(acked) {
		t.Fatalf("registry holds %d agents, %d registrations were acknowledged", h.Agents, len(acked))
	}
}

func TestBootstrapExpectFormsOneClusterWhateverTheOrder(t *testing.T) {
	for round := range 3 {
		t.Run(fmt.Sprintf("round-%d", round), func(t *testing.T) {
			c := harness.NewCluster(t, harness.Options{})
			leader := c.WaitLeader(30 * time.Second)
			ctx, cancel := harness.Ctx(10 * time.Second)
			defer cancel()
			ml, err := leader.Client().ListMasters(ctx, &rpc.Empty{})
			if err != nil {
				t.Fatal(err)
			}
			voters := 0
			for _, m := range ml.Masters {
				if m.Suffrage == "voter" {
					voters++
				}
			}
			if voters != 3 {
				t.Fatalf("want one cluster of 3 voters, leader %s sees %d: %v", leader.ID, voters, ml.Masters)
			}
			register(t, c.Followers(leader)[0], "agent-one")
			waitAllHave(t, c, []string{"agent-one"})
		})
	}
}

func TestFourthMasterJoinsThenIsRemoved(t *testing.T) {
	c := harness.NewCluster(t, harness.Options{})
	leader := c.WaitLeader(30 * time.Second)
	register(t, leader, "agent-before-join")
	m4 := c.AddMaster("master-4", false)
	if err := m4.Start(); err != nil {
		t.Fatal(err)
	}
	waitfor.Until(t, 60*time.Second, "master-4 promoted to voter", func() (bool, string) {
		ctx, cancel := harness.Ctx(3 * time.Second)
		defer cancel()
		ml, err := c.WaitLeader(10*time.Second).Client().ListMasters(ctx, &rpc.Empty{})
		if err != nil {
			return false, err.Error()
		}
		for _, m := range ml.Masters {
			if m.Id == "master-4" {
				return m.Suffrage == "voter", "master-4 is " + m.Suffrage
			}
		}
		return false, "master-4 not in the configuration"
	})
	waitAllHave(t, c, []string{"agent-before-join"})
	c.WaitSameState(30 * time.Second)

	// Remove it (a graceful operator action), then it is gone from the peers.
	if err := m4.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := harness.Ctx(15 * time.Second)
	defer cancel()
	if _, err := leader.Client().RemovePeer(ctx, &rpc.RemovePeerRequest{Id: "master-4"}); err != nil {
		t.Fatalf("remove master-4: %v", err)
	}
	ml, err := c.WaitLeader(10*time.Second).Client().ListMasters(ctx, &rpc.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ml.Masters {
		if m.Id == "master-4" {
			t.Fatalf("master-4 still listed after remove-peer: %v", m)
		}
	}
	register(t, c.WaitLeader(10*time.Second), "agent-after-remove")
}

func TestRemovePeerRefusesToLoseQuorum(t *testing.T) {
	c := harness.NewCluster(t, harness.Options{})
	leader := c.WaitLeader(30 * time.Second)
	f := c.Followers(leader)
	if err := f[0].Kill(); err != nil {
		t.Fatal(err)
	}
	// The leader notices the dead voter (raft contact and gossip) before the operator acts.
	waitfor.Until(t, 30*time.Second, f[0].ID+" reported unhealthy", func() (bool, string) {
		ctx, cancel := harness.Ctx(3 * time.Second)
		defer cancel()
		ml, err := leader.Client().ListMasters(ctx, &rpc.Empty{})
		if err != nil {
			return false, err.Error()
		}
		for _, m := range ml.Masters {
			if m.Id == f[0].ID {
				return !m.Healthy, fmt.Sprintf("%s healthy=%v", m.Id, m.Healthy)
			}
		}
		return false, f[0].ID + " not listed"
	})
	// With one of three down, removing the other live follower would leave one live voter of two.
	ctx, cancel := harness.Ctx(15 * time.Second)
	defer cancel()
	_, err := leader.Client().RemovePeer(ctx, &rpc.RemovePeerRequest{Id: f[1].ID})
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("remove-peer of a live voter with one voter down: want FAILED_PRECONDITION, got %v", err)
	}
	_, err = leader.Client().RemovePeer(ctx, &rpc.RemovePeerRequest{Id: "master-nope"})
	if status.Code(err) != codes.NotFound || !strings.Contains(status.Convert(err).Message(), "master-nope") {
		t.Fatalf("remove-peer of an unknown id: want NOT_FOUND naming it, got %v", err)
	}
}

func TestRestartedMasterKeepsItsData(t *testing.T) {
	c := harness.NewCluster(t, harness.Options{})
	leader := c.WaitLeader(30 * time.Second)
	for i := range 5 {
		register(t, leader, fmt.Sprintf("agent-%03d", i))
	}
	want := []string{"agent-000", "agent-001", "agent-002", "agent-003", "agent-004"}
	waitAllHave(t, c, want)
	// Restart every master at once: state must come back from disk alone.
	for _, m := range c.Masters {
		if err := m.Kill(); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range c.Masters {
		if err := m.Start(); err != nil {
			t.Fatal(err)
		}
	}
	c.WaitLeader(30 * time.Second)
	waitAllHave(t, c, want)
	c.WaitSameState(30 * time.Second)
}

func TestWritesWithoutQuorumFailInsteadOfHanging(t *testing.T) {
	c := harness.NewCluster(t, harness.Options{})
	leader := c.WaitLeader(30 * time.Second)
	for _, f := range c.Followers(leader) {
		if err := f.Kill(); err != nil {
			t.Fatal(err)
		}
	}
	// The client's own deadline is generous; the server must answer first.
	ctx, cancel := harness.Ctx(60 * time.Second)
	defer cancel()
	_, err := leader.Client().RegisterAgent(ctx, &rpc.AgentInfo{AgentId: "agent-no-quorum", AgentEndpoint: "127.0.0.1:1"})
	if err == nil {
		t.Fatal("a write without quorum succeeded")
	}
	if ctx.Err() != nil {
		t.Fatalf("the write hung until the client gave up: %v", err)
	}
	if c := status.Code(err); c != codes.Unavailable && c != codes.DeadlineExceeded {
		t.Fatalf("want UNAVAILABLE from the server, got %v", err)
	}
}

func TestBadInputIsRefusedWithClearCodes(t *testing.T) {
	c := harness.NewCluster(t, harness.Options{})
	leader := c.WaitLeader(30 * time.Second)
	follower := c.Followers(leader)[0]
	ctx, cancel := harness.Ctx(15 * time.Second)
	defer cancel()
	for _, m := range []*harness.Master{leader, follower} {
		_, err := m.Client().Heartbeat(ctx, &rpc.HeartbeatRequest{AgentId: "agent-never-registered"})
		if status.Code(err) != codes.NotFound {
			t.Errorf("%s: heartbeat of unknown agent: want NOT_FOUND, got %v", m.ID, err)
		}
		for _, bad := range []string{"", strings.Repeat("a", 300), "agent/../x", "agent 1", "agent\x00"} {
			_, err := m.Client().RegisterAgent(ctx, &rpc.AgentInfo{AgentId: bad, AgentEndpoint: "127.0.0.1:1"})
			if status.Code(err) != codes.InvalidArgument {
				t.Errorf("%s: register id %q: want INVALID_ARGUMENT, got %v", m.ID, bad, err)
			}
		}
	}
	h := c.WaitSameState(20 * time.Second)
	if h.Agents != 0 {
		t.Fatalf("bad input changed the registry: %d agents", h.Agents)
	}
}
