package cluster

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestKeyedLimiterBurstAndRefill(t *testing.T) {
	l := newKeyedLimiter(10, 3, 100)
	now := time.Unix(1000, 0)
	for i := 0; i < 3; i++ {
		if !l.allow("a", now) {
			t.Fatalf("call %d within the burst refused", i)
		}
	}
	if l.allow("a", now) {
		t.Fatal("a fourth call at the same instant passed a burst of 3")
	}
	if !l.allow("b", now) {
		t.Fatal("another key shares a's bucket")
	}
	if !l.allow("a", now.Add(100*time.Millisecond)) {
		t.Fatal("a token did not refill after 1/rate")
	}
	if l.allow("a", now.Add(100*time.Millisecond)) {
		t.Fatal("more than one token refilled in 1/rate")
	}
}

func TestKeyedLimiterForgetsIdleKeys(t *testing.T) {
	l := newKeyedLimiter(10, 1, 2)
	now := time.Unix(1000, 0)
	l.allow("a", now)
	l.allow("b", now)
	// Both buckets are full again after burst/rate; a third key evicts them.
	later := now.Add(time.Second)
	if !l.allow("c", later) {
		t.Fatal("a new key was refused")
	}
	if len(l.buckets) != 1 {
		t.Fatalf("tracking %d keys, want idle ones forgotten (1 left)", len(l.buckets))
	}
	var nilLimiter *keyedLimiter
	if !nilLimiter.allow("x", now) {
		t.Fatal("a disabled (nil) limiter refused a call")
	}
}

func TestCallLimiterRefusesWithResourceExhausted(t *testing.T) {
	var refused []string
	c := newCallLimiter(RateLimitConfig{HeartbeatsPerSecond: 1, HeartbeatBurst: 1, EventCallsPerSecond: 1, EventCallBurst: 1, MaxTracked: 10},
		func(_ context.Context, method, reason string) { refused = append(refused, method+" "+reason) })
	ctx := context.Background()
	hb := &rpc.HeartbeatRequest{AgentId: "agent-1"}
	if err := c.check(ctx, rpc.GridMaster_Heartbeat_FullMethodName, hb); err != nil {
		t.Fatal(err)
	}
	err := c.check(ctx, rpc.GridMaster_Heartbeat_FullMethodName, hb)
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "agent-1") {
		t.Fatalf("second heartbeat: %v, want RESOURCE_EXHAUSTED naming the agent", err)
	}
	ev := &rpc.EmitEventsRequest{Source: "src"}
	if err := c.check(ctx, rpc.GridMaster_EmitEvents_FullMethodName, ev); err != nil {
		t.Fatal(err)
	}
	if err := c.check(ctx, rpc.GridMaster_EmitEvents_FullMethodName, ev); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("second EmitEvents: %v, want RESOURCE_EXHAUSTED", err)
	}
	if len(refused) != 2 {
		t.Fatalf("audit hook called %d times, want 2: %v", len(refused), refused)
	}
	if err := (RateLimitConfig{HeartbeatsPerSecond: -1}).validate(); err == nil {
		t.Fatal("a negative rate was accepted")
	}
}

// TestKeyedLimiterPrunesQuietKeys: well below the table's size, the bucket
// of an id that went quiet (an agent gone offline) is forgotten within
// idlePruneEvery.
func TestKeyedLimiterPrunesQuietKeys(t *testing.T) {
	l := newKeyedLimiter(10, 1, 1000)
	now := time.Unix(1000, 0)
	l.allow("gone", now)
	l.allow("busy", now.Add(idlePruneEvery/2))
	if len(l.buckets) != 2 {
		t.Fatalf("tracking %d keys, want 2", len(l.buckets))
	}
	l.allow("busy", now.Add(idlePruneEvery+time.Second))
	if _, ok := l.buckets["gone"]; ok || len(l.buckets) != 1 {
		t.Fatalf("quiet key still tracked (%d keys)", len(l.buckets))
	}
}
