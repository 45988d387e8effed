package cluster

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/waitfor"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// blackhole accepts TCP connections and never answers: an agent that hangs.
func blackhole(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return l.Addr().String()
}

// closedAddr is an address nothing listens on: a dead agent.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// A spawn forwarded by a follower to an agent that is down answers the
// agent's error (FAILED_PRECONDITION "agent unreachable"), and is not read
// as a dead leader: the follower keeps its shared leader connection, so a
// forwarded order in flight on it at the same time is not disturbed and
// ends with its own outcome.
func TestForwardedSpawnToDeadAgentLeavesLeaderConnection(t *testing.T) {
	tc := startTestCluster(t, 3, func(c *Config) {
		c.Nodes.SpawnTimeout = 8 * time.Second
	})
	leader := waitForLeader(t, tc.masters)
	f := followerOfCluster(tc.masters, leader)
	c := grpcClient(t, f)
	ctx := testCtx(t)

	for id, endpoint := range map[string]string{"agent-hung": blackhole(t), "agent-dead": closedAddr(t)} {
		if _, err := c.RegisterAgent(ctx, &rpc.AgentInfo{AgentId: id, AgentEndpoint: endpoint, MaxStorageNodes: 4}); err != nil {
			t.Fatalf("register %s: %v", id, err)
		}
	}
	waitfor.Until(t, 10*time.Second, "agents registered on the leader", func() (bool, string) {
		for _, id := range []string{"agent-hung", "agent-dead"} {
			if a, ok := leader.fsm.Agent(id); !ok || a.Status != rpc.AgentHealthy {
				return false, id + " not healthy on the leader"
			}
		}
		return true, ""
	})

	// A forwarded order that stays in flight: the hung agent never answers.
	type result struct {
		err  error
		done time.Time
	}
	hung := make(chan result, 1)
	go func() {
		_, err := c.SpawnStorageNode(ctx, &rpc.SpawnRequest{AgentId: "agent-hung", NodeId: "n-hung"})
		hung <- result{err, time.Now()}
	}()
	waitfor.Until(t, 10*time.Second, "the hung order recorded", func() (bool, string) {
		n, ok := leader.fsm.Node("n-hung")
		return ok && n.Status == rpc.NodePending, "no pending record yet"
	})
	connBefore := leaderConnOf(f)
	if connBefore == nil {
		t.Fatal("the follower has no leader connection while forwarding")
	}

	_, err := c.SpawnStorageNode(ctx, &rpc.SpawnRequest{AgentId: "agent-dead", NodeId: "n-dead"})
	deadDone := time.Now()
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "agent unreachable") {
		t.Fatalf("spawn on a dead agent through a follower = %v; want FAILED_PRECONDITION agent unreachable", err)
	}
	if got := leaderConnOf(f); got != connBefore {
		t.Fatal("the follower replaced its leader connection after an agent error")
	}
	// Another forwarded call meanwhile works on the same connection.
	if _, err := c.ListStorageNodes(ctx, &rpc.Empty{}); err != nil {
		t.Fatalf("forwarded ListStorageNodes: %v", err)
	}

	r := <-hung
	if r.done.Before(deadDone) {
		t.Fatalf("the hung order ended (%v) before the dead agent's answer: the test proves nothing", r.err)
	}
	// Its own outcome (the hung agent timed out), not a closed connection.
	if status.Code(r.err) != codes.FailedPrecondition || !strings.Contains(r.err.Error(), "agent unreachable") {
		t.Fatalf("the order in flight ended with %v; want its own FAILED_PRECONDITION agent unreachable", r.err)
	}
	if got := leaderConnOf(f); got != connBefore {
		t.Fatal("the follower replaced its leader connection")
	}
}

func leaderConnOf(m *Master) *grpc.ClientConn {
	m.endpoint.leaderConn.mu.Lock()
	defer m.endpoint.leaderConn.mu.Unlock()
	return m.endpoint.leaderConn.conn
}
