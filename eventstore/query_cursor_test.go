package eventstore

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	bolt "go.etcd.io/bbolt"
)

// A seqCursor returns what a Get of each seq returns, whatever the order
// and spacing of the seqs asked: consecutive runs both ways (stepping),
// gaps in the stored seqs, seqs past either end, repeats and far jumps
// (seeking), and a key that is not a seq after the last one.
func TestSeqCursorMatchesGet(t *testing.T) {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "c.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rng := rand.New(rand.NewPCG(7, 9))
	const maxSeq = 3000
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket(bucketEvents)
		if err != nil {
			return err
		}
		for seq := uint64(5); seq <= maxSeq; seq++ {
			if rng.IntN(4) == 0 { // gaps: pruned or never stored
				continue
			}
			if err := b.Put(encodeUint(seq), []byte(fmt.Sprintf("rec-%d", seq))); err != nil {
				return err
			}
		}
		return b.Put([]byte("zz"), []byte("not a record"))
	})
	if err != nil {
		t.Fatal(err)
	}
	run := func(name string, seqs []uint64) {
		t.Helper()
		err := db.View(func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketEvents)
			c := newSeqCursor(b)
			for i, seq := range seqs {
				var k [8]byte
				binary.BigEndian.PutUint64(k[:], seq)
				want := b.Get(k[:])
				if got := c.get(seq); !bytes.Equal(got, want) || (got == nil) != (want == nil) {
					return fmt.Errorf("%s: read %d (seq %d): got %q, want %q", name, i, seq, got, want)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	var asc []uint64
	for seq := uint64(0); seq <= maxSeq+20; seq++ {
		asc = append(asc, seq)
	}
	run("ascending", asc)
	desc := slices.Clone(asc)
	slices.Reverse(desc)
	run("descending", desc)
	for round := range 50 {
		var seqs []uint64
		for len(seqs) < 300 {
			switch rng.IntN(6) {
			case 0:
				seqs = append(seqs, uint64(rng.IntN(maxSeq+40))) // anywhere
			case 1:
				seqs = append(seqs, 0, math.MaxUint64, maxSeq, maxSeq+1)
			default: // a short run either way, with strides within and beyond the step
				at, stride := rng.IntN(maxSeq+40), 1+rng.IntN(2*seqStepMax)
				for n := rng.IntN(20); n > 0 && at >= 0; n-- {
					seqs = append(seqs, uint64(at))
					if rng.IntN(2) == 0 {
						at += stride
					} else {
						at -= stride
					}
				}
			}
		}
		run(fmt.Sprintf("random %d", round), seqs)
	}
}

// BenchmarkQueries times test/bench's two query shapes in a store shaped
// like its cluster's (a newest event first, then types in runs of 1,000
// seqs, 1,000 entities, two details):
// an entity's newest 100 (seqs 1,000 apart) and a type in a time window
// (100 mostly consecutive seqs). $GRID_BULK_EVENTS events (default
// 1,000,000). entity_wire is the entity query encoded for gRPC (EventsWire).
// Besides wall time per query it reports the process's CPU
// time per query (cpu-ns/op, getrusage), steadier on a shared machine.
func BenchmarkQueries(b *testing.B) {
	total := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("GRID_BULK_EVENTS")); err == nil && v >= 10_000 {
		total = v
	}
	s, err := Open(filepath.Join(b.TempDir(), "bench.db"), Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	types := []rpc.EventType{rpc.EventType_NODE_CRASHED, rpc.EventType_NODE_RESTARTED, rpc.EventType_SPAWN_SUCCEEDED}
	// First an event newer than the whole load, as the cluster's own
	// leader_elected before test/bench's load of backdated events.
	if _, err := s.AppendEvents([]*rpc.Event{ev("first", rpc.EventType_LEADER_ELECTED, "master-1", base+int64(total)*1000, nil)}); err != nil {
		b.Fatal(err)
	}
	const batchSize = 10_000
	for start := 0; start < total; start += batchSize {
		batch := make([]*rpc.Event, batchSize)
		for i := range batch {
			n := start + i
			batch[i] = ev(fmt.Sprintf("e%d", n), types[(n/1000)%len(types)], fmt.Sprintf("node-%d", n%1000), base+int64(n)*1000,
				map[string]string{"restart_count": strconv.Itoa(n % 4), "exit_code": "137"})
		}
		if _, err := s.AppendEvents(batch); err != nil {
			b.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	span := int64(total) * 1000
	run := func(b *testing.B, f func() Filter) {
		var ru0, ru1 syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
		for b.Loop() {
			got, err := s.Events(f())
			if err != nil || len(got) != 100 {
				b.Fatalf("got %d events, %v", len(got), err)
			}
		}
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
		cpu := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
	b.Run("entity", func(b *testing.B) {
		run(b, func() Filter { return Filter{Entities: []string{fmt.Sprintf("node-%d", rng.IntN(1000))}, Limit: 100} })
	})
	// entity_wire: the entity query as a gRPC leader answers it (EventsWire).
	b.Run("entity_wire", func(b *testing.B) {
		var ru0, ru1 syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
		for b.Loop() {
			_, n, err := s.EventsWire(Filter{Entities: []string{fmt.Sprintf("node-%d", rng.IntN(1000))}, Limit: 100})
			if err != nil || n != 100 {
				b.Fatalf("got %d events, %v", n, err)
			}
		}
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
		cpu := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	})
	b.Run("type_time", func(b *testing.B) {
		run(b, func() Filter {
			since := base + rng.Int64N(span*5/6)
			return Filter{Types: []rpc.EventType{types[rng.IntN(len(types))]}, Since: since, Until: since + span/6, Limit: 100}
		})
	})
}
