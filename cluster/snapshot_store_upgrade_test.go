package cluster

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/gridctl/grid/rpc"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// TestMasterStartsFromRaftStoreSnapshot: a master whose data dir holds a
// snapshot written by raft's FileSnapshotStore (an older Grid) starts from
// it: raft restores it through Grid's store, which checks raft's CRC-64.
func TestMasterStartsFromRaftStoreSnapshot(t *testing.T) {
	cfg := testConfig(t, "master-a")
	cfg.BootstrapExpect = 1
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	waitForLeader(t, []*Master{m})
	c := grpcClient(t, m)
	const agents = 5
	for i := range agents {
		if _, err := c.RegisterAgent(testCtx(t), &rpc.AgentInfo{AgentId: fmt.Sprintf("agent-%d", i), AgentEndpoint: "127.0.0.1:1"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.consensus.raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	if err := m.Shutdown(testCtx(t)); err != nil {
		t.Fatal(err)
	}

	// Rewrite every snapshot as raft's own store writes it.
	dir := filepath.Join(cfg.DataDir, raftDirName)
	ours := newTestSnapshotStore(t, dir)
	theirs, err := raft.NewFileSnapshotStoreWithLogger(dir, snapshotsRetained, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	list, err := ours.List()
	if err != nil || len(list) == 0 {
		t.Fatalf("no snapshot to rewrite: %v %v", list, err)
	}
	_, trans := raft.NewInmemTransport("")
	for _, meta := range list {
		_, rc, err := ours.Open(meta.ID)
		if err != nil {
			t.Fatal(err)
		}
		sink, err := theirs.Create(meta.Version, meta.Index, meta.Term, meta.Configuration, meta.ConfigurationIndex, trans)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(sink, rc); err != nil {
			t.Fatal(err)
		}
		rc.Close()
		if err := sink.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.RemoveAll(filepath.Join(dir, snapshotsDirName, meta.ID)); err != nil {
			t.Fatal(err)
		}
	}
	list, err = ours.List()
	if err != nil || len(list) == 0 {
		t.Fatalf("the rewritten snapshots are not listed: %v %v", list, err)
	}
	for _, meta := range list {
		if m, err := ours.readMeta(meta.ID); err != nil || len(m.CRC) == 0 || len(m.CRC32C) != 0 {
			t.Fatalf("snapshot %s is not in raft's format (CRC %x, CRC32C %x, %v)", meta.ID, m.CRC, m.CRC32C, err)
		}
	}

	again := testConfig(t, "master-a")
	again.DataDir = cfg.DataDir
	m2, err := New(again)
	if err != nil {
		t.Fatalf("restart on a data dir with raft's snapshots: %v", err)
	}
	defer m2.Shutdown(testCtx(t))
	waitForLeader(t, []*Master{m2})
	if got := m2.fsm.Counts().Agents; got != agents {
		t.Fatalf("%d agents after the restart, want %d", got, agents)
	}
}
