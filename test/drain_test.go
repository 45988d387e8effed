package test

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/harness"
	"github.com/gridctl/grid/test/waitfor"
)

// agentShow is `grid agents show --json` (AgentRecord, proto names).
type agentShow struct {
	AgentID    string `json:"agent_id"`
	Ineligible bool   `json:"ineligible"`
	Drain      *struct {
		Status string `json:"status"`
		Error  string `json:"error"`
	} `json:"drain"`
}

func showAgent(t *testing.T, c *harness.Cluster, id string) agentShow {
	t.Helper()
	var a agentShow
	out := grid(t, c, "agents", "show", "--json", id)
	if err := json.Unmarshal([]byte(out), &a); err != nil {
		t.Fatalf("agents show --json: %v\n%s", err, out)
	}
	return a
}

// writeProbe writes a random file into dir and returns its checksum.
func writeProbe(t *testing.T, dir string) [32]byte {
	t.Helper()
	b := make([]byte, 256<<10)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "probe.bin"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// eventTypesOf lists the types of entity id's events on m, oldest first.
func entityEventTypes(t *testing.T, m *harness.Master, id string) []string {
	t.Helper()
	evs, err := nodeEvents(m, id)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		out = append(out, strings.ToLower(e.Type.String()))
	}
	return out
}

// inOrder reports whether want appears in got as a subsequence.
func inOrder(got, want []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

// Issue 13: a drain moves a node with its data (checksum equal, same node
// id, old process gone, events in order); with --no-migrate the target's
// data directory starts empty. Bad input changes nothing.
func TestDrainMovesNodesWithTheirData(t *testing.T) {
	if !agentBuilt(t) {
		t.Skip("grid agent is not built yet")
	}
	c := harness.NewCluster(t, harness.Options{MasterArgs: nodeLiveness})
	a1 := c.AddAgent("agent-001", harness.AgentOptions{})
	a2 := c.AddAgent("agent-002", harness.AgentOptions{})
	waitStatus(t, c, a1.ID, "healthy")
	waitStatus(t, c, a2.ID, "healthy")

	// Bad input: unknown agent, a deadline of 0, a drain with no target.
	for _, args := range [][]string{
		{"agents", "drain", "agent-404"},
		{"agents", "drain", "--deadline", "0s", a1.ID},
		{"agents", "remove", a1.ID}, // healthy: needs --force
	} {
		if out, err := gridErr(c, args...); err == nil {
			t.Fatalf("grid %v succeeded: %s", args, out)
		} else {
			t.Logf("grid %v: %s", args, strings.TrimSpace(out))
		}
	}

	r := spawnCLI(t, c, "--agent", a1.ID)
	rec := waitNodeOnAll(t, c, r.NodeID, "running", func(n *rpc.NodeStatus) bool { return n.Status == "running" && n.StoragePath != "" })
	sum := writeProbe(t, rec.StoragePath)

	grid(t, c, "agents", "drain", "--deadline", "60s", a1.ID)
	moved := waitNodeOnAll(t, c, r.NodeID, "running on agent-002", func(n *rpc.NodeStatus) bool {
		return n.AgentId == a2.ID && n.Status == "running" && n.Pid != 0
	})
	got, err := os.ReadFile(filepath.Join(moved.StoragePath, "probe.bin"))
	if err != nil || sha256.Sum256(got) != sum {
		t.Fatalf("probe file on agent-002 (%s): err %v, checksum equal %v", moved.StoragePath, err, err == nil && sha256.Sum256(got) == sum)
	}
	if !strings.HasPrefix(moved.StoragePath, a2.DataDir) {
		t.Fatalf("moved node's storage path %s is not under agent-002's data dir %s", moved.StoragePath, a2.DataDir)
	}
	if len(moved.PreviousAgents) != 1 || moved.PreviousAgents[0] != a1.ID {
		t.Fatalf("previous_agents %v", moved.PreviousAgents)
	}
	waitfor.True(t, 20*time.Second, "the old process gone from agent-001", func() bool { return len(a1.NodeProcs()[r.NodeID]) == 0 })
	waitfor.Until(t, 20*time.Second, "drain complete", func() (bool, string) {
		a := showAgent(t, c, a1.ID)
		return a.Drain != nil && a.Drain.Status == "complete" && a.Ineligible, fmt.Sprintf("%+v", a)
	})
	leader := c.WaitLeader(30 * time.Second)
	if evs := entityEventTypes(t, leader, r.NodeID); !inOrder(evs, []string{"spawn_requested", "spawn_succeeded", "spawn_requested", "spawn_succeeded", "node_migrated"}) {
		t.Fatalf("node events out of order: %v", evs)
	}
	if evs := entityEventTypes(t, leader, a1.ID); !inOrder(evs, []string{"agent_drain_started", "agent_drain_complete"}) {
		t.Fatalf("agent events: %v", evs)
	}

	// agent-001 is ineligible: placement skips it, a named spawn is refused.
	if out, err := gridErr(c, "spawn", "--agent", a1.ID); err == nil {
		t.Fatalf("spawn on an ineligible agent succeeded: %s", out)
	}
	grid(t, c, "agents", "eligibility", "--enable", a1.ID)

	// --no-migrate: node B moves from agent-002 to agent-001 without its data.
	rb := spawnCLI(t, c, "--agent", a2.ID)
	recB := waitNodeOnAll(t, c, rb.NodeID, "running", func(n *rpc.NodeStatus) bool { return n.Status == "running" && n.StoragePath != "" })
	writeProbe(t, recB.StoragePath)
	grid(t, c, "agents", "drain", "--no-migrate", "--deadline", "60s", a2.ID)
	for _, id := range []string{r.NodeID, rb.NodeID} {
		movedB := waitNodeOnAll(t, c, id, "running on agent-001", func(n *rpc.NodeStatus) bool {
			return n.AgentId == a1.ID && n.Status == "running" && n.Pid != 0
		})
		if id == rb.NodeID {
			if _, err := os.Stat(filepath.Join(movedB.StoragePath, "probe.bin")); !os.IsNotExist(err) {
				t.Fatalf("--no-migrate: the probe file exists on the target (%v)", err)
			}
		}
	}
	waitfor.Until(t, 20*time.Second, "second drain complete", func() (bool, string) {
		a := showAgent(t, c, a2.ID)
		return a.Drain != nil && a.Drain.Status == "complete", fmt.Sprintf("%+v", a)
	})
	// A drain with nowhere to go is refused and changes nothing.
	if out, err := gridErr(c, "agents", "drain", a1.ID); err == nil || !strings.Contains(out, "free slots") {
		t.Fatalf("drain with no target: %v %s", err, out)
	}
	if a := showAgent(t, c, a1.ID); a.Ineligible {
		t.Fatalf("a refused drain changed the agent: %+v", a)
	}
}
