package agent

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/waitfor"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

func newTestSupervisor(t *testing.T, cfg Config) (*Supervisor, *recorder) {
	t.Helper()
	rec := &recorder{}
	s, err := NewSupervisor(cfg, rec, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background(), true) })
	return s, rec
}

func spawn(t *testing.T, s *Supervisor, spec SpawnSpec) *rpc.NodeStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := s.Spawn(ctx, spec)
	if err != nil {
		t.Fatalf("Spawn(%+v): %v", spec, err)
	}
	return st
}

func nodeStatus(t *testing.T, s *Supervisor, id string) *rpc.NodeStatus {
	t.Helper()
	st, err := s.Status(id)
	if err != nil {
		t.Fatalf("Status(%s): %v", id, err)
	}
	return st
}

func serving(port uint32) bool {
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", itoa(int(port))), 200*time.Millisecond)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}

func TestSupervisorSpawnIsIdempotentAndValidates(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxNodes = 2
	s, _ := newTestSupervisor(t, cfg)

	st := spawn(t, s, SpawnSpec{NodeID: "n1"})
	if st.Status != rpc.NodeRunning || st.Pid == 0 || int(st.Port) != cfg.PortRangeStart || !serving(st.Port) {
		t.Fatalf("first spawn: %+v", st)
	}
	if st.StoragePath != cfg.DataDir+"/nodes/n1" || st.MemoryLimitMb != cfg.DefaultMemoryMB {
		t.Fatalf("defaults not applied: %+v", st)
	}
	if _, err := os.Stat(st.StoragePath + "/graph.db"); err != nil {
		t.Fatalf("node did not open its store in its storage path: %v", err)
	}
	again := spawn(t, s, SpawnSpec{NodeID: "n1"})
	if again.Pid != st.Pid {
		t.Fatalf("second spawn of n1 made pid %d, first was %d", again.Pid, st.Pid)
	}
	if len(s.List()) != 1 {
		t.Fatalf("List has %d nodes, want 1", len(s.List()))
	}

	ctx := context.Background()
	cases := []struct {
		spec SpawnSpec
		want error
	}{
		{SpawnSpec{NodeID: "n1", Port: int(st.Port) + 1}, ErrNodeConflict},
		{SpawnSpec{NodeID: "bad/id"}, ErrInvalidNodeID},
		{SpawnSpec{NodeID: "n2", Port: cfg.PortRangeEnd + 1}, ErrInvalidPort},
		{SpawnSpec{NodeID: "n2", Port: int(st.Port)}, ErrPortInUse},
		{SpawnSpec{NodeID: "n2", StoragePath: "../../etc"}, ErrInvalidStoragePath},
		{SpawnSpec{NodeID: "n2", StoragePath: "/etc"}, ErrInvalidStoragePath},
		{SpawnSpec{NodeID: "n2", StoragePath: "nodes/n1"}, ErrInvalidStoragePath},
		{SpawnSpec{NodeID: "n2", MemoryLimitMB: 8}, ErrInvalidMemoryLimit},
		{SpawnSpec{NodeID: "n2", MemoryLimitMB: 1 << 30}, ErrInvalidMemoryLimit},
	}
	for _, tc := range cases {
		if _, err := s.Spawn(ctx, tc.spec); !errors.Is(err, tc.want) {
			t.Errorf("Spawn(%+v) = %v, want %v", tc.spec, err, tc.want)
		}
	}

	// A port taken by another process.
	busy := cfg.PortRangeStart + 5
	l, err := net.Listen("tcp", ":"+itoa(busy))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := s.Spawn(ctx, SpawnSpec{NodeID: "n2", Port: busy}); !errors.Is(err, ErrPortInUse) {
		t.Fatalf("spawn on a port in use: %v, want ErrPortInUse", err)
	}

	st2 := spawn(t, s, SpawnSpec{NodeID: "n2", Port: cfg.PortRangeStart + 3, StoragePath: "custom/n2", MemoryLimitMB: 32})
	if st2.Port != uint32(cfg.PortRangeStart+3) || st2.StoragePath != cfg.DataDir+"/custom/n2" || st2.MemoryLimitMb != 32 {
		t.Fatalf("n2 settings not honoured: %+v", st2)
	}
	env, err := os.ReadFile("/proc/" + itoa(int(st2.Pid)) + "/environ")
	if err != nil || !containsEnv(env, "GOMEMLIMIT=28MiB") {
		t.Fatalf("node environment lacks GOMEMLIMIT=28MiB (err %v)", err)
	}
	limits, err := os.ReadFile("/proc/" + itoa(int(st2.Pid)) + "/limits")
	wantAS := strconv.FormatUint((2*32+rlimitHeadroomMB)<<20, 10)
	if err != nil || !strings.Contains(string(limits), wantAS) {
		t.Fatalf("node address-space limit: want %s bytes in\n%s (err %v)", wantAS, limits, err)
	}
	if _, err := s.Spawn(ctx, SpawnSpec{NodeID: "n3"}); !errors.Is(err, ErrAgentFull) {
		t.Fatalf("third spawn on a 2-node agent: %v, want ErrAgentFull", err)
	}
}

func containsEnv(environ []byte, kv string) bool {
	start := 0
	for i, b := range environ {
		if b == 0 {
			if string(environ[start:i]) == kv {
				return true
			}
			start = i + 1
		}
	}
	return false
}

func TestSupervisorRestartsCrashedNodeThenFails(t *testing.T) {
	cfg := testConfig(t)
	cfg.RestartMaxAttempts = 2
	s, rec := newTestSupervisor(t, cfg)
	first := spawn(t, s, SpawnSpec{NodeID: "crashy"})

	pid := int(first.Pid)
	for attempt := 1; attempt <= 2; attempt++ {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		waitfor.True(t, 10*time.Second, "restart with a new pid", func() bool {
			st := nodeStatus(t, s, "crashy")
			return st.Status == rpc.NodeRunning && st.Pid != 0 && int(st.Pid) != pid && st.RestartCount == uint32(attempt)
		})
		st := nodeStatus(t, s, "crashy")
		if st.LastSignal != "killed" || st.LastExitCode != -1 {
			t.Fatalf("exit not recorded: code %d signal %q", st.LastExitCode, st.LastSignal)
		}
		pid = int(st.Pid)
		waitfor.True(t, 10*time.Second, "restarted node serving", func() bool { return serving(st.Port) })
	}
	if c := rec.count(rpc.EventType_NODE_CRASHED, "crashy"); c != 2 {
		t.Fatalf("node_crashed events = %d, want 2", c)
	}
	ev := rec.last(rpc.EventType_NODE_RESTARTED, "crashy")
	if ev == nil || ev.Details["restart_count"] != "2" || ev.Details["new_pid"] != itoa(pid) || ev.Details["agent_id"] != cfg.AgentID {
		t.Fatalf("node_restarted event: %+v", ev)
	}
	if e := rec.last(rpc.EventType_NODE_CRASHED, "crashy"); e.Details["signal"] != "killed" || e.Details["exit_code"] != "-1" {
		t.Fatalf("node_crashed details: %v", e.Details)
	}

	// The third crash within the window spends the budget.
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitfor.True(t, 10*time.Second, "node failed", func() bool { return nodeStatus(t, s, "crashy").Status == rpc.NodeFailed })
	if rec.count(rpc.EventType_NODE_FAILED, "crashy") != 1 {
		t.Fatal("no node_failed event")
	}
	st := nodeStatus(t, s, "crashy")
	if st.RestartCount != 2 || st.Pid != 0 {
		t.Fatalf("failed node: %+v", st)
	}
	if alive(pid) {
		t.Fatalf("pid %d still alive", pid)
	}

	// The count survived on disk.
	recs, err := loadState(cfg.DataDir, cfg.AgentID)
	if err != nil || len(recs) != 1 || recs[0].RestartCount != 2 || recs[0].Status != rpc.NodeFailed {
		t.Fatalf("persisted state: %+v, %v", recs, err)
	}
}

func TestSupervisorStopFreesThePort(t *testing.T) {
	cfg := testConfig(t)
	s, _ := newTestSupervisor(t, cfg)
	st := spawn(t, s, SpawnSpec{NodeID: "stopme"})
	store := storageClient(t, st.Port)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if r, err := store.LearnConcept(ctx, &rpc.LearnConceptRequest{ConceptId: "c1", Content: "hello", Strength: 1, Confidence: 1}); err != nil || !r.Success {
		t.Fatalf("LearnConcept on the spawned node: %v, %v", r, err)
	}
	if err := s.Stop(context.Background(), "stopme"); err != nil {
		t.Fatal(err)
	}
	if alive(int(st.Pid)) {
		t.Fatalf("pid %d still alive after Stop", st.Pid)
	}
	if !portFree(int(st.Port)) {
		t.Fatalf("port %d still taken after Stop", st.Port)
	}
	if _, err := s.Status("stopme"); !errors.Is(err, ErrNodeNotFound) {
		t.Fatalf("Status after stop: %v, want ErrNodeNotFound", err)
	}
	if err := s.Stop(context.Background(), "stopme"); !errors.Is(err, ErrNodeNotFound) {
		t.Fatalf("second Stop: %v, want ErrNodeNotFound", err)
	}
	// The same id can be spawned again, on the same port.
	again := spawn(t, s, SpawnSpec{NodeID: "stopme", Port: int(st.Port)})
	if again.Pid == st.Pid || again.Port != st.Port {
		t.Fatalf("respawn: %+v", again)
	}
	// Its data survived: same storage path.
	q, err := storageClient(t, again.Port).QueryConcept(ctx, &rpc.QueryConceptRequest{ConceptId: "c1"})
	if err != nil || !q.Found || q.Content != "hello" {
		t.Fatalf("QueryConcept after respawn: %v, %v", q, err)
	}
}

func TestSupervisorReadoptsAfterAgentRestart(t *testing.T) {
	cfg := testConfig(t)
	rec1 := &recorder{}
	s1, err := NewSupervisor(cfg, rec1, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	live := spawn(t, s1, SpawnSpec{NodeID: "live"})
	dead := spawn(t, s1, SpawnSpec{NodeID: "dead"})
	// The agent goes away without stopping its nodes.
	if err := s1.Close(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	if !alive(int(live.Pid)) || !alive(int(dead.Pid)) {
		t.Fatal("closing the supervisor without stopNodes killed nodes")
	}
	// One node dies while no agent watches.
	if err := syscall.Kill(int(dead.Pid), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitfor.True(t, 5*time.Second, "dead node gone", func() bool { return !alive(int(dead.Pid)) })

	s2, rec2 := newTestSupervisor(t, cfg)
	got := nodeStatus(t, s2, "live")
	if got.Pid != live.Pid || got.Status != rpc.NodeRunning {
		t.Fatalf("live node not re-adopted: %+v (was pid %d)", got, live.Pid)
	}
	waitfor.True(t, 10*time.Second, "dead node restarted", func() bool {
		st := nodeStatus(t, s2, "dead")
		return st.Status == rpc.NodeRunning && st.Pid != 0 && st.Pid != dead.Pid && st.RestartCount == 1
	})
	if rec2.count(rpc.EventType_NODE_CRASHED, "dead") != 1 || rec2.count(rpc.EventType_NODE_RESTARTED, "dead") != 1 {
		t.Fatal("crash and restart of the dead node not reported")
	}
	waitfor.True(t, 10*time.Second, "restarted node serving", func() bool { return serving(nodeStatus(t, s2, "dead").Port) })

	// The adopted node is watched through its pidfd: a crash is seen.
	if err := syscall.Kill(int(live.Pid), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitfor.True(t, 10*time.Second, "adopted node restarted", func() bool {
		st := nodeStatus(t, s2, "live")
		return st.Status == rpc.NodeRunning && st.Pid != live.Pid && st.RestartCount == 1
	})
	// Stop works on every node and leaves no process behind.
	for _, id := range []string{"live", "dead"} {
		st := nodeStatus(t, s2, id)
		if err := s2.Stop(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		if alive(int(st.Pid)) || !portFree(int(st.Port)) {
			t.Fatalf("%s: process %d or port %d left behind", id, st.Pid, st.Port)
		}
	}
}

func TestSupervisorDoesNotAdoptReusedPid(t *testing.T) {
	cfg := testConfig(t)
	// A record whose pid is alive (ours) but whose start time is not.
	recs := []*NodeRecord{{NodeID: "ghost", Port: cfg.PortRangeStart, StoragePath: cfg.DataDir + "/nodes/ghost",
		MemoryLimitMB: 64, PID: os.Getpid(), StartTime: 1, Status: rpc.NodeRunning}}
	if err := saveState(cfg.DataDir, cfg.AgentID, recs); err != nil {
		t.Fatal(err)
	}
	s, rec := newTestSupervisor(t, cfg)
	waitfor.True(t, 10*time.Second, "ghost restarted as a new process", func() bool {
		st := nodeStatus(t, s, "ghost")
		return st.Status == rpc.NodeRunning && st.Pid != 0 && int(st.Pid) != os.Getpid()
	})
	if rec.count(rpc.EventType_NODE_CRASHED, "ghost") != 1 {
		t.Fatal("reused pid was not treated as a dead node")
	}
}

func TestSupervisorNodeExitingAtStartFails(t *testing.T) {
	cfg := testConfig(t)
	cfg.BinaryPath = "/bin/false"
	s, rec := newTestSupervisor(t, cfg)
	_, err := s.Spawn(context.Background(), SpawnSpec{NodeID: "broken"})
	if !errors.Is(err, ErrNodeStartFailed) || !strings.Contains(err.Error(), "exit code 1") {
		t.Fatalf("Spawn with a binary that exits: %v, want ErrNodeStartFailed naming exit code 1", err)
	}
	st := nodeStatus(t, s, "broken")
	if st.Status != rpc.NodeFailed || st.LastExitCode != 1 {
		t.Fatalf("status: %+v", st)
	}
	if rec.count(rpc.EventType_NODE_RESTARTED, "broken") != 0 {
		t.Fatal("a node that never started was restarted")
	}
}

func TestStorageNodeRefusesBusyPort(t *testing.T) {
	l, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	out, err := exec.Command(gridBin, "storage-node", "--port", itoa(port), "--storage-path", t.TempDir(), "--node-id", "n1").CombinedOutput()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() == 0 || !strings.Contains(string(out), "cannot listen") {
		t.Fatalf("storage-node on a busy port: err %v, output %s", err, out)
	}
}

func storageClient(t *testing.T, port uint32) rpc.StorageServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(net.JoinHostPort("127.0.0.1", itoa(int(port))), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return rpc.NewStorageServiceClient(conn)
}
