package events

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/waitfor"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// eventLog stands in for the Raft log + FSM in batcher tests: it assigns
// seqs in commit order and drops ids it has seen (the FSM's dedupe).
type eventLog struct {
	mu      sync.Mutex
	seen    map[string]bool
	stored  []*rpc.Event
	batches [][]*rpc.Event
	calls   int
	// fail, when set, decides whether attempt number call fails; applied
	// reports whether the batch is stored before failing (a commit whose
	// answer was lost).
	fail func(call int, batch []*rpc.Event) (err error, applied bool)
	gate chan struct{} // when non-nil, every commit waits for a value
}

func newEventLog() *eventLog { return &eventLog{seen: make(map[string]bool)} }

func (l *eventLog) commit(ctx context.Context, batch []*rpc.Event) (*rpc.EmitEventsResponse, error) {
	if l.gate != nil {
		select {
		case <-l.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls++
	l.batches = append(l.batches, batch)
	var failErr error
	apply := true
	if l.fail != nil {
		failErr, apply = l.fail(l.calls, batch)
		if failErr == nil {
			apply = true
		}
	}
	resp := &rpc.EmitEventsResponse{}
	if apply {
		for _, e := range batch {
			if l.seen[e.Id] {
				continue
			}
			l.seen[e.Id] = true
			c := proto.Clone(e).(*rpc.Event)
			c.Seq = uint64(len(l.stored) + 1)
			l.stored = append(l.stored, c)
			resp.Accepted++
		}
	}
	resp.LastSeq = uint64(len(l.stored))
	return resp, failErr
}

func (l *eventLog) storedIDs() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	ids := make([]string, len(l.stored))
	for i, e := range l.stored {
		ids[i] = e.Id
	}
	return ids
}

func (l *eventLog) numBatches() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.batches)
}

func testEvents(prefix string, n int) []*rpc.Event {
	out := make([]*rpc.Event, n)
	for i := range out {
		out[i] = &rpc.Event{
			Id:        fmt.Sprintf("%s-%04d", prefix, i),
			Type:      rpc.EventType_NODE_CRASHED,
			EntityId:  "node-1",
			Timestamp: int64(i + 1),
		}
	}
	return out
}

func idsOf(events []*rpc.Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.Id
	}
	return out
}

// errNotLeader stands in for the master's "not the leader" error.
var errNotLeader = errors.New("not the leader")

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// eventTestLogger sends logs to t.Log.
func eventTestLogger(t *testing.T) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: t.Name(), Level: hclog.Debug, Output: eventLogWriter{t}})
}

type eventLogWriter struct{ t *testing.T }

func (w eventLogWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func newTestBatcher(t *testing.T, cfg EventBatcherConfig, l *eventLog) *EventBatcher {
	t.Helper()
	cfg.Logger = eventTestLogger(t)
	b := NewEventBatcher(cfg, l.commit, l.commit)
	b.Start()
	t.Cleanup(func() { b.Stop(time.Second) })
	return b
}

func TestEventBatcherFlushesFullBatchesInOrder(t *testing.T) {
	l := newEventLog()
	// BatchWait is far longer than the test: only full batches can flush.
	b := newTestBatcher(t, EventBatcherConfig{QueueSize: 2000, BatchSize: 100, BatchWait: time.Hour}, l)
	events := testEvents("e", 1000)
	for _, e := range events {
		if !b.Emit(e) {
			t.Fatalf("emit %s dropped with room in the queue", e.Id)
		}
	}
	waitfor.True(t, 10*time.Second, "1000 committed events", func() bool { return b.Committed() == 1000 })
	if got := l.storedIDs(); !equalStrings(got, idsOf(events)) {
		t.Fatalf("stored order differs from emit order")
	}
	for i, batch := range l.batches {
		if len(batch) != 100 {
			t.Fatalf("batch %d has %d events, want 100", i, len(batch))
		}
	}
	if b.Dropped() != 0 {
		t.Fatalf("dropped = %d, want 0", b.Dropped())
	}
}

func TestEventBatcherFlushesPartialBatchAfterWait(t *testing.T) {
	l := newEventLog()
	b := newTestBatcher(t, EventBatcherConfig{BatchSize: 1000, BatchWait: 5 * time.Millisecond}, l)
	events := testEvents("p", 3)
	for _, e := range events {
		b.Emit(e)
	}
	waitfor.True(t, 10*time.Second, "3 committed events", func() bool { return b.Committed() == 3 })
	if got := l.storedIDs(); !equalStrings(got, idsOf(events)) {
		t.Fatalf("stored %v, want %v", got, idsOf(events))
	}
}

func TestEventBatcherEmitNeverBlocksWhenFull(t *testing.T) {
	l := newEventLog()
	l.gate = make(chan struct{})
	b := newTestBatcher(t, EventBatcherConfig{QueueSize: 10, BatchSize: 1, BatchWait: time.Millisecond}, l)
	accepted := 0
	for _, e := range testEvents("f", 100) {
		if b.Emit(e) { // the commit is blocked: this must still return
			accepted++
		}
	}
	if accepted > 11 { // the queue plus the one batch in flight
		t.Fatalf("accepted %d events with a queue of 10", accepted)
	}
	if got, want := b.Dropped(), uint64(100-accepted); got != want {
		t.Fatalf("dropped = %d, want %d", got, want)
	}
	close(l.gate) // let commits through
	waitfor.True(t, 10*time.Second, "accepted events committed", func() bool { return b.Committed() == uint64(accepted) })
	if n := len(l.storedIDs()); n != accepted {
		t.Fatalf("stored %d events, want %d", n, accepted)
	}
}

func TestEventBatcherRetriesWithoutLossOrDuplicate(t *testing.T) {
	l := newEventLog()
	errNoQuorum := errors.New("no quorum")
	l.fail = func(call int, batch []*rpc.Event) (error, bool) {
		switch {
		case call <= 3:
			return errNoQuorum, false // not committed
		case call == 4:
			return status.Error(codes.Unavailable, "leadership lost"), true // committed, answer lost
		}
		return nil, true
	}
	b := newTestBatcher(t, EventBatcherConfig{BatchSize: 50, BatchWait: time.Millisecond, RetryMin: time.Millisecond, RetryMax: 5 * time.Millisecond}, l)
	events := testEvents("r", 50)
	for _, e := range events {
		b.Emit(e)
	}
	waitfor.True(t, 10*time.Second, "50 committed events", func() bool { return b.Committed() >= 50 })
	if got := l.storedIDs(); !equalStrings(got, idsOf(events)) {
		t.Fatalf("stored %d events %v, want each of the 50 once in order", len(got), got)
	}
	if n := l.numBatches(); n < 5 {
		t.Fatalf("commit called %d times, want at least 5 (3 failures, a lost answer, a success)", n)
	}
	if b.Dropped() != 0 {
		t.Fatalf("dropped = %d, want 0", b.Dropped())
	}
}

func TestEventBatcherDropsRejectedBatch(t *testing.T) {
	l := newEventLog()
	l.fail = func(call int, batch []*rpc.Event) (error, bool) {
		if call == 1 {
			return status.Error(codes.InvalidArgument, "events[0]: bad"), false
		}
		return nil, true
	}
	b := newTestBatcher(t, EventBatcherConfig{BatchSize: 10, BatchWait: time.Millisecond}, l)
	for _, e := range testEvents("x", 10) {
		b.Emit(e)
	}
	waitfor.True(t, 10*time.Second, "rejected batch dropped", func() bool { return b.Dropped() == 10 })
	good := testEvents("ok", 1)[0]
	b.Emit(good)
	waitfor.True(t, 10*time.Second, "later event committed", func() bool { return b.Committed() == 1 })
	if got := l.storedIDs(); !equalStrings(got, []string{good.Id}) {
		t.Fatalf("stored %v, want only %s", got, good.Id)
	}
}

func TestEventBatcherGroupCommit(t *testing.T) {
	l := newEventLog()
	// 20 callers x 5 events fill exactly one batch of 100; with an hour of
	// BatchWait the batch can only be committed once every caller joined it.
	b := newTestBatcher(t, EventBatcherConfig{BatchSize: 100, BatchWait: time.Hour}, l)
	const callers = 20
	var wg sync.WaitGroup
	resps := make([]*rpc.EmitEventsResponse, callers)
	errs := make([]error, callers)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resps[i], errs[i] = b.Submit(context.Background(), testEvents(fmt.Sprintf("c%02d", i), 5))
		}()
	}
	wg.Wait()
	for i := range callers {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if resps[i].GetAccepted() != 5 || resps[i].GetLastSeq() != 100 {
			t.Fatalf("caller %d got accepted=%d last_seq=%d, want 5 and 100", i, resps[i].GetAccepted(), resps[i].GetLastSeq())
		}
	}
	if n := l.numBatches(); n != 1 {
		t.Fatalf("%d commits, want 1 (one Raft entry for all callers)", n)
	}
	// A resend of the same events is acknowledged with nothing accepted.
	b2 := newTestBatcher(t, EventBatcherConfig{BatchSize: 100, BatchWait: time.Millisecond}, l)
	resp, err := b2.Submit(context.Background(), testEvents("c00", 5))
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetAccepted() != 0 || resp.GetLastSeq() != 100 {
		t.Fatalf("resend: accepted=%d last_seq=%d, want 0 and 100", resp.GetAccepted(), resp.GetLastSeq())
	}
}

func TestEventBatcherSubmitFailureReturnsToCaller(t *testing.T) {
	l := newEventLog()
	errNotLeader := fmt.Errorf("apply: %w", errNotLeader)
	l.fail = func(int, []*rpc.Event) (error, bool) { return errNotLeader, false }
	b := newTestBatcher(t, EventBatcherConfig{BatchSize: 10, BatchWait: time.Millisecond}, l)
	_, err := b.Submit(context.Background(), testEvents("s", 3))
	if !errors.Is(err, errNotLeader) {
		t.Fatalf("submit error = %v, want the not-leader error", err)
	}
	if n := l.numBatches(); n != 1 {
		t.Fatalf("%d commits, want 1 (submitted events are not retried by the batcher)", n)
	}
}

func TestEventBatcherStopFlushesQueue(t *testing.T) {
	l := newEventLog()
	cfg := EventBatcherConfig{BatchSize: 1000, BatchWait: time.Hour, Logger: eventTestLogger(t)}
	b := NewEventBatcher(cfg, l.commit, l.commit)
	b.Start()
	events := testEvents("s", 50)
	for _, e := range events {
		b.Emit(e)
	}
	b.Stop(5 * time.Second)
	if got := l.storedIDs(); !equalStrings(got, idsOf(events)) {
		t.Fatalf("after stop stored %d events, want all 50 in order", len(got))
	}
	if b.Emit(testEvents("late", 1)[0]) {
		t.Fatal("emit after stop was accepted")
	}
	if _, err := b.Submit(context.Background(), testEvents("late", 1)); !errors.Is(err, ErrBatcherStopped) {
		t.Fatalf("submit after stop: %v, want ErrBatcherStopped", err)
	}
}

func TestEventBatcherStopGivesUpOnFailingCommits(t *testing.T) {
	l := newEventLog()
	l.fail = func(int, []*rpc.Event) (error, bool) { return errors.New("no leader"), false }
	cfg := EventBatcherConfig{BatchSize: 10, BatchWait: time.Millisecond, RetryMin: time.Millisecond, Logger: eventTestLogger(t)}
	b := NewEventBatcher(cfg, l.commit, l.commit)
	b.Start()
	for _, e := range testEvents("g", 25) {
		b.Emit(e)
	}
	b.Stop(50 * time.Millisecond) // must return although nothing can commit
	if got := b.Dropped(); got != 25 {
		t.Fatalf("dropped = %d, want 25", got)
	}
}

func TestEventBatcherStopWithoutStart(t *testing.T) {
	b := NewEventBatcher(EventBatcherConfig{}, newEventLog().commit, newEventLog().commit)
	b.Stop(time.Second) // returns at once
}

// BenchmarkEventBatcherEmit measures Emit (the non-blocking enqueue) with a
// commit that accepts everything at once.
func BenchmarkEventBatcherEmit(b *testing.B) {
	commit := func(context.Context, []*rpc.Event) (*rpc.EmitEventsResponse, error) {
		return &rpc.EmitEventsResponse{}, nil
	}
	batcher := NewEventBatcher(EventBatcherConfig{}, commit, commit)
	batcher.Start()
	defer batcher.Stop(time.Second)
	e := &rpc.Event{Id: "bench", Type: rpc.EventType_NODE_CRASHED, EntityId: "node-1", Timestamp: 1}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		batcher.Emit(e)
	}
}

// TestEventBatcherRetriesDoNotBlockSubmitters: while the master's own events
// wait for a slow resend (a follower forwarding to a leader that is busy),
// submitters are still answered; the own events commit once resend works.
func TestEventBatcherRetriesDoNotBlockSubmitters(t *testing.T) {
	local := newEventLog()
	local.fail = func(int, []*rpc.Event) (error, bool) { return fmt.Errorf("apply: %w", errNotLeader), false }
	remote := newEventLog()
	remote.gate = make(chan struct{})
	cfg := EventBatcherConfig{BatchSize: 10, BatchWait: time.Millisecond, RetryMin: time.Millisecond, Logger: eventTestLogger(t)}
	b := NewEventBatcher(cfg, local.commit, remote.commit)
	b.Start()
	t.Cleanup(func() { b.Stop(time.Second) })
	own := testEvents("own", 10)
	for _, e := range own {
		b.Emit(e)
	}
	waitfor.True(t, 10*time.Second, "own events handed to the resender", func() bool { return local.numBatches() >= 1 })
	if _, err := b.Submit(context.Background(), testEvents("sub", 2)); !errors.Is(err, errNotLeader) {
		t.Fatalf("submit while resend is blocked: %v, want the not-leader error", err)
	}
	close(remote.gate)
	waitfor.True(t, 10*time.Second, "own events committed by resend", func() bool { return b.Committed() == 10 })
	if got := remote.storedIDs(); !equalStrings(got, idsOf(own)) {
		t.Fatalf("resend stored %v, want the 10 own events in order", got)
	}
}
