package test

import (
	"bufio"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/harness"
	"github.com/gridctl/grid/test/waitfor"
)

// goroutines reads go_goroutines from a master's /metrics.
func goroutines(t *testing.T, m *harness.Master) float64 {
	t.Helper()
	resp, err := http.Get("http://" + m.HTTP + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	t.Fatalf("%s/metrics: no go_goroutines", m.HTTP)
	return 0
}

// TestMassSilenceFewEntriesAndNothingLeft: 300 agents (one `grid
// sim-agents` process) heartbeat, then all stop together. The leader hands
// them a longer interval than --heartbeat-interval because of the fleet's
// size (--max-heartbeats-per-second), marks them all offline through a few
// Raft entries, each change with its agent_offline event, and afterwards
// holds no more goroutines than before they came (no connection, timer or
// goroutine per offline agent).
func TestMassSilenceFewEntriesAndNothingLeft(t *testing.T) {
	const n = 300
	c := harness.NewCluster(t, harness.Options{MasterArgs: []string{"--heartbeat-interval", "1s",
		"--degraded-after", "2s", "--offline-after", "4s", "--max-heartbeats-per-second", "200"}})
	leader := c.WaitLeader(30 * time.Second)
	idle := goroutines(t, leader)

	bin, err := harness.Binary()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "sim-agents", "--masters", c.MasterAddrs(), "--n", strconv.Itoa(n),
		"--interval", "1s", "--duration", "3s", "--conns", "8", "--prefix", "quiet").CombinedOutput()
	if err != nil {
		t.Fatalf("sim-agents: %v\n%s", err, out)
	}
	ctx, cancel := harness.Ctx(10 * time.Second)
	defer cancel()
	// 300 agents at most 200 beats/s: 1.5 s (±10%), not 1 s.
	hb, err := leader.Client().Heartbeat(ctx, &rpc.HeartbeatRequest{AgentId: "quiet-00000"})
	if err != nil {
		t.Fatal(err)
	}
	if hb.NextIntervalMs < 1300 || hb.NextIntervalMs > 1700 {
		t.Fatalf("next_interval_ms = %d with %d agents at 200/s, want 1500±10%%", hb.NextIntervalMs, n)
	}
	st, err := leader.Client().GetClusterStatus(ctx, &rpc.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	idx0 := st.CommitIndex

	waitfor.Until(t, 60*time.Second, "all simulated agents offline", func() (bool, string) {
		ctx, cancel := harness.Ctx(5 * time.Second)
		defer cancel()
		l, err := leader.Client().ListAgents(ctx, &rpc.Empty{})
		if err != nil {
			return false, err.Error()
		}
		off := 0
		for _, a := range l.Agents {
			if strings.HasPrefix(a.AgentId, "quiet-") && a.Status == rpc.AgentOffline {
				off++
			}
		}
		return off == n, strconv.Itoa(off) + " offline"
	})
	if l, _ := c.LeaderOf(); l != leader {
		t.Skip("leadership moved during the test (a busy machine); entry counts would mix two leaders")
	}
	ctx2, cancel2 := harness.Ctx(10 * time.Second)
	defer cancel2()
	st, err = leader.Client().GetClusterStatus(ctx2, &rpc.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	// 600 changes (degraded, then offline) at whole-second deadlines, up
	// to 512 per entry; one per agent would be 600 entries.
	if entries := st.CommitIndex - idx0; entries > 30 {
		t.Fatalf("%d Raft entries to mark %d agents degraded then offline, want a few", entries, n)
	}
	evs, err := leader.Client().QueryEvents(ctx2, &rpc.EventFilter{Types: []rpc.EventType{rpc.EventType_AGENT_OFFLINE}, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, e := range evs.Events {
		if strings.HasPrefix(e.EntityId, "quiet-") {
			seen[e.EntityId]++
		}
	}
	if len(seen) != n {
		t.Fatalf("agent_offline events for %d agents, want %d", len(seen), n)
	}
	for id, k := range seen {
		if k != 1 {
			t.Fatalf("%s has %d agent_offline events, want 1", id, k)
		}
	}
	waitfor.Until(t, 30*time.Second, "leader goroutines back near the idle count", func() (bool, string) {
		g := goroutines(t, leader)
		return g <= idle+50, strconv.Itoa(int(g)) + " goroutines, idle " + strconv.Itoa(int(idle))
	})
}
