package main

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestGCPercentFor(t *testing.T) {
	const mb = 1 << 20
	for _, c := range []struct {
		live uint64
		want int
	}{
		{0, 100},                    // unknown: the default
		{64 * mb, 100},              // at or above the floor
		{32 * mb, 100},              // 2*live reaches the floor
		{20 * mb, 220},              // 64/20*100-100 = 220
		{13 * mb, 390},              // 392, rounded down to 390
		{1 * mb, gcFloorMaxPercent}, // capped
	} {
		if got := gcPercentFor(c.live, 64*mb); got != c.want {
			t.Errorf("gcPercentFor(%d MiB) = %d, want %d", c.live/mb, got, c.want)
		}
	}
}

// TestGCFloorTunes: with a small live heap, a collection raises GOGC above
// 100 (the tuner runs after each collection).
func TestGCFloorTunes(t *testing.T) {
	t.Setenv("GOGC", "") // the floor is off when GOGC is set
	prev := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prev)
	startGCFloor(1 << 30) // far above this test binary's live heap
	gogc := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		runtime.GC()
		metrics.Read(gogc)
		if gogc[0].Value.Uint64() > 100 {
			return
		}
		time.Sleep(10 * time.Millisecond) // the cleanup runs on its own goroutine
	}
	t.Fatalf("GOGC stayed at %d with a live heap far under the floor", gogc[0].Value.Uint64())
}
