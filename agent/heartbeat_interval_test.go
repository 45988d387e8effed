package agent

import (
	"context"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/waitfor"
	"github.com/hashicorp/go-hclog"
)

// TestHeartbeatFollowsNextInterval: the agent beats at the interval each
// heartbeat answer asks for (a leader stretching it for a large fleet), not
// at its configured one.
func TestHeartbeatFollowsNextInterval(t *testing.T) {
	m := startStubMaster(t)
	cfg := testConfig(t)
	cfg.Masters = []string{m.addr}
	cfg.HeartbeatInterval = 20 * time.Millisecond
	hb := NewHeartbeater(cfg, NewMasterPool(cfg.Masters), noNodes{}, hclog.NewNullLogger())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); hb.Run(ctx) }()
	defer func() { cancel(); <-done }()

	waitfor.True(t, 10*time.Second, "two heartbeats at the stub's 50 ms", func() bool { return hb.Heartbeats() >= 2 })
	m.set(func(m *stubMaster) { m.nextMs = 60_000 }) // a minute: far beyond the test
	asked := hb.Heartbeats()
	// The next answer asks for a minute (one beat may still have been
	// answered with 50 ms); after it the agent waits, so the count stops.
	waitfor.True(t, 10*time.Second, "a heartbeat answered with the long interval", func() bool { return hb.Heartbeats() > asked })
	before := hb.Heartbeats()
	time.Sleep(500 * time.Millisecond) // 25 beats at the configured 20 ms; none at the asked-for minute
	if after := hb.Heartbeats(); after > before+1 {
		t.Fatalf("%d heartbeats in 500 ms after the master asked for one a minute", after-before)
	}
}

// noNodes is an agent running no storage nodes.
type noNodes struct{}

func (noNodes) List() []*rpc.NodeStatus { return nil }
func (noNodes) ActiveCount() int        { return 0 }
