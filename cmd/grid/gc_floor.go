package main

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"
)

// A master's live heap is small (tens of MB) until it holds many events,
// and every write allocates (bbolt copies each page it changes into a node
// and back), so with GOGC=100 a busy small master collects several times a
// second: 15-17 % of its CPU at 64 concurrent registry writers. The GC floor
// lets the heap grow to gcFloorBytes before a collection while the master
// is busy (allocating gcFloorBusyRate or more) and its live heap is under
// half of that: after each collection GOGC becomes
// max(100, floor/live*100 - 100), so the next goal is max(2*live, floor).
// Once a gcFloorIdleEvery window allocates less than the busy rate, GOGC
// goes back to 100 and the free heap is returned to the OS, so an idle
// master holds what it would without the floor. A live heap of 32 MiB or
// more is collected exactly as with GOGC=100 (the memory of a large master
// is unchanged). An explicit GOGC turns the floor off; GOMEMLIMIT still
// caps the heap.
const (
	gcFloorBytes      = 64 << 20
	gcFloorMaxPercent = 1000
	gcFloorBusyRate   = 32 << 20 // bytes allocated per second
	gcFloorIdleEvery  = 10 * time.Second
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

// startGCFloor keeps the heap goal at or above floor bytes while busy (see
// above), re-tuned after every collection and checked for idleness every
// idleEvery; a no-op when GOGC is set.
func startGCFloor(floor uint64, idleEvery time.Duration) {
	if os.Getenv("GOGC") != "" {
		return
	}
	startGCFloorOnce.Do(func() {
		t := &gcFloorTuner{floor: floor, percent: 100, at: time.Now()}
		t.allocs = readAllocs()
		t.arm()
		go t.watchIdle(idleEvery)
	})
}

type gcFloorTuner struct {
	floor uint64

	mu      sync.Mutex
	percent int       // the GOGC set
	allocs  uint64    // bytes allocated so far, at the last collection
	at      time.Time // of the last collection
}

// readAllocs is the bytes the process allocated so far.
func readAllocs() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
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

// busy reports whether allocated bytes over d reach the busy rate.
func busy(allocated uint64, d time.Duration) bool {
	return d > 0 && float64(allocated) >= gcFloorBusyRate*d.Seconds()
}

// tune runs after a collection: the floor's GOGC when the allocation rate
// since the previous collection is busy, else 100.
func (t *gcFloorTuner) tune() {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 || s[1].Value.Kind() != metrics.KindUint64 {
		return
	}
	now, allocs := time.Now(), s[1].Value.Uint64()
	t.mu.Lock()
	defer t.mu.Unlock()
	p := 100
	if busy(allocs-t.allocs, now.Sub(t.at)) {
		p = gcPercentFor(s[0].Value.Uint64(), t.floor)
	}
	t.allocs, t.at = allocs, now
	if p != t.percent {
		debug.SetGCPercent(p)
		t.percent = p
	}
}

// watchIdle puts GOGC back to 100 and returns the free heap to the OS once
// a window of every allocates less than the busy rate.
func (t *gcFloorTuner) watchIdle(every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	last := readAllocs()
	for range tick.C {
		allocs := readAllocs()
		idle := !busy(allocs-last, every)
		last = allocs
		if !idle {
			continue
		}
		t.mu.Lock()
		raised := t.percent != 100
		if raised {
			debug.SetGCPercent(100)
			t.percent = 100
		}
		t.mu.Unlock()
		if raised {
			debug.FreeOSMemory()
		}
	}
}
