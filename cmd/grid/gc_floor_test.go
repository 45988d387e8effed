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

var gcFloorSink []byte

// TestGCFloorTunes: while the process allocates fast with a small live
// heap, a collection raises GOGC above 100; once it stops allocating, GOGC
// goes back to 100.
func TestGCFloorTunes(t *testing.T) {
	t.Setenv("GOGC", "") // the floor is off when GOGC is set
	prev := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prev)
	startGCFloor(1<<30, 200*time.Millisecond) // far above this test binary's live heap
	gogc := func() uint64 {
		s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	raised := false
	deadline := time.Now().Add(20 * time.Second)
	for !raised && time.Now().Before(deadline) {
		for range 64 { // ~64 MiB: busy
			gcFloorSink = make([]byte, 1<<20)
		}
		runtime.GC()
		raised = gogc() > 100 // the cleanup runs on its own goroutine: try again
	}
	if !raised {
		t.Fatalf("GOGC stayed at %d while allocating fast with a live heap far under the floor", gogc())
	}
	gcFloorSink = nil
	deadline = time.Now().Add(20 * time.Second)
	for gogc() != 100 {
		if time.Now().After(deadline) {
			t.Fatalf("GOGC %d after the allocations stopped, want 100", gogc())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
