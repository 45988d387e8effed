package bench

import (
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/gridctl/grid/test/waitfor"
)

// TestQueryCountersSeeOwnWork: the per-query counters of the diagnostics
// read this process's page faults and run time from /proc, and since
// subtracts readings.
func TestQueryCountersSeeOwnWork(t *testing.T) {
	d := &queryDiag{}
	pid := os.Getpid()
	c0 := d.counters(pid)
	if c0.srvMinflt == 0 {
		t.Fatalf("no minor faults read for pid %d: %+v", pid, c0)
	}
	// Touch fresh memory until the fault count moves.
	var keep [][]byte
	waitfor.True(t, 10*time.Second, "minor faults counted", func() bool {
		b := make([]byte, 8<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		keep = append(keep, b)
		return d.counters(pid).since(c0).srvMinflt > 0
	})
	runtime.KeepAlive(keep)
	if got := d.counters(pid).since(c0); got.srvMinflt == 0 || got.benchMinflt == 0 {
		t.Fatalf("faults not counted: %+v", got)
	}
	if w := runQueueWait(pid); w < 0 {
		t.Fatalf("run-queue wait %v", w)
	}
	if f, _ := pageFaults(-1); f != 0 {
		t.Fatalf("faults of a missing process: %d", f)
	}
}

// TestRawCodecPassesBytes: the floor probe's codec sends and receives a
// message's bytes unchanged.
func TestRawCodecPassesBytes(t *testing.T) {
	in := &rawFrame{b: []byte{1, 2, 3}}
	out, err := rawCodec{}.Marshal(in)
	if err != nil || string(out) != string(in.b) {
		t.Fatalf("marshal: %v %v", out, err)
	}
	var got rawFrame
	if err := (rawCodec{}).Unmarshal(out, &got); err != nil || string(got.b) != string(in.b) {
		t.Fatalf("unmarshal: %v %v", got.b, err)
	}
}
