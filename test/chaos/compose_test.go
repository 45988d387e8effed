package chaos

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/harness"
	"github.com/gridctl/grid/test/waitfor"
)

const composeProject = "gridchaos"

// composeMasters maps each master's service name to its gRPC port
// published on 127.0.0.1 by docker-compose.yml.
var composeMasters = map[string]string{"master-1": "127.0.0.1:7000", "master-2": "127.0.0.1:7100", "master-3": "127.0.0.1:7200"}

// TestComposeSurvivesLeaderContainerKill builds grid:dev FROM scratch,
// brings up docker-compose.yml (3 masters, 2 agents), spawns a node, kills
// the leader's container, and checks a new leader, the node and the events.
// It is part of `make chaos` only.
func TestComposeSurvivesLeaderContainerKill(t *testing.T) {
	if !fullRun() {
		t.Skip("compose test runs with GRID_CHAOS=full (make chaos)")
	}
	for _, tool := range []string{"docker", "docker-compose"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found: %v", tool, err)
		}
	}
	if out, err := exec.Command("docker", "info").CombinedOutput(); err != nil {
		t.Skipf("docker daemon unavailable: %v: %.200s", err, out)
	}
	root := repoRoot()
	buildImage(t, root)

	compose := func(args ...string) (string, error) {
		cmd := exec.Command("docker-compose", append([]string{"-p", composeProject, "-f", filepath.Join(root, "docker-compose.yml")}, args...)...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	_, _ = compose("down", "-v", "--remove-orphans") // a stale run
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := compose("logs", "--no-color", "--tail", "60")
			t.Logf("compose logs:\n%s", out)
		}
		if out, err := compose("down", "-v", "--remove-orphans"); err != nil {
			t.Errorf("docker-compose down: %v\n%s", err, out)
		}
	})
	if out, err := compose("up", "-d"); err != nil {
		t.Fatalf("docker-compose up: %v\n%s", err, out)
	}

	clients := map[string]rpc.GridMasterClient{}
	for id, addr := range composeMasters {
		conn, err := harness.DialFast(addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		clients[id] = rpc.NewGridMasterClient(conn)
	}
	leaderOf := func(skip string) (string, string) {
		leader := ""
		for id, c := range clients {
			if id == skip {
				continue
			}
			ctx, cancel := harness.Ctx(2 * time.Second)
			r, err := c.Ready(ctx, &rpc.Empty{})
			cancel()
			switch {
			case err != nil:
				return "", fmt.Sprintf("%s: %v", id, err)
			case !r.Ready || r.LeaderId == "":
				return "", fmt.Sprintf("%s not ready: %s", id, r.Reason)
			case leader != "" && r.LeaderId != leader:
				return "", fmt.Sprintf("%s follows %s, another master %s", id, r.LeaderId, leader)
			}
			leader = r.LeaderId
		}
		return leader, ""
	}
	var leader string
	waitfor.Until(t, 90*time.Second, "a leader agreed by the three containers", func() (bool, string) {
		var why string
		leader, why = leaderOf("")
		return leader != "", why
	})
	first := clients[leader]
	for _, svc := range []string{"master-1", "master-2", "master-3", "agent-001", "agent-002"} {
		id := composeContainer(t, compose, svc)
		out, err := exec.Command("docker", "top", id, "-o", "pid,uid,args").CombinedOutput()
		if err != nil {
			t.Fatalf("docker top %s: %v\n%s", svc, err, out)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n")[1:] {
			if f := strings.Fields(line); len(f) > 1 && f[1] != "10001" {
				t.Fatalf("%s runs a process as uid %s, want the image's non-root 10001: %s", svc, f[1], line)
			}
		}
		waitfor.Until(t, 60*time.Second, svc+" healthy by its grid health check", func() (bool, string) {
			out, err := exec.Command("docker", "inspect", "--format", "{{.State.Health.Status}}", id).CombinedOutput()
			st := strings.TrimSpace(string(out))
			return err == nil && st == "healthy", fmt.Sprintf("health %q %v", st, err)
		})
	}
	waitfor.Until(t, 60*time.Second, "both container agents registered and healthy", func() (bool, string) {
		ctx, cancel := harness.Ctx(3 * time.Second)
		defer cancel()
		l, err := first.ListAgents(ctx, &rpc.Empty{})
		if err != nil {
			return false, err.Error()
		}
		healthy := 0
		for _, a := range l.Agents {
			if a.Status == "healthy" {
				healthy++
			}
		}
		return healthy == 2, fmt.Sprintf("%d of 2 agents healthy: %v", healthy, l.Agents)
	})

	ctx, cancel := harness.Ctx(45 * time.Second)
	spawn, err := first.SpawnStorageNode(ctx, &rpc.SpawnRequest{AgentId: "agent-001"})
	cancel()
	if err != nil || !spawn.Success {
		t.Fatalf("spawn on agent-001: %v %v", spawn, err)
	}
	t.Logf("spawned %s on %s (%s), leader %s", spawn.NodeId, spawn.AgentId, spawn.Endpoint, leader)

	container := composeContainer(t, compose, leader)
	if out, err := exec.Command("docker", "kill", container).CombinedOutput(); err != nil {
		t.Fatalf("docker kill %s (%s): %v\n%s", container, leader, err, out)
	}
	killed := time.Now()
	var newLeader string
	waitfor.Until(t, 60*time.Second, "a new leader among the surviving containers", func() (bool, string) {
		var why string
		newLeader, why = leaderOf(leader)
		if newLeader == leader {
			return false, "still following the killed " + leader
		}
		return newLeader != "", why
	})
	t.Logf("%s killed; %s leads after %s", leader, newLeader, time.Since(killed).Round(time.Millisecond))
	survivor := clients[newLeader]

	waitfor.Until(t, 30*time.Second, "the node still registered and running", func() (bool, string) {
		ctx, cancel := harness.Ctx(5 * time.Second)
		defer cancel()
		n, err := survivor.GetStorageNodeStatus(ctx, &rpc.NodeId{NodeId: spawn.NodeId})
		if err != nil {
			return false, err.Error()
		}
		return n.Status == "running" && n.AgentId == "agent-001", fmt.Sprintf("node is %s on %s", n.Status, n.AgentId)
	})
	waitfor.Until(t, 30*time.Second, "spawn and leader_elected events on the new leader", func() (bool, string) {
		ctx, cancel := harness.Ctx(5 * time.Second)
		defer cancel()
		l, err := survivor.QueryEvents(ctx, &rpc.EventFilter{Types: []rpc.EventType{rpc.EventType_LEADER_ELECTED, rpc.EventType_SPAWN_SUCCEEDED}, Limit: 1000})
		if err != nil {
			return false, err.Error()
		}
		elected, spawned := false, false
		for _, e := range l.Events {
			elected = elected || (e.Type == rpc.EventType_LEADER_ELECTED && e.EntityId == newLeader && e.Timestamp >= killed.UnixMicro())
			spawned = spawned || (e.Type == rpc.EventType_SPAWN_SUCCEEDED && e.EntityId == spawn.NodeId)
		}
		return elected && spawned, fmt.Sprintf("leader_elected for %s after the kill: %v, spawn_succeeded for %s: %v", newLeader, elected, spawn.NodeId, spawned)
	})
}

// buildImage builds grid:dev from a context holding the Dockerfile and the
// static binary under test (harness.Binary builds it with CGO_ENABLED=0).
func buildImage(t *testing.T, root string) {
	t.Helper()
	bin, err := harness.Binary()
	if err != nil {
		t.Fatal(err)
	}
	ctxDir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(ctxDir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	keep := filepath.Join("deploy", "docker", "data", ".keep") // /data, owned by the image's user
	for src, dst := range map[string]string{bin: "bin/grid", filepath.Join(root, "Dockerfile"): "Dockerfile", filepath.Join(root, keep): keep} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(ctxDir, dst)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(ctxDir, dst), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("docker", "build", "-q", "-t", "grid:dev", ctxDir).CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
}

// composeContainer is the container id of a compose service.
func composeContainer(t *testing.T, compose func(...string) (string, error), service string) string {
	t.Helper()
	out, err := compose("ps", "-q", service)
	lines := strings.Fields(out)
	id := ""
	if len(lines) > 0 {
		id = lines[len(lines)-1]
	}
	if err != nil || id == "" {
		t.Fatalf("container of %s: %v %q", service, err, out)
	}
	return id
}

// repoRoot is the module root (two levels above this file).
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}
