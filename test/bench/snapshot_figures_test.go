package bench

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/harness"
)

// snapshotFigures times, on the cluster BenchmarkEventQuery1M loaded
// (label events, described by how), a user snapshot (SaveSnapshot: barrier,
// raft snapshot = FSM Snapshot + Persist to the snapshot store, until its
// first chunk reaches the caller) while one caller keeps writing to the
// registry, then restores that file (RestoreSnapshot on the leader, then
// until every master holds the same state). It reuses the loaded cluster so
// `make bench` loads 1M events once.
func snapshotFigures(b *testing.B, c *harness.Cluster, leader *harness.Master, how string) {
	// Persist, with registry writes going on.
	file := filepath.Join(b.TempDir(), "bench.snap")
	stop := make(chan struct{})
	var ds []time.Duration
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			t0 := time.Now()
			ctx, cancel := harness.Ctx(10 * time.Second)
			_, err := leader.Client().RegisterAgent(ctx, &rpc.AgentInfo{AgentId: fmt.Sprintf("agent-snap-%d", i), AgentEndpoint: "127.0.0.1:1"})
			cancel()
			if err == nil {
				ds = append(ds, time.Since(t0))
			}
		}
	})
	persist, size := saveSnapshot(b, leader, file, stop)
	wg.Wait()
	record("snapshot_persist_s_1m", persist.Seconds(), "s", how+"; SaveSnapshot RPC on the leader (barrier, FSM Snapshot + Persist to the raft snapshot store) until its first chunk arrives; "+fmt.Sprintf("file %d MiB", size>>20))
	if len(ds) > 0 {
		record("apply_p99_ms_during_snapshot", percentileMS(ds, 0.99), "ms", how+fmt.Sprintf("; sequential RegisterAgent on the leader while that snapshot persists, p99 of %d", len(ds)))
	}

	// Restore the file.
	f, err := os.Open(file)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	t0 := time.Now()
	ctx, cancel := harness.Ctx(10 * time.Minute)
	defer cancel()
	up, err := leader.Client().RestoreSnapshot(ctx)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	for {
		k, rerr := f.Read(buf)
		if k > 0 {
			if err := up.Send(&rpc.SnapshotChunk{Data: append([]byte(nil), buf[:k]...)}); err != nil {
				b.Fatal(err)
			}
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			b.Fatal(rerr)
		}
	}
	if _, err := up.CloseAndRecv(); err != nil {
		b.Fatal(err)
	}
	restored := time.Since(t0)
	c.WaitSameState(10 * time.Minute)
	all := time.Since(t0)
	record("snapshot_restore_s_1m", restored.Seconds(), "s", how+"; RestoreSnapshot of that file on the leader (upload on loopback + restore into a new event store) until the RPC returns")
	record("snapshot_restore_all_s_1m", all.Seconds(), "s", how+"; as snapshot_restore_s_1m, until every master holds the same state (followers install the snapshot)")
}

// saveSnapshot streams a SaveSnapshot from m into file; it returns the
// time to the first chunk (the snapshot is persisted by then) and the size.
// It closes firstChunk when the first chunk arrives.
func saveSnapshot(b *testing.B, m *harness.Master, file string, firstChunk chan struct{}) (time.Duration, int64) {
	out, err := os.Create(file)
	if err != nil {
		b.Fatal(err)
	}
	defer out.Close()
	ctx, cancel := harness.Ctx(10 * time.Minute)
	defer cancel()
	t0 := time.Now()
	st, err := m.Client().SaveSnapshot(ctx, &rpc.Empty{})
	if err != nil {
		close(firstChunk)
		b.Fatal(err)
	}
	var first time.Duration
	var size int64
	for {
		ch, err := st.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if first == 0 {
				close(firstChunk)
			}
			b.Fatal(err)
		}
		if first == 0 {
			first = time.Since(t0)
			close(firstChunk)
		}
		k, err := out.Write(ch.Data)
		if err != nil {
			b.Fatal(err)
		}
		size += int64(k)
	}
	if first == 0 {
		close(firstChunk)
		b.Fatal("empty snapshot")
	}
	return first, size
}
