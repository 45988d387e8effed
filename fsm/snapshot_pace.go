package fsm

import (
	"context"
	"io"
	"sync"

	"golang.org/x/time/rate"
)

// Persist writes the snapshot at most at persistBytesPerSecond. Writing a
// snapshot is a copy of the whole event store (~250 MiB at 1M events) on
// the same two cores and disk that the Raft log and the other masters use:
// at full speed the copy (read, CRC, write) took a core for its whole
// duration and registry writes on the leader waited behind it (their
// median doubled or more while it ran; BenchmarkSnapshotStall). Paced, a
// 1M-event snapshot persisted in about 2.5 s instead of 1.4 s (the goal is
// < 5 s; with the event store's format 3, ~85 MiB, about 0.7 s) and left
// the apply path its CPU.
//
// 64 MiB/s, not 128: at 128 the registry writes made while a snapshot
// persisted still had a median ~2 ms above the same run's writes with no
// snapshot (BenchmarkSnapshotStall, 12 rounds pooled, two same-minute pairs
// at load 13-18: +1.74 and +1.99 ms; p90 1.73-1.98x), at 64 +0.52 and +0.85
// ms (p90 1.34-1.51x). A timeline of the slow writes (strace of the three
// masters) showed them waiting on the CPU, not on an fsync: the copy's
// read, CRC and, mostly, its write syscalls into the snapshot file's page
// cache, bursts of about a millisecond per MiB, half as many per second
// here. The same copy is spread over twice the time: a 1M-event snapshot
// (~70-85 MiB) persists in ~1.2-1.4 s, under the 5 s goal.
const (
	persistBytesPerSecond = 64 << 20
	// persistBurst is the most written without waiting; larger writes are
	// split into pieces of this size. Persist also reads and writes in
	// pieces of this size, so it waits once per MiB: on the 2-core test
	// VM each sleep and wake-up of the copying thread costs CPU of its own,
	// and 256 KiB pieces (4 waits per MiB) took about twice the CPU per
	// MiB of 1 MiB pieces (a paced 28 MiB file write with write-behind:
	// 0.9-1.6 against 0.64-0.81 ms of CPU per MiB). A piece is a fraction of
	// a millisecond of copying.
	persistBurst = 1 << 20
)

// pacingState is the FSM's pacing switch: the context it hands each
// snapshot is cancelled by StopPacing.
type pacingState struct {
	once   sync.Once
	ctx    context.Context
	cancel context.CancelFunc
}

func (p *pacingState) context() context.Context {
	p.once.Do(func() { p.ctx, p.cancel = context.WithCancel(context.Background()) })
	return p.ctx
}

// StopPacing lets every snapshot being written, and every later one, go at
// full speed. The master calls it as it shuts down: raft waits for a
// snapshot in progress before it stops, and a paced one would hold the
// shutdown up.
func (f *FSM) StopPacing() {
	f.pacing.context()
	f.pacing.cancel()
}

// pacedWriter passes writes to w no faster than its limiter allows, until
// its context is cancelled; from then on at full speed.
type pacedWriter struct {
	ctx context.Context
	w   io.Writer
	lim *rate.Limiter // nil once ctx is cancelled
}

// newPacedWriter paces writes to w at bytesPerSecond while ctx lasts.
func newPacedWriter(ctx context.Context, w io.Writer, bytesPerSecond int) *pacedWriter {
	return &pacedWriter{ctx: ctx, w: w, lim: rate.NewLimiter(rate.Limit(bytesPerSecond), persistBurst)}
}

func (p *pacedWriter) Write(b []byte) (int, error) {
	written := 0
	for len(b) > 0 {
		n := min(len(b), persistBurst)
		if p.lim != nil {
			if err := p.lim.WaitN(p.ctx, n); err != nil {
				if p.ctx.Err() == nil {
					return written, err
				}
				p.lim = nil // pacing stopped
			}
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
