package security

import (
	"fmt"
	"sync"

	"github.com/gridctl/grid/rpc"
)

// DefaultMaxStreams is how many event streams one token or client address
// may hold open at once (--max-streams).
const DefaultMaxStreams = 64

// ErrTooManyStreams refuses a stream beyond the limit (RESOURCE_EXHAUSTED,
// HTTP 429).
var ErrTooManyStreams = rpc.NewSentinel("too many event streams", rpc.ErrExhausted)

// StreamLimiter counts open event streams per key (a token's accessor or
// a client host), shared by the gRPC and the REST stream of a master.
type StreamLimiter struct {
	mu   sync.Mutex
	max  int
	open map[string]int
}

// NewStreamLimiter allows max streams per key (<= 0: DefaultMaxStreams).
func NewStreamLimiter(max int) *StreamLimiter {
	if max <= 0 {
		max = DefaultMaxStreams
	}
	return &StreamLimiter{max: max, open: map[string]int{}}
}

// Acquire takes one stream for key; the release func gives it back (call
// it exactly once). The error names the limit.
func (l *StreamLimiter) Acquire(key string) (func(), error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[key] >= l.max {
		return nil, fmt.Errorf("%w: %s already holds %d open event streams (--max-streams %d); close one first",
			ErrTooManyStreams, key, l.open[key], l.max)
	}
	l.open[key]++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			if l.open[key]--; l.open[key] <= 0 {
				delete(l.open, key)
			}
		})
	}, nil
}

// StreamKey is the key a caller's streams are counted under: the token's
// accessor when it has one, else the client host.
func StreamKey(id *Identity, host string) string {
	if id != nil && id.Accessor != "" {
		return "token " + id.Accessor
	}
	return "client " + host
}
