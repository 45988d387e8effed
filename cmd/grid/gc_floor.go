package main

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// A master's live heap is small (tens of MB) until it holds many events,
// and every write allocates (bbolt copies each page it changes into a node
// and back), so with GOGC=100 a busy small master collects several times a
// second: 15-17 % of its CPU at 64 concurrent registry writers. The GC floor
// lets the heap grow to gcFloorBytes before a collection while the live
// heap is under half of that: after each collection GOGC becomes
// max(100, floor/live*100 - 100), so the next goal is max(2*live, floor).
// A heap of 32 MiB or more is collected exactly as with GOGC=100, so the
// memory of a large master is unchanged; a small one holds at most
// gcFloorBytes of heap. An explicit GOGC turns the floor off; GOMEMLIMIT
// still caps the heap.
const (
	gcFloorBytes      = 64 << 20
	gcFloorMaxPercent = 1000
)

// gcPercentFor is the GOGC that makes the next heap goal max(2*live, floor):
// 100 when live is 0 (unknown) or at least floor/2, at most gcFloorMaxPercent,
// rounded down to a multiple of 10 so small changes of live do not reset it.
func gcPercentFor(live, floor uint64) int {
	if live == 0 || 2*live >= floor {
		return 100
	}
	p := int(floor*100/live) - 100
	p -= p % 10
	return max(100, min(p, gcFloorMaxPercent))
}

var startGCFloorOnce sync.Once

// startGCFloor keeps the heap goal at or above floor bytes (see above),
// re-tuned after every collection; a no-op when GOGC is set.
func startGCFloor(floor uint64) {
	if os.Getenv("GOGC") != "" {
		return
	}
	startGCFloorOnce.Do(func() {
		t := &gcFloorTuner{floor: floor, percent: 100, sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
		t.arm()
	})
}

type gcFloorTuner struct {
	floor   uint64
	percent int
	sample  []metrics.Sample
}

// gcSentinel is garbage from birth: its cleanup runs once per collection.
type gcSentinel struct{ _ [16]byte }

// arm registers a cleanup that runs after the next collection, re-tunes
// GOGC and arms again.
func (t *gcFloorTuner) arm() {
	runtime.AddCleanup(new(gcSentinel), func(t *gcFloorTuner) {
		t.tune()
		t.arm()
	}, t)
}

func (t *gcFloorTuner) tune() {
	metrics.Read(t.sample)
	if t.sample[0].Value.Kind() != metrics.KindUint64 {
		return
	}
	if p := gcPercentFor(t.sample[0].Value.Uint64(), t.floor); p != t.percent {
		debug.SetGCPercent(p)
		t.percent = p
	}
}
