package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gridctl/grid/agent"
	"github.com/gridctl/grid/fsm"
	"github.com/gridctl/grid/rpc"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// These tests run in-process masters (newTestCluster) with real agents
// (package agent) supervising real `grid storage-node` processes.

var (
	gridBinOnce sync.Once
	gridBinPath string
	gridBinErr  error
)

// gridBinary returns the grid binary the agents run as storage nodes: GRID_BIN
// if set, else one built once from ./cmd/grid.
func gridBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("GRID_BIN"); p != "" {
		return p
	}
	gridBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "grid-nodes-test-")
		if err != nil {
			gridBinErr = err
			return
		}
		gridBinPath = filepath.Join(dir, "grid")
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Dir(filepath.Dir(file))
		cmd := exec.Command("go", "build", "-o", gridBinPath, "./cmd/grid")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			gridBinErr = fmt.Errorf("go build ./cmd/grid: %v\n%s", err, out)
		}
	})
	if gridBinErr != nil {
		t.Fatalf("building the grid binary: %v", gridBinErr)
	}
	return gridBinPath
}

// nodesTestLogger sends logs to t.Log.
func nodesTestLogger(t *testing.T, name string) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: name, Level: hclog.Debug, Output: testLogWriter{t}})
}

type testLogWriter struct{ t *testing.T }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// pollUntil polls cond until it holds or the deadline passes.
func waitForNodes(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	last := ""
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if detail != "" {
			last = detail
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s (last: %s)", d, what, last)
		}
		<-tick.C
	}
}

// testAgent is a real agent in this process.
type testAgent struct {
	*agent.Agent
	id   string
	cfg  agent.Config
	done chan struct{}
	stop context.CancelFunc
}

// startTestAgent starts a real agent registered with masters, ports taken
// from a random range of 30 (the agent re-checks each one is free).
func startTestAgent(t *testing.T, masters []*Master, id string, maxNodes int) *testAgent {
	return startTestAgentWith(t, masters, id, maxNodes, nil)
}

// startTestAgentWith is startTestAgent with a hook to change the config.
func startTestAgentWith(t *testing.T, masters []*Master, id string, maxNodes int, tweak func(*agent.Config)) *testAgent {
	t.Helper()
	cfg := agent.DefaultConfig()
	cfg.AgentID = id
	cfg.DataDir = t.TempDir()
	cfg.GRPCAddr = "127.0.0.1:0"
	for _, m := range masters {
		cfg.Masters = append(cfg.Masters, m.Addresses().GRPC)
	}
	base := 20000 + rand.IntN(400)*30
	cfg.PortRangeStart, cfg.PortRangeEnd = base, base+29
	cfg.MaxNodes = maxNodes
	cfg.BinaryPath = gridBinary(t)
	cfg.HeartbeatInterval = 100 * time.Millisecond
	cfg.HealthCheckInterval = 100 * time.Millisecond
	cfg.RestartBackoff = 20 * time.Millisecond
	cfg.StopGrace = 2 * time.Second
	cfg.StopNodesOnShutdown = true
	cfg.CgroupParent = ""
	cfg.DefaultMemoryMB = 256
	if tweak != nil {
		tweak(&cfg)
	}
	a, err := agent.New(cfg, nodesTestLogger(t, id))
	if err != nil {
		t.Fatalf("agent %s: %v", id, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ta := &testAgent{Agent: a, id: id, cfg: cfg, done: make(chan struct{}), stop: cancel}
	go func() {
		defer close(ta.done)
		if err := a.Run(ctx); err != nil {
			t.Logf("agent %s: %v", id, err)
		}
	}()
	t.Cleanup(ta.shutdown)
	return ta
}

// shutdown stops the agent and waits for it to return.
func (ta *testAgent) shutdown() {
	ta.stop()
	<-ta.done
}

// waitAgentHealthy waits until every master's registry has the agent healthy.
func waitAgentHealthy(t *testing.T, masters []*Master, id string) {
	t.Helper()
	waitForNodes(t, 15*time.Second, "agent "+id+" healthy", func() (bool, string) {
		for _, m := range masters {
			a, ok := m.fsm.Agent(id)
			if !ok {
				return false, m.ID() + " does not know the agent"
			}
			if a.Status != rpc.AgentHealthy || a.Endpoint == "" {
				return false, fmt.Sprintf("%s sees %s endpoint %q", m.ID(), a.Status, a.Endpoint)
			}
		}
		return true, ""
	})
}

// masterClient is a gRPC client to m.
func masterClient(t *testing.T, m *Master) rpc.GridMasterClient {
	t.Helper()
	conn, err := grpc.NewClient(m.Addresses().GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial %s: %v", m.ID(), err)
	}
	t.Cleanup(func() { conn.Close() })
	return rpc.NewGridMasterClient(conn)
}

// follower returns a master of masters that is not leader.
func nodesFollower(masters []*Master, leader *Master) *Master {
	for _, m := range masters {
		if m != leader {
			return m
		}
	}
	return leader
}

// waitNodeEverywhere waits until every master's registry has the node
// matching want.
func waitNodeEverywhere(t *testing.T, masters []*Master, nodeID string, want func(*rpc.NodeStatus) bool) *rpc.NodeStatus {
	t.Helper()
	var got *rpc.NodeStatus
	waitForNodes(t, 15*time.Second, "node "+nodeID+" on every master", func() (bool, string) {
		for _, m := range masters {
			n, ok := m.fsm.Node(nodeID)
			if !ok {
				return false, m.ID() + " has no record"
			}
			if !want(n) {
				return false, fmt.Sprintf("%s: %v", m.ID(), n)
			}
			got = n
		}
		return true, ""
	})
	return got
}

// processesServing counts live processes whose command line names nodeID.
func processesServing(t *testing.T, nodeID string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatalf("read /proc: %v", err)
	}
	var pids []int
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		for i, a := range args {
			if (a == "--node-id" || a == "-node-id") && i+1 < len(args) && args[i+1] == nodeID ||
				a == "--node-id="+nodeID {
				if stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && !isZombie(stat) {
					pids = append(pids, pid)
				}
				break
			}
		}
	}
	return pids
}

func isZombie(stat []byte) bool {
	i := bytes.LastIndexByte(stat, ')')
	return i > 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}

// storageHealthy says whether a storage node answers HealthCheck at endpoint.
func storageHealthy(endpoint string) error {
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err = rpc.NewStorageServiceClient(conn).HealthCheck(ctx, &rpc.HealthCheckRequest{})
	return err
}

func TestSpawnStopEndToEnd(t *testing.T) {
	masters := newTestCluster(t, 3)
	leader := waitForLeader(t, masters)
	ag := startTestAgent(t, masters, "agent-e2e", 3)
	waitAgentHealthy(t, masters, ag.id)

	// Through a follower: the order is forwarded to the leader.
	client := masterClient(t, nodesFollower(masters, leader))
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	resp, err := client.SpawnStorageNode(ctx, &rpc.SpawnRequest{MemoryLimitMb: 128})
	if err != nil {
		t.Fatalf("spawn: %v", err)
	}
	if !resp.Success || resp.AgentId != ag.id || resp.Pid == 0 || resp.Endpoint == "" || !strings.HasPrefix(resp.NodeId, "node-") {
		t.Fatalf("spawn response %v", resp)
	}
	if err := storageHealthy(resp.Endpoint); err != nil {
		t.Fatalf("spawned node does not serve at %s: %v", resp.Endpoint, err)
	}
	waitNodeEverywhere(t, masters, resp.NodeId, func(n *rpc.NodeStatus) bool {
		return n.Status == rpc.NodeRunning && n.Pid == resp.Pid && n.DesiredState == rpc.DesiredRunning && n.MemoryLimitMb == 128
	})
	if pids := processesServing(t, resp.NodeId); len(pids) != 1 || pids[0] != int(resp.Pid) {
		t.Fatalf("processes for %s: %v, want exactly [%d]", resp.NodeId, pids, resp.Pid)
	}

	st, err := client.GetStorageNodeStatus(ctx, &rpc.NodeId{NodeId: resp.NodeId})
	if err != nil || st.Status != rpc.NodeRunning || st.Pid != resp.Pid {
		t.Fatalf("node status = %v, %v", st, err)
	}
	list, err := client.ListStorageNodes(ctx, &rpc.Empty{})
	if err != nil || len(list.Nodes) != 1 || list.Nodes[0].NodeId != resp.NodeId {
		t.Fatalf("list = %v, %v", list, err)
	}

	// A retried order with the same id never makes a second process.
	_, err = client.SpawnStorageNode(ctx, &rpc.SpawnRequest{NodeId: resp.NodeId})
	if status.Code(err) != codes.AlreadyExists {
		t.Fatalf("duplicate node id: err = %v, want AlreadyExists", err)
	}
	if pids := processesServing(t, resp.NodeId); len(pids) != 1 {
		t.Fatalf("after a duplicate order: processes %v", pids)
	}

	// Stop: process gone, record kept as stopped.
	if _, err := client.StopStorageNode(ctx, &rpc.StopRequest{NodeId: resp.NodeId}); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if pids := processesServing(t, resp.NodeId); len(pids) != 0 {
		t.Fatalf("after stop: processes %v", pids)
	}
	waitNodeEverywhere(t, masters, resp.NodeId, func(n *rpc.NodeStatus) bool {
		return n.Status == rpc.NodeStopped && n.DesiredState == rpc.DesiredStopped
	})
	if _, err := client.StopStorageNode(ctx, &rpc.StopRequest{NodeId: resp.NodeId}); err != nil {
		t.Fatalf("second stop is not idempotent: %v", err)
	}
	_, err = client.StopStorageNode(ctx, &rpc.StopRequest{NodeId: "node-nope"})
	if status.Code(err) != codes.NotFound || !strings.Contains(err.Error(), "node-nope") {
		t.Fatalf("unknown node stop: err = %v, want NotFound naming the id", err)
	}
}

func TestSpawnValidationAndPlacementErrors(t *testing.T) {
	masters := newTestCluster(t, 3)
	leader := waitForLeader(t, masters)
	ag := startTestAgent(t, masters, "agent-small", 1)
	waitAgentHealthy(t, masters, ag.id)
	// Agents that exist only in the registry, in a state the leader's
	// timers do not change.
	for _, st := range []string{"degraded", rpc.AgentOffline} {
		rec := &rpc.AgentRecord{AgentId: "agent-" + st, Status: st, MaxStorageNodes: 5, Endpoint: "127.0.0.1:1", RegisteredAt: time.Now().Unix()}
		if _, err := leader.raftApply(fsm.RegisterAgentType, rec); err != nil {
			t.Fatalf("register %s: %v", rec.AgentId, err)
		}
	}
	client := masterClient(t, nodesFollower(masters, leader))
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()

	cases := []struct {
		name string
		req  *rpc.SpawnRequest
		code codes.Code
		msg  string
	}{
		{"unknown agent", &rpc.SpawnRequest{AgentId: "agent-ghost"}, codes.NotFound, "agent-ghost"},
		{"degraded agent", &rpc.SpawnRequest{AgentId: "agent-degraded"}, codes.FailedPrecondition, "degraded"},
		{"offline agent", &rpc.SpawnRequest{AgentId: "agent-offline"}, codes.FailedPrecondition, "offline"},
		{"bad port", &rpc.SpawnRequest{Port: 22}, codes.InvalidArgument, "port 22"},
		{"bad memory", &rpc.SpawnRequest{MemoryLimitMb: 1 << 30}, codes.InvalidArgument, "memory_limit_mb"},
		{"escaping path", &rpc.SpawnRequest{StoragePath: "../../etc"}, codes.InvalidArgument, "storage_path"},
		{"absolute path", &rpc.SpawnRequest{StoragePath: "/etc"}, codes.InvalidArgument, "storage_path"},
		{"bad node id", &rpc.SpawnRequest{NodeId: "a b"}, codes.InvalidArgument, "node_id"},
	}
	for _, c := range cases {
		_, err := client.SpawnStorageNode(ctx, c.req)
		if status.Code(err) != c.code || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: err = %v, want %s mentioning %q", c.name, err, c.code, c.msg)
		}
	}
	if n := len(leader.fsm.Nodes()); n != 0 {
		t.Fatalf("refused orders left %d node records", n)
	}

	// The agent's one slot: the first order takes it, the next is refused.
	resp, err := client.SpawnStorageNode(ctx, &rpc.SpawnRequest{AgentId: ag.id})
	if err != nil {
		t.Fatalf("spawn on %s: %v", ag.id, err)
	}
	_, err = client.SpawnStorageNode(ctx, &rpc.SpawnRequest{AgentId: ag.id})
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("full agent: err = %v, want ResourceExhausted", err)
	}
	_, err = client.SpawnStorageNode(ctx, &rpc.SpawnRequest{})
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("no agent with a slot: err = %v, want ResourceExhausted", err)
	}
	if _, err := client.StopStorageNode(ctx, &rpc.StopRequest{NodeId: resp.NodeId, AgentId: "agent-degraded"}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("stop naming the wrong agent: err = %v, want InvalidArgument", err)
	}
}

func TestSpawnRefusedByAgentRollsBack(t *testing.T) {
	masters := newTestCluster(t, 3)
	leader := waitForLeader(t, masters)
	ag := startTestAgent(t, masters, "agent-refuse", 3)
	waitAgentHealthy(t, masters, ag.id)
	client := masterClient(t, leader)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()

	// A port inside the agent's range that something else holds.
	var taken net.Listener
	for p := ag.cfg.PortRangeStart; p <= ag.cfg.PortRangeEnd && taken == nil; p++ {
		taken, _ = net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
	}
	if taken == nil {
		t.Fatal("no free port in the agent's range")
	}
	defer taken.Close()
	port := uint32(taken.Addr().(*net.TCPAddr).Port)

	// The port taken on the agent's host is refused by the agent; the port
	// outside the agent's range by the leader, which knows the range from
	// the agent's registration, before anything is recorded.
	for _, c := range []struct {
		req  *rpc.SpawnRequest
		want string
	}{
		{&rpc.SpawnRequest{AgentId: ag.id, NodeId: "node-port-taken", Port: port}, "agent " + ag.id + " refused"},
		{&rpc.SpawnRequest{AgentId: ag.id, NodeId: "node-port-outside", Port: uint32(ag.cfg.PortRangeEnd + 1)}, "outside the port range"},
	} {
		req := c.req
		_, err := client.SpawnStorageNode(ctx, req)
		code := status.Code(err)
		if err == nil || code == codes.Unavailable || code == codes.Internal || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("%s: err = %v, want one containing %q", req.NodeId, err, c.want)
		}
		t.Logf("%s refused: %v", req.NodeId, err)
		for _, m := range masters {
			waitForNodes(t, 10*time.Second, "rollback on "+m.ID(), func() (bool, string) {
				n, ok := m.fsm.Node(req.NodeId)
				return !ok, fmt.Sprint(n)
			})
		}
		if pids := processesServing(t, req.NodeId); len(pids) != 0 {
			t.Fatalf("%s: refused order left processes %v", req.NodeId, pids)
		}
	}
}

func TestReconcileFinishesHalfDoneSpawnAfterLeaderChange(t *testing.T) {
	masters := newTestCluster(t, 3)
	leader := waitForLeader(t, masters)
	ag := startTestAgent(t, masters, "agent-failover", 3)
	waitAgentHealthy(t, masters, ag.id)

	// The leader commits the pending record and then "dies" before it
	// calls the agent.
	hooked := make(chan string, 1)
	leader.nodes.SetTestHookAfterPending(func(nodeID string) error {
		hooked <- nodeID
		return errors.New("test: leader dies before calling the agent")
	})
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	const nodeID = "node-half-done"
	if _, err := masterClient(t, leader).SpawnStorageNode(ctx, &rpc.SpawnRequest{NodeId: nodeID}); err == nil {
		t.Fatal("spawn succeeded through the aborting hook")
	}
	select {
	case <-hooked:
	default:
		t.Fatal("the hook did not run")
	}
	waitNodeEverywhere(t, masters, nodeID, func(n *rpc.NodeStatus) bool {
		return n.Status == rpc.NodePending && n.DesiredState == rpc.DesiredRunning
	})
	if pids := processesServing(t, nodeID); len(pids) != 0 {
		t.Fatalf("the agent was called: processes %v", pids)
	}

	shutdownCtx, shutdownCancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer shutdownCancel()
	if err := leader.Shutdown(shutdownCtx); err != nil {
		t.Logf("leader shutdown: %v", err)
	}
	var rest []*Master
	for _, m := range masters {
		if m != leader {
			rest = append(rest, m)
		}
	}
	newLeader := waitForLeader(t, rest)
	t.Logf("new leader %s", newLeader.ID())

	rec := waitNodeEverywhere(t, rest, nodeID, func(n *rpc.NodeStatus) bool {
		return n.Status == rpc.NodeRunning && n.Pid != 0
	})
	pids := processesServing(t, nodeID)
	if len(pids) != 1 || pids[0] != int(rec.Pid) {
		t.Fatalf("processes for %s: %v, want exactly [%d]", nodeID, pids, rec.Pid)
	}
	if err := storageHealthy(rec.Endpoint); err != nil {
		t.Fatalf("node does not serve at %s: %v", rec.Endpoint, err)
	}
	// Another reconcile pass changes nothing: still one process.
	newLeader.nodes.ReconcileAgent(ctx, ag.id)
	if pids := processesServing(t, nodeID); len(pids) != 1 {
		t.Fatalf("after a second reconcile: processes %v", pids)
	}
}

func TestReconcileStopsOrphanAndRecordsCrash(t *testing.T) {
	masters := newTestCluster(t, 3)
	leader := waitForLeader(t, masters)
	ag := startTestAgent(t, masters, "agent-orphan", 3)
	waitAgentHealthy(t, masters, ag.id)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()

	// A node started on the agent behind the masters' back is an orphan.
	conn, err := grpc.NewClient(ag.AdvertiseAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const orphan = "node-orphan"
	if _, err := rpc.NewGridAgentClient(conn).SpawnNode(ctx, &rpc.SpawnNodeRequest{NodeId: orphan}); err != nil {
		t.Fatalf("direct spawn: %v", err)
	}
	if pids := processesServing(t, orphan); len(pids) != 1 {
		t.Fatalf("orphan processes %v", pids)
	}
	leader.nodes.ReconcileAgent(ctx, ag.id)
	waitForNodes(t, 10*time.Second, "orphan stopped", func() (bool, string) {
		pids := processesServing(t, orphan)
		return len(pids) == 0, fmt.Sprint(pids)
	})
	if _, ok := leader.fsm.Node(orphan); ok {
		t.Fatal("the orphan was added to the registry")
	}

	// A crash the agent restarts is reported and merged into the record.
	client := masterClient(t, nodesFollower(masters, leader))
	resp, err := client.SpawnStorageNode(ctx, &rpc.SpawnRequest{AgentId: ag.id})
	if err != nil {
		t.Fatalf("spawn: %v", err)
	}
	if err := syscall.Kill(int(resp.Pid), syscall.SIGKILL); err != nil {
		t.Fatalf("kill node: %v", err)
	}
	rec := waitNodeEverywhere(t, masters, resp.NodeId, func(n *rpc.NodeStatus) bool {
		return n.Status == rpc.NodeRunning && n.Pid != 0 && n.Pid != resp.Pid && n.RestartCount >= 1
	})
	if pids := processesServing(t, resp.NodeId); len(pids) != 1 || pids[0] != int(rec.Pid) {
		t.Fatalf("after restart: processes %v, registry pid %d", pids, rec.Pid)
	}

	// Reports about unknown nodes or from the wrong agent are refused.
	_, err = client.ReportNodeStatus(ctx, &rpc.NodeStatus{NodeId: "node-unknown", AgentId: ag.id, Status: rpc.NodeRunning})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("report of an unknown node: err = %v, want NotFound", err)
	}
	_, err = client.ReportNodeStatus(ctx, &rpc.NodeStatus{NodeId: resp.NodeId, AgentId: "agent-other", Status: rpc.NodeRunning})
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("report from the wrong agent: err = %v, want FailedPrecondition", err)
	}
}

func TestAgentOfflineMarksNodesLostThenReconciles(t *testing.T) {
	masters := startTestCluster(t, 3, func(c *Config) {
		c.HeartbeatInterval = 100 * time.Millisecond
		c.DegradedAfter = 500 * time.Millisecond
		c.OfflineAfter = time.Second
	}).masters
	leader := waitForLeader(t, masters)
	dataDir := t.TempDir()
	keepNodes := func(c *agent.Config) {
		c.DataDir = dataDir
		c.StopNodesOnShutdown = false
	}
	ag := startTestAgentWith(t, masters, "agent-away", 3, keepNodes)
	waitAgentHealthy(t, masters, ag.id)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	resp, err := masterClient(t, leader).SpawnStorageNode(ctx, &rpc.SpawnRequest{AgentId: ag.id})
	if err != nil {
		t.Fatalf("spawn: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Kill(int(resp.Pid), syscall.SIGKILL) })

	// The agent goes away (its node keeps running): offline, node lost, not deleted.
	ag.shutdown()
	waitNodeEverywhere(t, masters, resp.NodeId, func(n *rpc.NodeStatus) bool {
		return n.Status == rpc.NodeLost && n.DesiredState == rpc.DesiredRunning
	})

	// Back with the same data dir: it re-adopts the node, the leader
	// reconciles it to running with the same process.
	ag2 := startTestAgentWith(t, masters, "agent-away", 3, func(c *agent.Config) {
		keepNodes(c)
		c.StopNodesOnShutdown = true
	})
	waitAgentHealthy(t, masters, ag2.id)
	rec := waitNodeEverywhere(t, masters, resp.NodeId, func(n *rpc.NodeStatus) bool {
		return n.Status == rpc.NodeRunning && n.Pid != 0
	})
	pids := processesServing(t, resp.NodeId)
	if len(pids) != 1 || pids[0] != int(rec.Pid) {
		t.Fatalf("processes for %s: %v, registry pid %d", resp.NodeId, pids, rec.Pid)
	}
	if rec.Pid != resp.Pid {
		t.Logf("node restarted rather than re-adopted: pid %d -> %d", resp.Pid, rec.Pid)
	}
}
