package agent

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/waitfor"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

func agentClient(t *testing.T, addr string) rpc.GridAgentClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return rpc.NewGridAgentClient(conn)
}

func TestAgentRegistersHeartbeatsAndReports(t *testing.T) {
	m := startStubMaster(t)
	cfg := testConfig(t)
	cfg.Masters = []string{deadAddr(t), m.addr} // the first master is down
	cfg.HeartbeatInterval = 50 * time.Millisecond
	cfg.StopNodesOnShutdown = true
	a, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	waitfor.True(t, 10*time.Second, "registration and heartbeats", func() bool {
		return m.get(func(m *stubMaster) bool { return len(m.registrations) > 0 && m.heartbeats >= 2 })
	})
	m.get(func(m *stubMaster) bool {
		r := m.registrations[0]
		if r.AgentId != cfg.AgentID || r.AgentEndpoint != a.AdvertiseAddr() || r.MaxStorageNodes != uint32(cfg.MaxNodes) {
			t.Fatalf("registration: %+v", r)
		}
		return true
	})

	c := agentClient(t, a.Addr())
	resp, err := c.SpawnNode(ctx, &rpc.SpawnNodeRequest{NodeId: "n1", MemoryLimitMb: 32})
	if err != nil || !resp.Success || resp.Pid == 0 || resp.Endpoint == "" || resp.Node.Status != rpc.NodeRunning {
		t.Fatalf("SpawnNode: %+v, %v", resp, err)
	}
	again, err := c.SpawnNode(ctx, &rpc.SpawnNodeRequest{NodeId: "n1"})
	if err != nil || again.Pid != resp.Pid {
		t.Fatalf("idempotent SpawnNode: %+v, %v (first pid %d)", again, err, resp.Pid)
	}

	// Bad input gets clear codes.
	bad := []struct {
		req  *rpc.SpawnNodeRequest
		code codes.Code
		msg  string
	}{
		{&rpc.SpawnNodeRequest{NodeId: "x", StoragePath: "../../etc"}, codes.InvalidArgument, "../../etc"},
		{&rpc.SpawnNodeRequest{NodeId: "x", StoragePath: "/etc"}, codes.InvalidArgument, "/etc"},
		{&rpc.SpawnNodeRequest{NodeId: "x", Port: 70000}, codes.InvalidArgument, "70000"},
		{&rpc.SpawnNodeRequest{NodeId: "x", Port: 1}, codes.InvalidArgument, "port 1 is out of range"},
		{&rpc.SpawnNodeRequest{NodeId: "x", Port: resp.Port}, codes.AlreadyExists, "used by node \"n1\""},
		{&rpc.SpawnNodeRequest{NodeId: "x", MemoryLimitMb: 100000}, codes.InvalidArgument, "memory_limit_mb 100000"},
		{&rpc.SpawnNodeRequest{NodeId: ""}, codes.InvalidArgument, "node_id"},
	}
	for _, b := range bad {
		_, err := c.SpawnNode(ctx, b.req)
		if status.Code(err) != b.code || !strings.Contains(err.Error(), b.msg) {
			t.Errorf("SpawnNode(%v) = %v; want %s containing %q", b.req, err, b.code, b.msg)
		}
	}
	if _, err := c.StopNode(ctx, &rpc.StopNodeRequest{NodeId: "nope"}); status.Code(err) != codes.NotFound {
		t.Errorf("StopNode(unknown) = %v, want NotFound", err)
	}
	if _, err := c.GetNodeStatus(ctx, &rpc.NodeStatusRequest{NodeId: "nope"}); status.Code(err) != codes.NotFound {
		t.Errorf("GetNodeStatus(unknown) = %v, want NotFound", err)
	}

	// The master forgets the agent: it registers again, with its node.
	m.set(func(m *stubMaster) { m.known = map[string]bool{} })
	waitfor.True(t, 10*time.Second, "re-registration with the running node", func() bool {
		return m.get(func(m *stubMaster) bool {
			last := m.registrations[len(m.registrations)-1]
			return len(m.registrations) >= 2 && len(last.Nodes) == 1 && last.Nodes[0].NodeId == "n1" && last.Nodes[0].Pid == resp.Pid
		})
	})

	// A crash reaches the master as events and as node state.
	if err := syscall.Kill(int(resp.Pid), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitfor.True(t, 10*time.Second, "crash and restart events at the master", func() bool {
		return m.countEvents(rpc.EventType_NODE_CRASHED, "n1") == 1 && m.countEvents(rpc.EventType_NODE_RESTARTED, "n1") == 1
	})
	waitfor.True(t, 10*time.Second, "restarted state at the master", func() bool {
		return m.get(func(m *stubMaster) bool {
			for _, s := range m.states {
				if s.NodeId == "n1" && s.Status == rpc.NodeRunning && s.RestartCount == 1 && s.Pid != resp.Pid {
					return true
				}
			}
			return false
		})
	})
	list, err := c.ListNodes(ctx, &rpc.ListNodesRequest{})
	if err != nil || len(list.Nodes) != 1 || list.Nodes[0].RestartCount != 1 {
		t.Fatalf("ListNodes: %v, %v", list, err)
	}
	if _, err := c.StopNode(ctx, &rpc.StopNodeRequest{NodeId: "n1"}); err != nil {
		t.Fatal(err)
	}
	if !portFree(int(resp.Port)) {
		t.Fatalf("port %d taken after StopNode", resp.Port)
	}
}

// TestAgentProcessKilledAndRestarted runs the real `grid agent` binary,
// SIGKILLs it while it runs 3 nodes, kills one node while it is down, and
// starts it again: 2 nodes re-adopted (same pids), 1 restarted, no
// duplicate process, no orphan.
func TestAgentProcessKilledAndRestarted(t *testing.T) {
	m := startStubMaster(t)
	dataDir := t.TempDir()
	lo, hi := freePortRange(t, 10)
	grpcAddr := deadAddr(t)
	startAgent := func() *exec.Cmd {
		cmd := exec.Command(gridBin, "agent", "--id", "agent-proc", "--data-dir", dataDir, "--grpc-addr", grpcAddr,
			"--masters", m.addr, "--port-range", itoa(lo)+"-"+itoa(hi), "--heartbeat-interval", "50ms", "--log-level", "debug")
		cmd.Stdout, cmd.Stderr = newTWriter(t), newTWriter(t)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	agentProc := startAgent()
	c := agentClient(t, grpcAddr)
	ctx := context.Background()
	waitfor.True(t, 20*time.Second, "agent serving", func() bool {
		_, err := c.ListNodes(ctx, &rpc.ListNodesRequest{})
		return err == nil
	})
	pids := map[string]uint32{}
	for _, id := range []string{"a", "b", "c"} {
		resp, err := c.SpawnNode(ctx, &rpc.SpawnNodeRequest{NodeId: id})
		if err != nil {
			t.Fatalf("SpawnNode(%s): %v", id, err)
		}
		pids[id] = resp.Pid
	}
	t.Cleanup(func() {
		for _, id := range []string{"a", "b", "c"} {
			for _, pid := range findOrphans(id, dataDir+"/nodes/"+id, 0) {
				killOrphan(pid, 5*time.Second)
			}
		}
	})

	// SIGKILL the agent; its nodes live on.
	if err := agentProc.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = agentProc.Wait()
	for id, pid := range pids {
		if !alive(int(pid)) {
			t.Fatalf("node %s (pid %d) died with its agent", id, pid)
		}
	}
	if err := syscall.Kill(int(pids["c"]), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// c's zombie is reaped by init once its parent (the agent) is gone.
	waitfor.True(t, 5*time.Second, "node c gone", func() bool { return !alive(int(pids["c"])) })

	agentProc = startAgent()
	defer func() {
		_ = agentProc.Process.Signal(syscall.SIGTERM)
		_ = agentProc.Wait()
	}()
	waitfor.True(t, 20*time.Second, "agent back with c restarted", func() bool {
		list, err := c.ListNodes(ctx, &rpc.ListNodesRequest{})
		if err != nil || len(list.Nodes) != 3 {
			return false
		}
		c := list.Nodes[2]
		return c.NodeId == "c" && c.Status == rpc.NodeRunning && c.Pid != pids["c"] && c.RestartCount == 1
	})
	list, _ := c.ListNodes(ctx, &rpc.ListNodesRequest{})
	for _, n := range list.Nodes[:2] {
		if n.Pid != pids[n.NodeId] || n.Status != rpc.NodeRunning || n.RestartCount != 0 {
			t.Fatalf("node %s not re-adopted: %+v (was pid %d)", n.NodeId, n, pids[n.NodeId])
		}
	}
	for _, n := range list.Nodes {
		procs := findOrphans(n.NodeId, n.StoragePath, 0)
		if len(procs) != 1 || procs[0] != int(n.Pid) {
			t.Fatalf("node %s: processes %v, want exactly [%d]", n.NodeId, procs, n.Pid)
		}
	}
	waitfor.True(t, 10*time.Second, "re-registration reporting 3 nodes", func() bool {
		return m.get(func(m *stubMaster) bool {
			last := m.registrations[len(m.registrations)-1]
			return len(m.registrations) >= 2 && len(last.Nodes) == 3
		})
	})

	// Stop everything through the API: nothing left, ports free.
	for _, n := range list.Nodes {
		if _, err := c.StopNode(ctx, &rpc.StopNodeRequest{NodeId: n.NodeId}); err != nil {
			t.Fatal(err)
		}
		if alive(int(n.Pid)) || !portFree(int(n.Port)) {
			t.Fatalf("node %s: pid %d or port %d left after stop", n.NodeId, n.Pid, n.Port)
		}
	}
	if err := agentProc.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := agentProc.Wait(); err != nil {
		t.Fatalf("agent exit after SIGTERM: %v", err)
	}
	if _, err := os.Stat(dataDir + "/" + stateFileName); err != nil {
		t.Fatal(err)
	}
}
