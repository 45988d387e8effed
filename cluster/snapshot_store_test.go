package cluster

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

func newTestSnapshotStore(t testing.TB, dir string) *snapshotStore {
	t.Helper()
	s, err := newSnapshotStore(dir, snapshotsRetained, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// writeTestSnapshot writes data as one snapshot at (term, index) into store
// in odd-sized writes and returns its id.
func writeTestSnapshot(t testing.TB, store raft.SnapshotStore, term, index uint64, data []byte) string {
	t.Helper()
	conf := raft.Configuration{Servers: []raft.Server{{ID: "m1", Address: "127.0.0.1:1", Suffrage: raft.Voter}}}
	_, trans := raft.NewInmemTransport("127.0.0.1:1") // raft's store encodes the peers with it
	sink, err := store.Create(1, index, term, conf, 1, trans)
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off < len(data); {
		n := min(len(data)-off, 100_003)
		if _, err := sink.Write(data[off : off+n]); err != nil {
			t.Fatal(err)
		}
		off += n
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sink.Close(); err != nil { // raft closes again after Persist
		t.Fatalf("second Close: %v", err)
	}
	return sink.ID()
}

// readTestSnapshot opens id and reads it whole.
func readTestSnapshot(t testing.TB, store raft.SnapshotStore, id string) (*raft.SnapshotMeta, []byte) {
	t.Helper()
	meta, rc, err := store.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return meta, got
}

// TestSnapshotStoreRoundTrip: a snapshot reads back byte for byte with its
// size, index, term and configuration, is checksummed with CRC-32C, and
// only the newest snapshotsRetained are kept.
func TestSnapshotStoreRoundTrip(t *testing.T) {
	dir := t.TempDir()
	store := newTestSnapshotStore(t, dir)
	data := randomBytes(2*writeBehindStep + 777)
	var ids []string
	for i := range snapshotsRetained + 1 {
		ids = append(ids, writeTestSnapshot(t, store, 2, uint64(10+i), data))
	}
	list, err := store.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != snapshotsRetained || list[0].ID != ids[len(ids)-1] {
		t.Fatalf("List = %d snapshots, newest %v; want %d, newest %s", len(list), list, snapshotsRetained, ids[len(ids)-1])
	}
	if _, err := os.Stat(filepath.Join(dir, snapshotsDirName, ids[0])); !os.IsNotExist(err) {
		t.Fatalf("the oldest snapshot was not reaped: %v", err)
	}
	meta, got := readTestSnapshot(t, store, list[0].ID)
	if meta.Size != int64(len(data)) || !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes (meta size %d), want the %d written", len(got), meta.Size, len(data))
	}
	if meta.Index != uint64(10+snapshotsRetained) || meta.Term != 2 || len(meta.Configuration.Servers) != 1 || meta.Configuration.Servers[0].ID != "m1" {
		t.Fatalf("meta = %+v", meta)
	}
	m, err := store.readMeta(list[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.CRC32C) != 4 || len(m.CRC) != 0 {
		t.Fatalf("meta.json checksums: CRC32C %x, CRC %x; want a CRC-32C only", m.CRC32C, m.CRC)
	}
}

// TestSnapshotStoreCancelLeavesNothing: a cancelled sink leaves no files.
func TestSnapshotStoreCancelLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	store := newTestSnapshotStore(t, dir)
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
	if list, err := store.List(); err != nil || len(list) != 0 {
		t.Fatalf("List after Cancel = %v, %v; want none", list, err)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, snapshotsDirName))
	if len(entries) != 0 {
		t.Fatalf("files left after Cancel: %v", entries)
	}
}

// TestSnapshotStoreOpensRaftSnapshots: a data dir whose snapshots raft's
// FileSnapshotStore wrote (an older Grid) still lists and opens, verified
// with raft's CRC-64; a new snapshot joins them, newest first, and the
// reaping counts both kinds.
func TestSnapshotStoreOpensRaftSnapshots(t *testing.T) {
	dir := t.TempDir()
	old, err := raft.NewFileSnapshotStoreWithLogger(dir, snapshotsRetained, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	oldData := randomBytes(writeBehindStep + 99)
	oldID := writeTestSnapshot(t, old, 1, 5, oldData)

	store := newTestSnapshotStore(t, dir)
	list, err := store.List()
	if err != nil || len(list) != 1 || list[0].ID != oldID {
		t.Fatalf("List of raft's snapshot = %v, %v", list, err)
	}
	meta, got := readTestSnapshot(t, store, oldID)
	if meta.Index != 5 || meta.Term != 1 || !bytes.Equal(got, oldData) {
		t.Fatalf("raft's snapshot read back as index %d term %d, %d bytes (want 5, 1, %d)", meta.Index, meta.Term, len(got), len(oldData))
	}

	newData := randomBytes(1000)
	newID := writeTestSnapshot(t, store, 1, 9, newData)
	list, err = store.List()
	if err != nil || len(list) != 2 || list[0].ID != newID || list[1].ID != oldID {
		t.Fatalf("List = %v, %v; want %s then %s", list, err, newID, oldID)
	}
	writeTestSnapshot(t, store, 2, 12, newData)
	if _, err := os.Stat(filepath.Join(dir, snapshotsDirName, oldID)); !os.IsNotExist(err) {
		t.Fatalf("raft's snapshot was not reaped once %d newer ones existed: %v", snapshotsRetained, err)
	}
}

// TestSnapshotStoreRefusesDamagedFiles: a flipped byte, a truncated or
// padded state file, or a meta.json with no checksum is refused by Open
// with an error naming the check, for this store's snapshots and raft's.
func TestSnapshotStoreRefusesDamagedFiles(t *testing.T) {
	data := randomBytes(300_000)
	damage := map[string]func(t *testing.T, state, meta string){
		"flipped byte": func(t *testing.T, state, _ string) {
			b, _ := os.ReadFile(state)
			b[len(b)/2] ^= 0x40
			writeFile(t, state, b)
		},
		"truncated": func(t *testing.T, state, _ string) {
			if err := os.Truncate(state, int64(len(data)-1)); err != nil {
				t.Fatal(err)
			}
		},
		"padded": func(t *testing.T, state, _ string) {
			b, _ := os.ReadFile(state)
			writeFile(t, state, append(b, 0))
		},
		"no checksum": func(t *testing.T, _, meta string) {
			b, _ := os.ReadFile(meta)
			s := strings.NewReplacer(`"CRC32C":`, `"X1":`, `"CRC":`, `"X2":`).Replace(string(b))
			writeFile(t, meta, []byte(s))
		},
	}
	for _, writer := range []string{"grid", "raft"} {
		for name, spoil := range damage {
			t.Run(writer+"/"+name, func(t *testing.T) {
				dir := t.TempDir()
				var w raft.SnapshotStore = newTestSnapshotStore(t, dir)
				if writer == "raft" {
					fs, err := raft.NewFileSnapshotStoreWithLogger(dir, snapshotsRetained, hclog.NewNullLogger())
					if err != nil {
						t.Fatal(err)
					}
					w = fs
				}
				id := writeTestSnapshot(t, w, 1, 5, data)
				snapDir := filepath.Join(dir, snapshotsDirName, id)
				spoil(t, filepath.Join(snapDir, snapshotState), filepath.Join(snapDir, snapshotMetaFile))
				_, rc, err := newTestSnapshotStore(t, dir).Open(id)
				if err == nil {
					rc.Close()
					t.Fatal("a damaged snapshot was opened")
				}
				if !errors.Is(err, errSnapshotChecksum) || !strings.Contains(err.Error(), id) {
					t.Fatalf("error %q: want a checksum mismatch naming snapshot %s", err, id)
				}
			})
		}
	}
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkSnapshotStoreCPU writes and then opens and reads a 64 MiB
// snapshot, with this store and with raft's FileSnapshotStore, and reports
// the process's CPU time per MiB (user+system, getrusage): what a snapshot
// takes from the cores the apply path shares, independent of the load.
func BenchmarkSnapshotStoreCPU(b *testing.B) {
	data := randomBytes(64 << 20)
	for _, kind := range []string{"grid", "raft"} {
		b.Run(kind, func(b *testing.B) {
			dir := b.TempDir()
			var store raft.SnapshotStore = newTestSnapshotStore(b, dir)
			if kind == "raft" {
				fs, err := raft.NewFileSnapshotStoreWithLogger(dir, snapshotsRetained, hclog.NewNullLogger())
				if err != nil {
					b.Fatal(err)
				}
				store = fs
			}
			var write, read time.Duration
			for b.Loop() {
				c0 := cpuTime(b)
				id := writeTestSnapshot(b, store, 1, 5, data)
				c1 := cpuTime(b)
				drainTestSnapshot(b, store, id)
				c2 := cpuTime(b)
				write += c1 - c0
				read += c2 - c1
			}
			mib := float64(b.N) * float64(len(data)>>20)
			b.ReportMetric(float64(write.Microseconds())/1000/mib, "cpu-ms/MiB-write")
			b.ReportMetric(float64(read.Microseconds())/1000/mib, "cpu-ms/MiB-open+read")
		})
	}
}

// drainTestSnapshot opens id and reads it through a 256 KiB buffer.
func drainTestSnapshot(b *testing.B, store raft.SnapshotStore, id string) {
	_, rc, err := store.Open(id)
	if err != nil {
		b.Fatal(err)
	}
	defer rc.Close()
	buf := make([]byte, 256<<10)
	for {
		if _, err := rc.Read(buf); errors.Is(err, io.EOF) {
			return
		} else if err != nil {
			b.Fatal(err)
		}
	}
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
