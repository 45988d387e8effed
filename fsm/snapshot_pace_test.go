package fsm

import (
	"bytes"
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gridctl/grid/test/waitfor"
	"github.com/hashicorp/raft"
)

// pieceRecorder records the size of each write it receives.
type pieceRecorder struct {
	bytes.Buffer
	pieces []int
}

func (r *pieceRecorder) Write(p []byte) (int, error) {
	r.pieces = append(r.pieces, len(p))
	return r.Buffer.Write(p)
}

// TestPacedWriterSplitsIntoBursts: a write larger than the limiter's burst
// reaches the underlying writer whole, in order, in pieces of at most one
// burst (the limiter cannot grant more than a burst at once).
func TestPacedWriterSplitsIntoBursts(t *testing.T) {
	data := make([]byte, 2*persistBurst+12345)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	var rec pieceRecorder
	pw := newPacedWriter(context.Background(), &rec, 1<<40) // fast enough to never wait here
	n, err := pw.Write(data)
	if err != nil || n != len(data) {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(data))
	}
	if !bytes.Equal(rec.Bytes(), data) {
		t.Fatal("the bytes written differ from the bytes given")
	}
	if len(rec.pieces) != 3 {
		t.Fatalf("%d pieces %v, want 3", len(rec.pieces), rec.pieces)
	}
	for _, p := range rec.pieces {
		if p > persistBurst {
			t.Fatalf("a piece of %d bytes, more than the burst %d", p, persistBurst)
		}
	}
}

// TestPacedWriterChargesEveryByte: each byte written takes one token from
// the limiter, so the rate bounds the bytes written.
func TestPacedWriterChargesEveryByte(t *testing.T) {
	var rec pieceRecorder
	pw := newPacedWriter(context.Background(), &rec, 1) // one byte a second: no refill to speak of
	if got := pw.lim.Tokens(); got < persistBurst-1 {
		t.Fatalf("a new writer holds %.0f tokens, want a full burst of %d", got, persistBurst)
	}
	const size = 300_000
	if _, err := pw.Write(make([]byte, size)); err != nil {
		t.Fatal(err)
	}
	left := pw.lim.Tokens()
	if want := float64(persistBurst - size); left < want-1 || left > want+1 {
		t.Fatalf("%.0f tokens left after writing %d bytes, want about %.0f", left, size, want)
	}
}

// TestPacedWriterStopsPacingWhenCancelled: a write waiting for the limiter
// (at one byte a second, its second burst would wait for weeks) completes,
// in full, once the context is cancelled.
func TestPacedWriterStopsPacingWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var rec pieceRecorder
	pw := newPacedWriter(ctx, &rec, 1)
	data := make([]byte, 2*persistBurst)
	done := make(chan error, 1)
	go func() {
		_, err := pw.Write(data)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("the write did not wait for the limiter (err %v)", err)
	case <-time.After(100 * time.Millisecond):
	}
	cancel()
	var err error
	waitfor.True(t, 10*time.Second, "the paced write to finish after cancel", func() bool {
		select {
		case err = <-done:
			return true
		default:
			return false
		}
	})
	if err != nil || rec.Len() != len(data) {
		t.Fatalf("after cancel: err %v, %d of %d bytes written", err, rec.Len(), len(data))
	}
}

// TestStopPacingCancelsSnapshots: StopPacing cancels the pacing of a
// snapshot already taken and of every later one.
func TestStopPacingCancelsSnapshots(t *testing.T) {
	f, err := New(Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	before, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer before.Release()
	if before.(*fsmSnapshot).pacing.Err() != nil {
		t.Fatal("a snapshot's pacing is off before StopPacing")
	}
	f.StopPacing()
	after, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer after.Release()
	for name, sn := range map[string]raft.FSMSnapshot{"taken before": before, "taken after": after} {
		if sn.(*fsmSnapshot).pacing.Err() == nil {
			t.Fatalf("snapshot %s StopPacing is still paced", name)
		}
	}
}
