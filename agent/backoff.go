package agent

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff is an exponential delay with jitter for retrying masters.
type Backoff struct {
	// Min is the first delay; Max caps the doubling.
	Min, Max time.Duration
	cur      time.Duration
}

// Next returns the next delay (between half and all of the current step)
// and doubles the step.
func (b *Backoff) Next() time.Duration {
	if b.cur < b.Min {
		b.cur = b.Min
	}
	d := b.cur/2 + time.Duration(rand.Int64N(int64(b.cur/2)+1))
	b.cur = min(b.cur*2, b.Max)
	return d
}

// Reset starts over from Min.
func (b *Backoff) Reset() { b.cur = 0 }

// jitter returns d shortened by up to frac of itself, so many agents spread out.
func jitter(d time.Duration, frac float64) time.Duration {
	if d <= 0 {
		return 0
	}
	return d - time.Duration(rand.Float64()*frac*float64(d))
}

// waitCtx waits for d or ctx; it reports false when ctx ended first.
func waitCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
