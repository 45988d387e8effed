package cluster

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/gridctl/grid/rpc"
	"golang.org/x/time/rate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// maxRateKeyLen bounds the part of a caller-chosen id used as a rate-limit
// key, so long ids cannot inflate the limiter's memory (such ids are
// refused by validation anyway).
const maxRateKeyLen = 256

// RateLimitConfig bounds how fast one agent may heartbeat and one source
// may emit events, per master. A call over the limit gets RESOURCE_EXHAUSTED
// and an audit event. A zero rate turns that limit off.
type RateLimitConfig struct {
	// HeartbeatsPerSecond is the sustained Heartbeat rate allowed per agent id.
	HeartbeatsPerSecond float64
	// HeartbeatBurst is how many heartbeats an agent may send back to back.
	HeartbeatBurst int
	// EventCallsPerSecond is the sustained EmitEvents call rate allowed per source.
	EventCallsPerSecond float64
	// EventCallBurst is how many EmitEvents calls a source may make back to back.
	EventCallBurst int
	// MaxTracked is how many ids each limiter tracks at once; beyond it,
	// idle ids are forgotten and, if none is idle, new ids pass unlimited
	// (they fail validation or registration checks anyway).
	MaxTracked int
}

// DefaultRateLimitConfig: 20 heartbeats/s (burst 40) per agent and 50
// EmitEvents calls/s (burst 100) per source, 100,000 ids tracked.
func DefaultRateLimitConfig() RateLimitConfig {
	return RateLimitConfig{
		HeartbeatsPerSecond: 20,
		HeartbeatBurst:      40,
		EventCallsPerSecond: 50,
		EventCallBurst:      100,
		MaxTracked:          100_000,
	}
}

// validate checks the rates; a zero rate disables that limit.
func (c RateLimitConfig) validate() error {
	for _, r := range []struct {
		name  string
		rate  float64
		burst int
	}{{"heartbeat", c.HeartbeatsPerSecond, c.HeartbeatBurst}, {"event call", c.EventCallsPerSecond, c.EventCallBurst}} {
		if r.rate < 0 || math.IsNaN(r.rate) || math.IsInf(r.rate, 0) {
			return fmt.Errorf("%w: %s rate limit %v: want a finite number >= 0", ErrInvalid, r.name, r.rate)
		}
		if r.rate > 0 && r.burst < 1 {
			return fmt.Errorf("%w: %s burst %d: want >= 1", ErrInvalid, r.name, r.burst)
		}
	}
	if c.MaxTracked < 0 {
		return fmt.Errorf("%w: rate limit max_tracked %d is negative", ErrInvalid, c.MaxTracked)
	}
	return nil
}

// idlePruneEvery is how often a limiter forgets the buckets of ids that
// went quiet (agents gone offline keep no bucket for long).
const idlePruneEvery = time.Minute

// keyedLimiter is a token bucket (golang.org/x/time/rate) per key: agent
// id, event source.
type keyedLimiter struct {
	rate    rate.Limit
	burst   int
	maxKeys int

	mu        sync.Mutex
	buckets   map[string]*rate.Limiter
	lastPrune time.Time
}

// newKeyedLimiter returns nil when r is 0 (no limit).
func newKeyedLimiter(r float64, burst, maxKeys int) *keyedLimiter {
	if r <= 0 {
		return nil
	}
	if maxKeys <= 0 {
		maxKeys = DefaultRateLimitConfig().MaxTracked
	}
	return &keyedLimiter{rate: rate.Limit(r), burst: max(burst, 1), maxKeys: maxKeys, buckets: make(map[string]*rate.Limiter)}
}

// allow takes one token from key's bucket; false when it is empty. A nil
// limiter allows everything; so does a full table of keys that are all busy.
func (l *keyedLimiter) allow(key string, now time.Time) bool {
	if l == nil {
		return true
	}
	if len(key) > maxRateKeyLen {
		key = key[:maxRateKeyLen]
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastPrune) >= idlePruneEvery {
		l.lastPrune = now
		l.forgetIdleLocked(now)
	}
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= l.maxKeys {
			l.forgetIdleLocked(now)
			if len(l.buckets) >= l.maxKeys {
				return true
			}
		}
		b = rate.NewLimiter(l.rate, l.burst)
		l.buckets[key] = b
	}
	return b.AllowN(now, 1)
}

// forgetIdleLocked drops buckets that have refilled completely: forgetting
// them changes nothing.
func (l *keyedLimiter) forgetIdleLocked(now time.Time) {
	for k, b := range l.buckets {
		if b.TokensAt(now) >= float64(l.burst) {
			delete(l.buckets, k)
		}
	}
}

// callLimiter rate-limits Heartbeat per agent id and EmitEvents per source
// on every master's gRPC port (a forwarded call counts again on the leader).
type callLimiter struct {
	cfg        RateLimitConfig
	heartbeats *keyedLimiter
	events     *keyedLimiter
	onRefused  func(ctx context.Context, fullMethod, reason string)
}

func newCallLimiter(cfg RateLimitConfig, onRefused func(ctx context.Context, fullMethod, reason string)) *callLimiter {
	return &callLimiter{
		cfg:        cfg,
		heartbeats: newKeyedLimiter(cfg.HeartbeatsPerSecond, cfg.HeartbeatBurst, cfg.MaxTracked),
		events:     newKeyedLimiter(cfg.EventCallsPerSecond, cfg.EventCallBurst, cfg.MaxTracked),
		onRefused:  onRefused,
	}
}

// check returns nil or the RESOURCE_EXHAUSTED status refusing req.
func (c *callLimiter) check(ctx context.Context, fullMethod string, req any) error {
	var err error
	now := time.Now()
	switch r := req.(type) {
	case *rpc.HeartbeatRequest:
		if (fullMethod == rpc.GridMaster_Heartbeat_FullMethodName || fullMethod == rpc.GridMaster_HeartbeatStream_FullMethodName) &&
			!c.heartbeats.allow(r.GetAgentId(), now) {
			err = status.Errorf(codes.ResourceExhausted, "agent_id %q: more than %g heartbeats/s (burst %d); slow down",
				rpc.Truncate(r.GetAgentId(), 64), c.cfg.HeartbeatsPerSecond, c.cfg.HeartbeatBurst)
		}
	case *rpc.EmitEventsRequest:
		if fullMethod == rpc.GridMaster_EmitEvents_FullMethodName && !c.events.allow(r.GetSource(), now) {
			err = status.Errorf(codes.ResourceExhausted, "source %q: more than %g EmitEvents calls/s (burst %d); batch events and slow down",
				rpc.Truncate(r.GetSource(), 64), c.cfg.EventCallsPerSecond, c.cfg.EventCallBurst)
		}
	}
	if err != nil && c.onRefused != nil {
		c.onRefused(ctx, fullMethod, "rate limited")
	}
	return err
}

// unaryInterceptor applies check before the handler.
func (c *callLimiter) unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := c.check(ctx, info.FullMethod, req); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}
