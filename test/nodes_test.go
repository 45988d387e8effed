package test

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/harness"
	"github.com/gridctl/grid/test/waitfor"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// nodeLiveness keeps real agents healthy on a loaded 2-core machine while
// letting a silent (simulated) agent go offline within seconds.
var nodeLiveness = []string{"--heartbeat-interval", "500ms", "--degraded-after", "5s", "--offline-after", "8s"}

// spawnResult is `grid spawn --json`'s output (SpawnResponse, proto names).
type spawnResult struct {
	Success      bool   `json:"success"`
	NodeID       string `json:"node_id"`
	Endpoint     string `json:"endpoint"`
	ErrorMessage string `json:"error_message"`
	AgentID      string `json:"agent_id"`
	Pid          int    `json:"pid"`
}

// spawnCLI runs `grid spawn ARGS --json` and fails the test unless the node was spawned.
func spawnCLI(t *testing.T, c *harness.Cluster, args ...string) spawnResult {
	t.Helper()
	out := grid(t, c, append(append([]string{"spawn"}, args...), "--json")...)
	var r spawnResult
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("spawn --json is not JSON: %v\n%s", err, out)
	}
	if !r.Success || r.NodeID == "" || r.Pid == 0 {
		t.Fatalf("spawn %v: %+v", args, r)
	}
	return r
}

// waitNodeOnAll waits until every live master's own replica holds a record
// of nodeID that satisfies ok, and returns the leader's copy.
func waitNodeOnAll(t *testing.T, c *harness.Cluster, nodeID, what string, ok func(n *rpc.NodeStatus) bool) *rpc.NodeStatus {
	t.Helper()
	var got *rpc.NodeStatus
	waitfor.Until(t, 45*time.Second, nodeID+" "+what+" on every master", func() (bool, string) {
		for _, m := range c.Live() {
			recs, err := m.NodeRecords()
			if err != nil {
				return false, fmt.Sprintf("%s: %v", m.ID, err)
			}
			n := recs[nodeID]
			if n == nil {
				return false, m.ID + " has no record"
			}
			if !ok(n) {
				return false, fmt.Sprintf("%s: status %s pid %d restarts %d last_error %q", m.ID, n.Status, n.Pid, n.RestartCount, n.LastError)
			}
			got = n
		}
		return got != nil, "no live master"
	})
	return got
}

// waitNewPid waits until exactly one process other than old serves nodeID
// and returns its pid.
func waitNewPid(t *testing.T, a *harness.Agent, nodeID string, port uint32, old int) int {
	t.Helper()
	var pid int
	waitfor.Until(t, 30*time.Second, nodeID+" restarted with a new pid and serving", func() (bool, string) {
		pids := a.NodeProcs()[nodeID]
		if len(pids) != 1 || pids[0] == old {
			return false, fmt.Sprintf("pids %v (old %d)", pids, old)
		}
		if err := harness.StorageNodeServes(nodeID, port, time.Second); err != nil {
			return false, err.Error()
		}
		pid = pids[0]
		return true, ""
	})
	return pid
}

// registryHash waits for equal state on every master and returns the registry hash.
func registryHash(t *testing.T, c *harness.Cluster) string {
	t.Helper()
	return c.WaitSameState(30 * time.Second).RegistryHash
}

// storageClient dials a storage node's port.
func storageClient(t *testing.T, port uint32) rpc.StorageServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(fmt.Sprintf("127.0.0.1:%d", port), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return rpc.NewStorageServiceClient(conn)
}

// Issue #3's acceptance: real masters, two real agents, real storage nodes.
func TestStorageNodesThroughFailures(t *testing.T) {
	if !agentBuilt(t) {
		t.Skip("grid agent is not built yet")
	}
	// --reschedule-attempts 0: this test checks that the agent's restart
	// budget leaves a node failed; the leader's reschedule of failed nodes
	// (issue 13) is tested in reschedule_test.go.
	c := harness.NewCluster(t, harness.Options{MasterArgs: append(append([]string{}, nodeLiveness...), "--reschedule-attempts", "0")})
	a1 := c.AddAgent("agent-1", harness.AgentOptions{MaxNodes: 8})
	a2 := c.AddAgent("agent-2", harness.AgentOptions{MaxNodes: 3})
	// A registered agent that never heartbeats: offline within seconds.
	register(t, c.WaitLeader(30*time.Second), "agent-ghost")
	for _, id := range []string{"agent-1", "agent-2"} {
		waitStatus(t, c, id, "healthy")
	}

	// The node the lifecycle spawns and keeps running (bad input reuses its id).
	var liveNode string

	t.Run("spawn, serve, restart, fail past the budget, stop", func(t *testing.T) {
		r := spawnCLI(t, c, "--agent", "agent-1")
		if r.AgentID != "agent-1" {
			t.Fatalf("spawned on %s, asked for agent-1", r.AgentID)
		}
		id := r.NodeID
		rec := waitNodeOnAll(t, c, id, "running with the spawned pid", func(n *rpc.NodeStatus) bool {
			return n.Status == "running" && int(n.Pid) == r.Pid && n.Port != 0
		})
		if pids := a1.NodeProcs()[id]; !slices.Equal(pids, []int{r.Pid}) {
			t.Fatalf("processes of %s: %v, want [%d]", id, pids, r.Pid)
		}
		st := storageClient(t, rec.Port)
		ctx, cancel := harness.Ctx(10 * time.Second)
		defer cancel()
		lr, err := st.LearnConcept(ctx, &rpc.LearnConceptRequest{ConceptId: "concept-acceptance", Content: "learned through grid", Strength: 1, Confidence: 0.9})
		if err != nil || !lr.Success || lr.ConceptId != "concept-acceptance" {
			t.Fatalf("LearnConcept on %s (port %d): %v %v", id, rec.Port, lr, err)
		}
		qr, err := st.QueryConcept(ctx, &rpc.QueryConceptRequest{ConceptId: "concept-acceptance"})
		if err != nil || !qr.Found || qr.Content != "learned through grid" {
			t.Fatalf("QueryConcept on %s: %v %v", id, qr, err)
		}

		// SIGKILL: the agent sees the exit and starts a new process.
		pid := r.Pid
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		pid = waitNewPid(t, a1, id, rec.Port, pid)
		t.Logf("restart after SIGKILL: %s from kill to a new pid serving (pid %d -> %d)", time.Since(killed), r.Pid, pid)
		qr, err = storageClient(t, rec.Port).QueryConcept(ctx, &rpc.QueryConceptRequest{ConceptId: "concept-acceptance"})
		if err != nil || !qr.Found || qr.Content != "learned through grid" {
			t.Fatalf("QueryConcept after the restart (data must survive): %v %v", qr, err)
		}
		waitNodeOnAll(t, c, id, "running with the new pid", func(n *rpc.NodeStatus) bool {
			return n.Status == "running" && int(n.Pid) == pid && n.RestartCount == 1
		})

		// Crash it past its budget (3 restarts within 10 minutes): the 4th crash fails it.
		kills := 1
		for kills < 10 {
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			kills++
			var failed bool
			waitfor.Until(t, 30*time.Second, fmt.Sprintf("%s restarted or failed after kill %d", id, kills), func() (bool, string) {
				if pids := a1.NodeProcs()[id]; len(pids) == 1 && pids[0] != pid {
					if harness.StorageNodeServes(id, rec.Port, time.Second) == nil {
						pid = pids[0]
						return true, ""
					}
				}
				recs, err := c.Live()[0].NodeRecords()
				if err == nil && recs[id] != nil && recs[id].Status == "failed" {
					failed = true
					return true, ""
				}
				return false, fmt.Sprintf("pids %v", a1.NodeProcs()[id])
			})
			if failed {
				break
			}
		}
		if kills != 4 {
			t.Fatalf("%s failed after %d crashes, want 4 (3 restarts allowed)", id, kills)
		}
		failedRec := waitNodeOnAll(t, c, id, "failed", func(n *rpc.NodeStatus) bool { return n.Status == "failed" })
		t.Logf("failed record: restarts %d, last_signal %q, last_exit_code %d, last_error %q",
			failedRec.RestartCount, failedRec.LastSignal, failedRec.LastExitCode, failedRec.LastError)
		if failedRec.RestartCount != 3 {
			t.Fatalf("failed node has restart_count %d, want 3", failedRec.RestartCount)
		}
		if pids := a1.NodeProcs()[id]; len(pids) != 0 {
			t.Fatalf("failed node still has processes %v", pids)
		}

		// A second node with explicit port, path and memory; stop it.
		port := uint32(a1.PortFrom + 5)
		for !harness.PortFree(port) && port < uint32(a1.PortFrom+9) {
			port++ // held by some other process on the machine
		}
		r2 := spawnCLI(t, c, "--agent", "agent-1", "--port", fmt.Sprint(port), "--storage-path", "custom/n2", "--memory", "64", "--node-id", "node-explicit")
		rec2 := waitNodeOnAll(t, c, r2.NodeID, "running as ordered", func(n *rpc.NodeStatus) bool {
			return n.Status == "running" && n.Port == port && n.MemoryLimitMb == 64 && int(n.Pid) == r2.Pid
		})
		if !strings.HasSuffix(rec2.StoragePath, "custom/n2") {
			t.Fatalf("storage_path %q, ordered custom/n2", rec2.StoragePath)
		}
		if err := harness.StorageNodeServes(r2.NodeID, port, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(a1.DataDir, "custom", "n2")); err != nil {
			t.Fatalf("storage path not created inside the agent's data dir: %v", err)
		}
		grid(t, c, "stop", "--node", r2.NodeID)
		waitfor.Until(t, 30*time.Second, "stopped node's process gone and port free", func() (bool, string) {
			if pids := a1.NodeProcs()[r2.NodeID]; len(pids) != 0 {
				return false, fmt.Sprintf("processes %v", pids)
			}
			return harness.PortFree(port), fmt.Sprintf("port %d still bound", port)
		})
		waitNodeOnAll(t, c, r2.NodeID, "stopped", func(n *rpc.NodeStatus) bool { return n.Status == "stopped" && n.DesiredState == "stopped" })

		// Meanwhile nothing restarted the failed node.
		recs, err := c.Live()[0].NodeRecords()
		if err != nil {
			t.Fatal(err)
		}
		if n := recs[id]; n.Status != "failed" || n.RestartCount != 3 || len(a1.NodeProcs()[id]) != 0 {
			t.Fatalf("failed node moved on: %s restarts %d processes %v", n.Status, n.RestartCount, a1.NodeProcs()[id])
		}

		liveNode = spawnCLI(t, c, "--agent", "agent-1", "--node-id", "node-live").NodeID
	})

	t.Run("agent SIGKILLed with 3 nodes re-adopts or restarts them", func(t *testing.T) {
		ids := []string{"node-a2-1", "node-a2-2", "node-a2-3"}
		before := map[string]int{}
		for _, id := range ids {
			before[id] = spawnCLI(t, c, "--agent", "agent-2", "--node-id", id).Pid
		}
		ports := map[string]uint32{}
		for _, id := range ids {
			ports[id] = waitNodeOnAll(t, c, id, "running", func(n *rpc.NodeStatus) bool { return n.Status == "running" }).Port
		}

		// Full: a 4th node is refused and nothing changes.
		hash := registryHash(t, c)
		out, err := gridErr(c, "spawn", "--agent", "agent-2", "--node-id", "node-a2-4", "--json")
		if err == nil || !strings.Contains(strings.ToLower(out), "slot") && !strings.Contains(strings.ToLower(out), "full") {
			t.Fatalf("spawn on a full agent: want an error saying it is full, got %v:\n%s", err, out)
		}
		t.Logf("full agent: %s", strings.TrimSpace(out))
		if h := registryHash(t, c); h != hash {
			t.Fatalf("refused spawn on a full agent changed the registry: %s -> %s", hash, h)
		}

		if err := a2.Kill(); err != nil {
			t.Fatal(err)
		}
		for id, pid := range before {
			if syscall.Kill(pid, 0) != nil {
				t.Logf("%s (pid %d) died with the agent", id, pid)
			}
		}
		// One node also dies while its agent is down: it must be restarted, not adopted.
		if err := syscall.Kill(before["node-a2-2"], syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		waitfor.Until(t, 10*time.Second, "node-a2-2 gone while agent-2 is down", func() (bool, string) {
			return len(a2.NodeProcs()["node-a2-2"]) == 0, fmt.Sprint(a2.NodeProcs())
		})
		if err := a2.Start(); err != nil {
			t.Fatal(err)
		}
		waitfor.Until(t, 45*time.Second, "each of agent-2's nodes served by exactly one process, no orphan", func() (bool, string) {
			procs := a2.NodeProcs()
			for _, id := range ids {
				if len(procs[id]) != 1 {
					return false, fmt.Sprintf("%s has processes %v", id, procs[id])
				}
				if err := harness.StorageNodeServes(id, ports[id], time.Second); err != nil {
					return false, err.Error()
				}
			}
			if len(procs) != len(ids) {
				return false, fmt.Sprintf("storage-node processes under agent-2: %v", procs)
			}
			return true, ""
		})
		procs := a2.NodeProcs()
		for _, id := range ids {
			pid := procs[id][0]
			how := "restarted"
			if pid == before[id] {
				how = "re-adopted"
			}
			t.Logf("%s %s (pid %d -> %d)", id, how, before[id], pid)
			waitNodeOnAll(t, c, id, "running with its live pid", func(n *rpc.NodeStatus) bool {
				return n.Status == "running" && int(n.Pid) == pid && n.AgentId == "agent-2"
			})
		}
		// No orphan: every process under the agent's dir is the agent or one of its nodes.
		for _, pid := range harness.ProcsUnder(a2.DataDir) {
			if pid == a2.PID() {
				continue
			}
			found := false
			for _, id := range ids {
				found = found || procs[id][0] == pid
			}
			if !found {
				t.Fatalf("orphan process %d under %s", pid, a2.DataDir)
			}
		}
	})

	t.Run("bad input is refused and changes nothing", func(t *testing.T) {
		if liveNode == "" {
			t.Skip("the lifecycle subtest did not leave a live node")
		}
		waitStatus(t, c, "agent-ghost", "offline")
		// A port inside agent-1's range held by someone else.
		// (Other processes on the machine may hold some of the range already.)
		var busyPort int
		var l net.Listener
		for p := a1.PortFrom + 19; l == nil && p > a1.PortFrom+9; p-- {
			if ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p)); err == nil {
				busyPort, l = p, ln
			}
		}
		if l == nil {
			t.Fatalf("no free port in the top half of agent-1's range %d-%d", a1.PortFrom, a1.PortFrom+19)
		}
		defer l.Close()
		// A symlink inside the data dir that leads out of it.
		if err := os.Symlink("/etc", filepath.Join(a1.DataDir, "escape")); err != nil {
			t.Fatal(err)
		}
		outsidePort := a1.PortFrom - 1
		if outsidePort < 1024 {
			outsidePort = a1.PortFrom + 20
		}
		hash := registryHash(t, c)
		procsBefore := a1.NodeProcs()
		cases := []struct {
			args []string
			want string // in the error, case-insensitive
		}{
			{[]string{"--agent", "agent-1", "--storage-path", "../../etc"}, "storage_path"},
			{[]string{"--agent", "agent-1", "--storage-path", "/etc"}, "absolute"},
			{[]string{"--agent", "agent-1", "--storage-path", "escape/node"}, "symlink"},
			{[]string{"--agent", "agent-1", "--port", "80"}, "out of range"},
			{[]string{"--agent", "agent-1", "--port", "70000"}, "out of range"},
			{[]string{"--agent", "agent-1", "--port", "fifty"}, "port"},
			{[]string{"--agent", "agent-1", "--port", fmt.Sprint(outsidePort)}, "range"},
			{[]string{"--agent", "agent-1", "--port", fmt.Sprint(busyPort)}, "in use"},
			{[]string{"--agent", "agent-1", "--memory", "0"}, "memory"},
			{[]string{"--agent", "agent-1", "--memory", "-5"}, "memory"},
			{[]string{"--agent", "agent-1", "--memory", "99999999999"}, "memory"},
			{[]string{"--agent", "agent-nope"}, "agent-nope"},
			{[]string{"--agent", "agent-ghost"}, "offline"},
			{[]string{"--agent", "agent-1", "--node-id", liveNode}, "exists"},
			{[]string{"--agent", "agent-1", "--node-id", "node/../x"}, "node"},
		}
		for _, tc := range cases {
			out, err := gridErr(c, append(append([]string{"spawn"}, tc.args...), "--json")...)
			if err == nil || !strings.Contains(strings.ToLower(out), tc.want) {
				t.Errorf("spawn %v: want a failure mentioning %q, got %v:\n%s", tc.args, tc.want, err, out)
				continue
			}
			t.Logf("spawn %v -> %s", tc.args, strings.TrimSpace(out))
		}
		// The same through gRPC, where the CLI's own checks do not help.
		leader := c.WaitLeader(30 * time.Second)
		grpcCases := []struct {
			req  *rpc.SpawnRequest
			code codes.Code
			want string
		}{
			{&rpc.SpawnRequest{AgentId: "agent-1", Port: 70000}, codes.InvalidArgument, "port"},
			{&rpc.SpawnRequest{AgentId: "agent-1", MemoryLimitMb: 1 << 40}, codes.InvalidArgument, "memory_limit_mb"},
			{&rpc.SpawnRequest{AgentId: "agent-1", StoragePath: "a/../../etc"}, codes.InvalidArgument, "storage_path"},
			{&rpc.SpawnRequest{AgentId: "agent-1", NodeId: liveNode}, codes.AlreadyExists, liveNode},
			{&rpc.SpawnRequest{AgentId: "agent-nope"}, codes.NotFound, "agent-nope"},
		}
		for _, tc := range grpcCases {
			ctx, cancel := harness.Ctx(40 * time.Second)
			_, err := c.Followers(leader)[0].Client().SpawnStorageNode(ctx, tc.req)
			cancel()
			if status.Code(err) != tc.code || !strings.Contains(status.Convert(err).Message(), tc.want) {
				t.Errorf("SpawnStorageNode(%v): want %v mentioning %q, got %v", tc.req, tc.code, tc.want, err)
			}
		}
		if h := registryHash(t, c); h != hash {
			t.Fatalf("refused spawns changed the registry: %s -> %s", hash, h)
		}
		if after := a1.NodeProcs(); !mapsEqualPids(after, procsBefore) {
			t.Fatalf("refused spawns changed agent-1's processes: %v -> %v", procsBefore, after)
		}
	})

	t.Run("leader SIGKILLed in the middle of a spawn", func(t *testing.T) {
		for round := range 3 {
			id := fmt.Sprintf("node-lk-%d", round)
			leader := c.WaitLeader(30 * time.Second)
			req := &rpc.SpawnRequest{AgentId: "agent-1", NodeId: id}
			first := make(chan error, 1)
			go func() {
				ctx, cancel := harness.Ctx(45 * time.Second)
				defer cancel()
				_, err := leader.Client().SpawnStorageNode(ctx, req)
				first <- err
			}()
			// Kill at a different point of the order each round: at once,
			// once the pending record is replicated, once the process exists.
			switch round {
			case 1:
				waitfor.Eventually(10*time.Second, func() bool {
					recs, err := c.Followers(leader)[0].NodeRecords()
					return err == nil && recs[id] != nil
				})
			case 2:
				waitfor.Eventually(10*time.Second, func() bool { return len(a1.NodeProcs()[id]) > 0 })
			}
			if err := leader.Kill(); err != nil {
				t.Fatal(err)
			}
			err := <-first
			t.Logf("round %d: spawn through the killed leader %s: %v", round, leader.ID, err)
			// The client retries with the same node id until an answer is final.
			waitfor.Until(t, 60*time.Second, id+" spawned after the leader's death", func() (bool, string) {
				l, why := c.LeaderOf()
				if l == nil {
					return false, why
				}
				ctx, cancel := harness.Ctx(40 * time.Second)
				defer cancel()
				_, err := l.Client().SpawnStorageNode(ctx, req)
				return err == nil || status.Code(err) == codes.AlreadyExists, fmt.Sprint(err)
			})
			if err := leader.Start(); err != nil {
				t.Fatal(err)
			}
			c.WaitLeader(30 * time.Second)
			var pid int
			waitfor.Until(t, 45*time.Second, id+" served by exactly one process", func() (bool, string) {
				pids := a1.NodeProcs()[id]
				if len(pids) != 1 {
					return false, fmt.Sprintf("processes %v", pids)
				}
				pid = pids[0]
				return true, ""
			})
			waitNodeOnAll(t, c, id, "running with the one live pid", func(n *rpc.NodeStatus) bool {
				return n.Status == "running" && int(n.Pid) == pid && n.AgentId == "agent-1"
			})
			if pids := a1.NodeProcs()[id]; len(pids) != 1 || pids[0] != pid {
				t.Fatalf("round %d: %s processes %v after the registry agreed on pid %d", round, id, pids, pid)
			}
		}
		c.WaitSameState(30 * time.Second)
	})
}

// mapsEqualPids compares two node-id -> pids maps.
func mapsEqualPids(a, b map[string][]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}
