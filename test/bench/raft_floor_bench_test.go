package bench

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftwal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
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

// BenchmarkRaftFloor runs three bare hashicorp/raft v1.7.3 nodes in this
// process, with the log and stable store Grid uses (raft-wal, its bbolt meta
// file), raft's TCP transport on loopback and an FSM that does nothing, and
// times one caller's sequential Apply and a leadership transfer followed by
// the new leader's first Apply. It also times a 4 KiB write + fdatasync on
// the data dir's disk with a 2 ms gap (the pace of sequential commits).
func BenchmarkRaftFloor(b *testing.B) {
	dir := b.TempDir()
	record("disk_fdatasync_ms_p50", fsyncFloor(b, dir), "ms",
		fmt.Sprintf("4 KiB pwrite + fdatasync into a preallocated file in the bench's temp dir, %d times, %s apart, p50 (no Grid code)", floorFsyncs, floorSyncGap))

	nodes := startFloorCluster(b, dir)
	leader := waitFloorLeader(b, nodes)
	payload := make([]byte, 200) // about a RegisterAgent entry
	var ds []time.Duration
	for range floorWrites {
		t0 := time.Now()
		if err := leader.Apply(payload, 5*time.Second).Error(); err != nil {
			b.Fatalf("apply: %v", err)
		}
		ds = append(ds, time.Since(t0))
	}
	record("raft_floor_apply_ms_p50", percentileMS(ds, 0.5), "ms",
		fmt.Sprintf("bare hashicorp/raft v1.7.3, 3 nodes in one process, raft-wal log + stable store, TCP transport on loopback, no-op FSM: one caller, %d sequential Apply of 200 bytes, p50 (the floor under registry_write_ms_p50)", floorWrites))

	ds = ds[:0]
	for range floorTransfers {
		t0 := time.Now()
		if err := leader.LeadershipTransfer().Error(); err != nil {
			b.Fatalf("leadership transfer: %v", err)
		}
		leader = waitFloorLeader(b, nodes)
		if err := leader.Apply(payload, 5*time.Second).Error(); err != nil {
			b.Fatalf("apply after transfer: %v", err)
		}
		ds = append(ds, time.Since(t0))
	}
	record("raft_floor_transfer_ms_p50", percentileMS(ds, 0.5), "ms",
		fmt.Sprintf("as raft_floor_apply_ms_p50: LeadershipTransfer, then the first Apply on the new leader, %d times, p50 (the floor under transfer_ms_p50)", floorTransfers))
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

// floorNode is one bare raft node and what it must close.
type floorNode struct {
	raft      *raft.Raft
	wal       *raftwal.WAL
	transport *raft.NetworkTransport
}

// nopFSM applies nothing.
type nopFSM struct{}

func (nopFSM) Apply(*raft.Log) any                 { return nil }
func (nopFSM) Snapshot() (raft.FSMSnapshot, error) { return nopSnapshot{}, nil }
func (nopFSM) Restore(rc io.ReadCloser) error      { return rc.Close() }

type nopSnapshot struct{}

func (nopSnapshot) Persist(s raft.SnapshotSink) error { return s.Close() }
func (nopSnapshot) Release()                          {}

// startFloorCluster starts three raft nodes under dir with Grid's default
// raft profile's timings and bootstraps them as one cluster.
func startFloorCluster(b *testing.B, dir string) []*floorNode {
	logger := hclog.New(&hclog.LoggerOptions{Name: "raft-floor", Level: hclog.Error})
	var nodes []*floorNode
	var servers []raft.Server
	for i := range 3 {
		ndir := filepath.Join(dir, fmt.Sprintf("node%d", i))
		if err := os.MkdirAll(ndir, 0o755); err != nil {
			b.Fatal(err)
		}
		w, err := raftwal.Open(ndir, raftwal.WithMetaStore(&metadb.BoltMetaDB{}))
		if err != nil {
			b.Fatalf("open wal: %v", err)
		}
		tr, err := raft.NewTCPTransportWithLogger("127.0.0.1:0", nil, 3, 5*time.Second, logger)
		if err != nil {
			b.Fatalf("transport: %v", err)
		}
		n := &floorNode{wal: w, transport: tr}
		nodes = append(nodes, n)
		id := raft.ServerID(fmt.Sprintf("floor-%d", i))
		servers = append(servers, raft.Server{ID: id, Address: tr.LocalAddr()})
	}
	for i, n := range nodes {
		conf := raft.DefaultConfig()
		conf.LocalID = servers[i].ID
		conf.Logger = logger
		// Grid's default profile (cluster/config.go).
		conf.HeartbeatTimeout = 400 * time.Millisecond
		conf.ElectionTimeout = 400 * time.Millisecond
		conf.LeaderLeaseTimeout = 390 * time.Millisecond
		conf.CommitTimeout = 20 * time.Millisecond
		r, err := raft.NewRaft(conf, nopFSM{}, n.wal, n.wal, raft.NewInmemSnapshotStore(), n.transport)
		if err != nil {
			b.Fatalf("raft: %v", err)
		}
		n.raft = r
	}
	if err := nodes[0].raft.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil {
		b.Fatalf("bootstrap: %v", err)
	}
	b.Cleanup(func() {
		for _, n := range nodes {
			_ = n.raft.Shutdown().Error()
			_ = n.transport.Close()
			_ = n.wal.Close()
		}
	})
	return nodes
}

// waitFloorLeader returns the node that leads, once one does.
func waitFloorLeader(b *testing.B, nodes []*floorNode) *raft.Raft {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, n := range nodes {
			if n.raft.State() == raft.Leader {
				return n.raft
			}
		}
		time.Sleep(100 * time.Microsecond) // poll: the bench times the handover itself
	}
	b.Fatal("no leader among the floor nodes in 30 s")
	return nil
}
