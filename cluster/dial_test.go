package cluster

import "testing"

// TestStreamWorkersCoverABurst: 64 callers heartbeating back to back (the
// BenchmarkHeartbeatMax load) find a stream worker free; fewer workers put
// the calls on fresh goroutines whose stacks grow on every call.
func TestStreamWorkersCoverABurst(t *testing.T) {
	if n := streamWorkers(); n < 64 {
		t.Fatalf("streamWorkers() = %d; want at least 64", n)
	}
}
