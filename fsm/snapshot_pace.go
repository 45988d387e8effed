package fsm

import (
	"context"
	"io"

	"golang.org/x/time/rate"
)

// Persist writes the snapshot at most at persistBytesPerSecond. Writing a
// snapshot is a copy of the whole event store (~250 MiB at 1M events) on
// the same two cores and disk that the Raft log and the other masters use:
// at full speed the copy (read, CRC, write) took a core for its whole
// duration and registry writes on the leader waited behind it (their
// median doubled while it ran). Paced, a 1M-event snapshot persists in
// about 2 s instead of 1.4 s (the goal is < 5 s) and leaves the apply path
// its CPU.
const (
	persistBytesPerSecond = 128 << 20
	// persistBurst is the most written without waiting; larger writes are
	// split into pieces of this size.
	persistBurst = 1 << 20
)

// pacedWriter passes writes to w no faster than its limiter allows.
type pacedWriter struct {
	w   io.Writer
	lim *rate.Limiter
}

// newPacedWriter paces writes to w at bytesPerSecond.
func newPacedWriter(w io.Writer, bytesPerSecond int) *pacedWriter {
	return &pacedWriter{w: w, lim: rate.NewLimiter(rate.Limit(bytesPerSecond), persistBurst)}
}

func (p *pacedWriter) Write(b []byte) (int, error) {
	written := 0
	for len(b) > 0 {
		n := min(len(b), persistBurst)
		// The limiter's wait ends only by its clock: a nil error.
		if err := p.lim.WaitN(context.Background(), n); err != nil {
			return written, err
		}
		k, err := p.w.Write(b[:n])
		written += k
		if err != nil {
			return written, err
		}
		b = b[n:]
	}
	return written, nil
}
