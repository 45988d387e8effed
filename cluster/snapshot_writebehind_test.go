package cluster

import (
	"bytes"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// newTestWriteBehindStore is raft's file snapshot store in a temp dir,
// wrapped as setupRaft wraps it.
func newTestWriteBehindStore(t *testing.T) (raft.SnapshotStore, string) {
	t.Helper()
	dir := t.TempDir()
	fs, err := raft.NewFileSnapshotStoreWithLogger(dir, snapshotsRetained, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	return newWriteBehindStore(fs, dir, hclog.NewNullLogger()), dir
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// TestWriteBehindFindsRaftStateFile: the store's sinks hold a second handle
// on the very file raft writes the snapshot to (raft's layout of
// snapshots/<id>.tmp/state.bin is what the write-behind assumes).
func TestWriteBehindFindsRaftStateFile(t *testing.T) {
	if !writeBehindSupported {
		t.Skip("no write-behind on this platform")
	}
	store, dir := newTestWriteBehindStore(t)
	sink, err := store.Create(1, 10, 2, raft.Configuration{}, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Cancel()
	wb, ok := sink.(*writeBehindSink)
	if !ok || wb.file == nil {
		t.Fatalf("sink %T has no handle on its state file: raft's snapshot layout changed", sink)
	}
	ours, err := wb.file.Stat()
	if err != nil {
		t.Fatal(err)
	}
	raftsPath := filepath.Join(dir, raftSnapshotsDir, sink.ID()+raftSnapshotTmp, raftSnapshotState)
	raftsFile, err := os.Stat(raftsPath)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(ours, raftsFile) {
		t.Fatalf("the write-behind handle is not raft's state file %s", raftsPath)
	}
}

// TestWriteBehindSnapshotIsIntact: a snapshot written through the sink
// starts a writeback for every writeBehindStep bytes, closes (twice, as
// raft does) without error, and reads back byte for byte with raft's size
// and CRC check.
func TestWriteBehindSnapshotIsIntact(t *testing.T) {
	store, _ := newTestWriteBehindStore(t)
	data := randomBytes(3*writeBehindStep + 12345)
	sink, err := store.Create(1, 10, 2, raft.Configuration{}, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off < len(data); {
		n := min(len(data)-off, 100_003) // odd sizes: steps fall mid-write
		if _, err := sink.Write(data[off : off+n]); err != nil {
			t.Fatal(err)
		}
		off += n
	}
	if wb, ok := sink.(*writeBehindSink); ok {
		if wb.steps != 3 || wb.failed {
			t.Fatalf("%d writebacks started (failed: %v) for %d bytes, want 3", wb.steps, wb.failed, len(data))
		}
	} else if writeBehindSupported {
		t.Fatalf("sink is %T, want the write-behind sink", sink)
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sink.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	list, err := store.List()
	if err != nil || len(list) != 1 {
		t.Fatalf("List = %v, %v; want one snapshot", list, err)
	}
	meta, rc, err := store.Open(list[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Close(); err != nil { // raft checks the CRC here
		t.Fatal(err)
	}
	if meta.Size != int64(len(data)) || !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes (meta size %d), want the %d written", len(got), meta.Size, len(data))
	}
}

// TestWriteBehindCancelLeavesNoSnapshot: a cancelled sink leaves nothing
// behind and closes its handle.
func TestWriteBehindCancelLeavesNoSnapshot(t *testing.T) {
	store, _ := newTestWriteBehindStore(t)
	sink, err := store.Create(1, 10, 2, raft.Configuration{}, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sink.Write(randomBytes(writeBehindStep + 1)); err != nil {
		t.Fatal(err)
	}
	if err := sink.Cancel(); err != nil {
		t.Fatal(err)
	}
	if wb, ok := sink.(*writeBehindSink); ok && wb.file != nil {
		t.Fatal("the state file handle is still open after Cancel")
	}
	if list, err := store.List(); err != nil || len(list) != 0 {
		t.Fatalf("List after Cancel = %v, %v; want none", list, err)
	}
}
