package fsm

import (
	"bytes"
	"math/rand/v2"
	"testing"
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
	pw := newPacedWriter(&rec, 1<<40) // fast enough to never wait here
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
	pw := newPacedWriter(&rec, 1) // one byte a second: no refill to speak of
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
