package events

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/waitfor"
)

// pipelineLog stands in for raft with pipelined applies: start fixes the
// entry's place (its events are stored in start order, as raft's log
// does), and the entry's result waits until the test releases it.
type pipelineLog struct {
	*eventLog
	release chan struct{}
	mu      sync.Mutex
	started int
}

func (p *pipelineLog) start(batch []*rpc.Event) (func() (*rpc.EmitEventsResponse, error), error) {
	p.mu.Lock()
	p.started++
	p.mu.Unlock()
	resp, err := p.commit(context.Background(), batch)
	return func() (*rpc.EmitEventsResponse, error) {
		<-p.release
		return resp, err
	}, nil
}

func (p *pipelineLog) numStarted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.started
}

// TestEventBatcherPipelinesCommits: with a Start func the flusher starts
// MaxInFlight entries before the first one's result is back (no more), and
// the events are stored in emit order and acknowledged once each.
func TestEventBatcherPipelinesCommits(t *testing.T) {
	p := &pipelineLog{eventLog: newEventLog(), release: make(chan struct{})}
	cfg := EventBatcherConfig{QueueSize: 2000, BatchSize: 100, BatchWait: time.Hour, MaxInFlight: 3, Start: p.start}
	cfg.Logger = eventTestLogger(t)
	b := NewEventBatcher(cfg, p.commit, p.commit)
	b.Start()
	t.Cleanup(func() { b.Stop(time.Second) })
	events := testEvents("e", 1000)
	for _, e := range events {
		if !b.Emit(e) {
			t.Fatalf("emit %s dropped with room in the queue", e.Id)
		}
	}
	waitfor.True(t, 10*time.Second, "three entries in flight", func() bool { return p.numStarted() == 3 })
	if b.Committed() != 0 {
		t.Fatalf("committed = %d before any result came back", b.Committed())
	}
	// The flusher holds the fourth full batch until a slot frees.
	waitfor.True(t, 10*time.Second, "the fourth batch queued behind the slots", func() bool { return b.Queued() <= 1000-400 })
	if n := p.numStarted(); n != 3 {
		t.Fatalf("%d entries started with MaxInFlight 3", n)
	}
	close(p.release)
	waitfor.True(t, 10*time.Second, "1000 committed events", func() bool { return b.Committed() == 1000 })
	if got := p.storedIDs(); !equalStrings(got, idsOf(events)) {
		t.Fatalf("stored order differs from emit order")
	}
	if b.Dropped() != 0 {
		t.Fatalf("dropped = %d, want 0", b.Dropped())
	}
}

// TestEventBatcherPipelinedSubmitters: group-commit callers get their own
// entry's result while other entries are in flight.
func TestEventBatcherPipelinedSubmitters(t *testing.T) {
	p := &pipelineLog{eventLog: newEventLog(), release: make(chan struct{})}
	close(p.release)
	cfg := EventBatcherConfig{BatchSize: 50, BatchWait: time.Millisecond, MaxInFlight: 4, Start: p.start}
	cfg.Logger = eventTestLogger(t)
	b := NewEventBatcher(cfg, p.commit, p.commit)
	b.Start()
	t.Cleanup(func() { b.Stop(time.Second) })
	var wg sync.WaitGroup
	for c := 0; c < 8; c++ {
		wg.Go(func() {
			evs := testEvents("c"+string(rune('a'+c)), 40)
			resp, err := b.Submit(context.Background(), evs)
			if err != nil || resp.Accepted != 40 {
				t.Errorf("submit %d: %v accepted=%d, want 40", c, err, resp.GetAccepted())
			}
		})
	}
	wg.Wait()
	if got := len(p.storedIDs()); got != 320 {
		t.Fatalf("stored %d events, want 320", got)
	}
}
