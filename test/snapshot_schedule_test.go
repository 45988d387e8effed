package test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/harness"
	"github.com/gridctl/grid/test/waitfor"
)

// snapshotFiles lists the scheduled snapshot files in dir, sorted.
func snapshotFiles(dir string) []string {
	m, _ := filepath.Glob(filepath.Join(dir, "grid-*.snap"))
	sort.Strings(m)
	return m
}

type inspectOut struct {
	ClusterID string `json:"cluster_id"`
	Index     uint64 `json:"index"`
	Term      uint64 `json:"term"`
	Size      int64  `json:"size"`
	SHA256    string `json:"sha256"`
	Agents    int    `json:"agents"`
	Nodes     int    `json:"nodes"`
	Events    uint64 `json:"events"`
}

// Issue 13: scheduled snapshots keep exactly --snapshot-retain files; one
// restored into a fresh cluster gives the same registry and event counts;
// inspect reads a file offline and fails clearly on a truncated one.
func TestScheduledSnapshots(t *testing.T) {
	c := harness.NewCluster(t, harness.Options{MasterArgs: []string{"--snapshot-interval", "2s", "--snapshot-retain", "3"}})
	leader := c.WaitLeader(30 * time.Second)
	for _, id := range []string{"agent-s1", "agent-s2"} {
		register(t, leader, id)
	}
	dir := filepath.Join(leader.DataDir, "snapshots")
	var first string
	waitfor.Until(t, 30*time.Second, "3 scheduled snapshots", func() (bool, string) {
		f := snapshotFiles(dir)
		if len(f) > 0 && first == "" {
			first = f[0]
		}
		return len(f) == 3, fmt.Sprint(f)
	})
	// Older ones go as new ones come: the first file is removed, 3 remain.
	waitfor.Until(t, 30*time.Second, "the oldest snapshot rotated out", func() (bool, string) {
		f := snapshotFiles(dir)
		if len(f) > 3 {
			return false, fmt.Sprintf("%d files kept, want 3: %v", len(f), f)
		}
		return len(f) == 3 && f[0] != first, fmt.Sprint(f)
	})
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".partial-*")); len(leftovers) > 1 {
		t.Fatalf("partial files left: %v", leftovers)
	}
	// Copy the newest before it rotates out.
	files := snapshotFiles(dir)
	b, err := os.ReadFile(files[len(files)-1])
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "backup.snap")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	var info inspectOut
	out := grid(t, c, "operator", "snapshot", "inspect", "--json", file)
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatalf("inspect --json: %v\n%s", err, out)
	}
	t.Logf("inspect: %+v", info)
	if info.ClusterID == "" || info.Index == 0 || info.Agents != 2 || info.Events == 0 || len(info.SHA256) != 64 || info.Size != int64(len(b)) {
		t.Fatalf("inspect: %+v", info)
	}

	// Truncated, or not a snapshot at all: a clear error.
	cut := filepath.Join(t.TempDir(), "cut.snap")
	if err := os.WriteFile(cut, b[:len(b)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := gridErr(c, "operator", "snapshot", "inspect", cut); err == nil || !strings.Contains(out, "truncated") {
		t.Fatalf("inspect of a truncated file: %v %s", err, out)
	}
	if out, err := gridErr(c, "operator", "snapshot", "inspect", "/etc/hostname"); err == nil || !strings.Contains(out, "not a grid snapshot") {
		t.Fatalf("inspect of a non-snapshot: %v %s", err, out)
	}

	// Restore into a fresh cluster: same counts.
	fresh := harness.NewCluster(t, harness.Options{})
	fl := fresh.WaitLeader(30 * time.Second)
	if out, err := gridErr(fresh, "operator", "snapshot", "restore", cut); err == nil {
		t.Fatalf("restore of a truncated file succeeded: %s", out)
	}
	grid(t, fresh, "operator", "snapshot", "restore", file)
	waitfor.Until(t, 30*time.Second, "the fresh cluster holding the snapshot's counts", func() (bool, string) {
		ctx, cancel := harness.Ctx(5 * time.Second)
		defer cancel()
		h, err := fl.Client().GetStateHash(ctx, &rpc.Empty{})
		if err != nil {
			return false, err.Error()
		}
		return h.Agents == uint64(info.Agents) && h.Nodes == uint64(info.Nodes) && h.Events == info.Events,
			fmt.Sprintf("agents %d nodes %d events %d", h.Agents, h.Nodes, h.Events)
	})
	// The fresh cluster now holds agents: a snapshot of another cluster is
	// refused there and changes nothing.
	if out, err := gridErr(fresh, "operator", "snapshot", "restore", file); err == nil || !strings.Contains(out, "from cluster") {
		t.Fatalf("restore of another cluster's snapshot into a cluster with agents: %v %s", err, out)
	}
}
