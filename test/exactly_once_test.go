package test

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

// quickLiveness are the short liveness timings.
var quickLiveness = []string{"--heartbeat-interval", "300ms", "--degraded-after", "2s", "--offline-after", "4s"}

// lifecycleCounts counts an agent's liveness events on one master (stale
// read: every master answers from its own replica).
func lifecycleCounts(m *harness.Master, id string) (map[rpc.EventType]int, error) {
	ctx, cancel := harness.Ctx(5 * time.Second)
	defer cancel()
	l, err := m.Client().QueryEvents(harness.Stale(ctx), &rpc.EventFilter{EntityIds: []string{id}, Limit: 1000})
	if err != nil {
		return nil, err
	}
	out := map[rpc.EventType]int{}
	for _, e := range l.Events {
		out[e.Type]++
	}
	return out, nil
}

// waitOneOfEach waits until every live master holds exactly one
// agent_degraded, agent_offline and agent_recovered for each id, then that
// the replicas are equal; more than one of any fails at once.
func waitOneOfEach(t *testing.T, c *harness.Cluster, ids []string) {
	t.Helper()
	want := []rpc.EventType{rpc.EventType_AGENT_DEGRADED, rpc.EventType_AGENT_OFFLINE, rpc.EventType_AGENT_RECOVERED}
	waitfor.Until(t, 60*time.Second, "one degraded, offline and recovered event per frozen agent on every master", func() (bool, string) {
		for _, m := range c.Live() {
			for _, id := range ids {
				got, err := lifecycleCounts(m, id)
				if err != nil {
					return false, err.Error()
				}
				for _, typ := range want {
					if got[typ] > 1 {
						t.Fatalf("%s holds %d %s events for %s: %v", m.ID, got[typ], typ.Name(), id, got)
					}
					if got[typ] != 1 {
						return false, fmt.Sprintf("%s: %s %v", m.ID, id, got)
					}
				}
			}
		}
		return true, ""
	})
	c.WaitSameState(30 * time.Second)
}

// TestFrozenAgentsThroughLeaderKills freezes 3 of 6 agents and kills the
// leader three times while their transitions are being decided: every
// frozen agent ends with exactly one agent_degraded, agent_offline and
// agent_recovered on every master, and the replicas are equal.
func TestFrozenAgentsThroughLeaderKills(t *testing.T) {
	c := harness.NewCluster(t, harness.Options{MasterArgs: quickLiveness})
	c.WaitLeader(30 * time.Second)
	var agents []*harness.Agent
	for i := range 6 {
		agents = append(agents, c.AddAgent(fmt.Sprintf("agent-%d", i), harness.AgentOptions{}))
	}
	for _, a := range agents {
		waitStatus(t, c, a.ID, "healthy")
	}
	frozen := agents[:3]
	var ids []string
	for _, a := range frozen {
		ids = append(ids, a.ID)
		if err := a.Pause(); err != nil {
			t.Fatal(err)
		}
	}
	thawed := false
	defer func() {
		if !thawed {
			for _, a := range frozen {
				_ = a.Resume()
			}
		}
	}()
	for kill := 1; kill <= 3; kill++ {
		leader := c.WaitLeader(30 * time.Second)
		// Kill as soon as a frozen agent's transition is under way here:
		// the others' are being decided, appended or committed.
		waitfor.Until(t, 30*time.Second, "a frozen agent changing status", func() (bool, string) {
			s, err := agentStatus(c, ids[kill%3])
			return err == nil && s != "healthy", "status " + s
		})
		if err := leader.Kill(); err != nil {
			t.Fatal(err)
		}
		t.Logf("kill %d: %s", kill, leader.ID)
		if err := leader.Start(); err != nil {
			t.Fatal(err)
		}
	}
	c.WaitLeader(30 * time.Second)
	for _, id := range ids {
		waitStatus(t, c, id, "offline")
	}
	for _, a := range frozen {
		if err := a.Resume(); err != nil {
			t.Fatal(err)
		}
	}
	thawed = true
	for _, id := range ids {
		waitStatus(t, c, id, "healthy")
	}
	waitOneOfEach(t, c, ids)
	waitVerify(t, c)
}

// waitVerify waits until `grid operator verify` exits 0: every master
// reports the same digest at one common index.
func waitVerify(t *testing.T, c *harness.Cluster) {
	t.Helper()
	waitfor.Until(t, 60*time.Second, "grid operator verify exits 0", func() (bool, string) {
		out, err := gridErr(c, "operator", "verify")
		return err == nil, out
	})
}

// TestFollowerDiskFullStopsItAlone puts one follower's event store on a
// small tmpfs and fills it: that follower exits non-zero naming the cause,
// the other two keep taking writes, and once the space is freed and the
// follower restarted, the replicas match.
func TestFollowerDiskFullStopsItAlone(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs (CI runs as root)")
	}
	c := harness.NewCluster(t, harness.Options{})
	leader := c.WaitLeader(30 * time.Second)
	f := c.Followers(leader)[0]
	if err := f.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(f.DataDir, "events")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount tmpfs: %v: %s", err, out)
	}
	mounted := true
	defer func() {
		if mounted {
			_ = exec.Command("umount", "-l", dir).Run()
		}
	}()
	if err := f.Start(); err != nil {
		t.Fatal(err)
	}
	c.WaitSameState(30 * time.Second)

	pad := strings.Repeat("x", 2000)
	emit := func(round int) error {
		var evs []*rpc.Event
		for i := range 50 {
			evs = append(evs, &rpc.Event{Id: fmt.Sprintf("fill-%d-%d", round, i), Type: rpc.EventType_NODE_CRASHED,
				EntityId: "node-fill", Timestamp: time.Now().UnixMicro(), Source: "disk-test", Details: map[string]string{"pad": pad}})
		}
		ctx, cancel := harness.Ctx(10 * time.Second)
		defer cancel()
		_, err := leader.Client().EmitEvents(ctx, &rpc.EmitEventsRequest{Events: evs, Source: "disk-test"})
		return err
	}
	round := 0
	waitfor.Until(t, 120*time.Second, "the follower stopping on a full event store", func() (bool, string) {
		round++
		if err := emit(round); err != nil {
			return false, err.Error()
		}
		return !f.Running(), fmt.Sprintf("%d rounds written", round)
	})
	if err := f.Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := f.ExitError(); err == nil {
		t.Error("the follower exited with status 0, want non-zero")
	}
	log, _ := os.ReadFile(f.Log)
	if !strings.Contains(string(log), "event store failure") || !strings.Contains(string(log), "no space left on device") {
		t.Errorf("the follower's log does not name the failure and its cause")
	}
	// The other two keep serving writes.
	for i := range 3 {
		if err := emit(10_000 + i); err != nil {
			t.Fatalf("write with one follower stopped: %v", err)
		}
	}
	// Free the space, restart: the follower catches up and matches.
	if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
		t.Fatalf("umount: %v: %s", err, out)
	}
	mounted = false
	if err := f.Start(); err != nil {
		t.Fatal(err)
	}
	h := c.WaitSameState(60 * time.Second)
	if h.Events < uint64(round*50) {
		t.Errorf("replicas hold %d events, want at least %d", h.Events, round*50)
	}
	waitVerify(t, c)
}

// faultsBinary is bin/grid-faults ($GRID_FAULTS_BIN, which make test sets)
// or a fresh build with the gridfaults tag.
func faultsBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("GRID_FAULTS_BIN"); p != "" {
		return p
	}
	_, file, _, _ := runtime.Caller(0)
	bin := filepath.Join(t.TempDir(), "grid-faults")
	cmd := exec.Command("go", "build", "-tags", "gridfaults", "-o", bin, "./cmd/grid")
	cmd.Dir = filepath.Join(filepath.Dir(file), "..")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build grid-faults: %v\n%s", err, out)
	}
	return bin
}

// TestFaultPointsKeepEventsExactlyOnce kills the leader at each fault point
// of a status change (appended but not committed, committed but not
// replied, in the middle of a batch apply): afterwards every committed
// change has exactly one event on every master, and none has a second.
func TestFaultPointsKeepEventsExactlyOnce(t *testing.T) {
	bin := faultsBinary(t)
	for _, point := range []string{"status_appended", "status_committed", "batch_apply"} {
		t.Run(point, func(t *testing.T) {
			c := harness.NewCluster(t, harness.Options{MasterArgs: quickLiveness})
			for _, m := range c.Masters {
				_ = m.Kill()
				_ = m.Wait(10 * time.Second)
				m.Bin = bin
				m.Env = append(m.Env, "GRID_FAULT_FILE="+filepath.Join(m.DataDir, "fault"))
				if err := m.Start(); err != nil {
					t.Fatal(err)
				}
			}
			leader := c.WaitLeader(30 * time.Second)
			a := c.AddAgent("agent-f", harness.AgentOptions{})
			waitStatus(t, c, a.ID, "healthy")
			if err := os.WriteFile(filepath.Join(leader.DataDir, "fault"), []byte(point+" kill"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := a.Pause(); err != nil {
				t.Fatal(err)
			}
			waitfor.True(t, 60*time.Second, "the leader killed at "+point, func() bool { return !leader.Running() })
			if err := leader.Start(); err != nil {
				t.Fatal(err)
			}
			waitStatus(t, c, a.ID, "offline")
			if err := a.Resume(); err != nil {
				t.Fatal(err)
			}
			waitStatus(t, c, a.ID, "healthy")
			waitOneOfEach(t, c, []string{a.ID})
		})
	}
}
