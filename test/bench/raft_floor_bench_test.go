package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The floors under Grid's single-write figures, measured in the same run:
// what the disk and bare hashicorp/raft cost on this machine with no Grid
// code at all. registry_write_ms_p50 and transfer_ms_p50 cannot go below
// them while Grid uses hashicorp/raft v1.7 and raft-wal.

const (
	floorWrites    = 300 // sequential applies timed
	floorTransfers = 12  // leadership transfers timed
	floorFsyncs    = 300 // 4 KiB write + fdatasync pairs timed
	floorSyncGap   = 2 * time.Millisecond
)

// BenchmarkRaftFloor runs three bare hashicorp/raft v1.7.3 nodes, each in a
// process of its own (raft_floor_node.go), with the log and stable store
// Grid uses (raft-wal, its bbolt meta file), raft's TCP transport on
// loopback and an FSM that does nothing, and times one HTTP caller's
// sequential applies and a leadership transfer followed by the new
// leader's first apply. It also times a 4 KiB write + fdatasync on
// the data dir's disk with a 2 ms gap (the pace of sequential commits).
func BenchmarkRaftFloor(b *testing.B) {
	dir := b.TempDir()
	record("disk_fdatasync_ms_p50", fsyncFloor(b, dir), "ms",
		fmt.Sprintf("4 KiB pwrite + fdatasync into a preallocated file in the bench's temp dir, %d times, %s apart, p50 (no Grid code)", floorFsyncs, floorSyncGap))

	nodes := startFloorProcesses(b, dir)
	leader := nodes.waitLeader(b)
	var ds []time.Duration
	for range floorWrites {
		t0 := time.Now()
		if err := nodes.apply(leader); err != nil {
			b.Fatalf("apply: %v", err)
		}
		ds = append(ds, time.Since(t0))
	}
	record("raft_floor_apply_ms_p50", percentileMS(ds, 0.5), "ms",
		fmt.Sprintf("bare hashicorp/raft v1.7.3 in 3 processes (raft-wal log + stable store, TCP transport on loopback, no-op FSM, Grid's default profile timings), one HTTP caller on loopback, %d sequential applies of 200 bytes, p50 (the floor under registry_write_ms_p50)", floorWrites))

	ds = ds[:0]
	for range floorTransfers {
		t0 := time.Now()
		if err := nodes.transfer(leader); err != nil {
			b.Fatalf("leadership transfer: %v", err)
		}
		next, err := nodes.applyOnNewLeader(leader)
		if err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(t0))
		leader = next
	}
	record("raft_floor_transfer_ms_p50", percentileMS(ds, 0.5), "ms",
		fmt.Sprintf("as raft_floor_apply_ms_p50: a leadership transfer, then the first apply on the new leader, %d times, p50 (the floor under transfer_ms_p50)", floorTransfers))
}

// fsyncFloor is the p50 of floorFsyncs 4 KiB writes each followed by an
// fdatasync, floorSyncGap apart, in a preallocated file in dir.
func fsyncFloor(b *testing.B, dir string) float64 {
	f, err := os.OpenFile(filepath.Join(dir, "fsync-floor"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := unix.Fallocate(int(f.Fd()), 0, 0, floorFsyncs*4096); err != nil {
		b.Fatalf("fallocate: %v", err)
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 4096)
	ds := make([]time.Duration, 0, floorFsyncs)
	for i := range floorFsyncs {
		time.Sleep(floorSyncGap) // the pace under test, not a wait for a condition
		t0 := time.Now()
		if _, err := f.WriteAt(buf, int64(i)*4096); err != nil {
			b.Fatal(err)
		}
		if err := unix.Fdatasync(int(f.Fd())); err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(t0))
	}
	return percentileMS(ds, 0.5)
}
