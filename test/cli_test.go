package test

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gridctl/grid/test/harness"
	"github.com/gridctl/grid/test/waitfor"
)

// grid runs the CLI against the cluster and returns stdout; it fails the test on a non-zero exit.
func grid(t *testing.T, c *harness.Cluster, args ...string) string {
	t.Helper()
	out, err := gridErr(c, args...)
	if err != nil {
		t.Fatalf("grid %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func gridErr(c *harness.Cluster, args ...string) (string, error) {
	bin, err := harness.Binary()
	if err != nil {
		return "", err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(cmd.Environ(), "GRID_MASTER="+c.MasterAddrs())
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestStatusAndPeersFromTheCLI(t *testing.T) {
	c := harness.NewCluster(t, harness.Options{})
	leader := c.WaitLeader(30 * time.Second)
	register(t, leader, "agent-cli")
	var st struct {
		Status      string `json:"status"`
		TotalAgents int    `json:"total_agents"`
		Leader      struct {
			ID string `json:"id"`
		} `json:"leader"`
		Masters []struct {
			ID string `json:"id"`
		} `json:"masters"`
	}
	out := grid(t, c, "status", "--json")
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status --json is not JSON: %v\n%s", err, out)
	}
	if st.TotalAgents != 1 || len(st.Masters) != 3 || st.Leader.ID == "" {
		t.Fatalf("status: %+v", st)
	}
	peers := grid(t, c, "operator", "raft", "list-peers")
	for _, m := range c.Masters {
		if !strings.Contains(peers, m.ID) {
			t.Fatalf("list-peers lacks %s:\n%s", m.ID, peers)
		}
	}
	if out := grid(t, c, "list-agents"); !strings.Contains(out, "agent-cli") {
		t.Fatalf("list-agents lacks agent-cli:\n%s", out)
	}
	if out, err := gridErr(c, "operator", "raft", "remove-peer", "--id", "nope"); err == nil || !strings.Contains(out, "nope") {
		t.Fatalf("remove-peer of an unknown id should fail naming it: %v\n%s", err, out)
	}
}

func TestSnapshotSaveAndRestoreGiveEqualState(t *testing.T) {
	// Liveness thresholds far away, so no status change moves the registry meanwhile.
	c := harness.NewCluster(t, harness.Options{MasterArgs: []string{"--degraded-after", "10m", "--offline-after", "20m"}})
	leader := c.WaitLeader(30 * time.Second)
	register(t, leader, "agent-kept")
	saved := c.WaitSameState(20 * time.Second)
	file := filepath.Join(c.Dir, "backup.snap")
	grid(t, c, "operator", "snapshot", "save", file)
	register(t, leader, "agent-after-backup")
	waitAllHave(t, c, []string{"agent-kept", "agent-after-backup"})
	grid(t, c, "operator", "snapshot", "restore", file)
	waitfor.Until(t, 30*time.Second, "registry back to the snapshot's on every master", func() (bool, string) {
		for _, m := range c.Live() {
			have, err := agentIDs(m)
			if err != nil {
				return false, err.Error()
			}
			if !have["agent-kept"] || have["agent-after-backup"] {
				return false, m.ID + " not restored yet"
			}
		}
		return true, ""
	})
	restored := c.WaitSameState(30 * time.Second)
	if restored.RegistryHash != saved.RegistryHash {
		t.Fatalf("registry after restore %s != saved %s", restored.RegistryHash, saved.RegistryHash)
	}
}
