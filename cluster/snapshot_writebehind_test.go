package cluster

import (
	"math/rand/v2"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// TestWriteBehindStartsEveryStep: a snapshot written through the store's
// sink starts a writeback for every writeBehindStep bytes, whatever the
// sizes of the writes.
func TestWriteBehindStartsEveryStep(t *testing.T) {
	if !writeBehindSupported {
		t.Skip("no write-behind on this platform")
	}
	store, err := newSnapshotStore(t.TempDir(), snapshotsRetained, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
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
	wb := sink.(*snapshotSink).wb
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	if wb.steps != 3 || wb.failed {
		t.Fatalf("%d writebacks started (failed: %v) for %d bytes, want 3", wb.steps, wb.failed, len(data))
	}
	if wb.written != int64(len(data)) {
		t.Fatalf("write-behind saw %d bytes, want %d", wb.written, len(data))
	}
}
