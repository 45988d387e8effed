package events

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gridctl/grid/fsm"
	"github.com/gridctl/grid/rpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// fakeStream is a server stream that hands sent events to the test.
type fakeStream struct {
	grpc.ServerStream // Context and Send only
	ctx               context.Context
	sent              chan *rpc.Event
}

func (s *fakeStream) Context() context.Context { return s.ctx }

func (s *fakeStream) Send(e *rpc.Event) error {
	select {
	case s.sent <- e:
		return nil
	case <-s.ctx.Done():
		return s.ctx.Err()
	}
}

// openStream runs StreamEvents for req in the background; the returned
// channel gets its result when it ends.
func openStream(t *testing.T, p *Pipeline, req *rpc.StreamEventsRequest) (*fakeStream, context.CancelFunc, <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s := &fakeStream{ctx: ctx, sent: make(chan *rpc.Event, 1)}
	done := make(chan error, 1)
	go func() { done <- p.StreamEvents(req, s) }()
	return s, cancel, done
}

// recvSeqs receives n events and returns their seqs.
func recvSeqs(t *testing.T, s *fakeStream, done <-chan error, n int) []uint64 {
	t.Helper()
	var out []uint64
	for len(out) < n {
		select {
		case e := <-s.sent:
			out = append(out, e.Seq)
		case err := <-done:
			t.Fatalf("stream ended after %d of %d events: %v", len(out), n, err)
		case <-time.After(10 * time.Second):
			t.Fatalf("received %d of %d events in 10s", len(out), n)
		}
	}
	return out
}

func waitEnd(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("stream did not end")
		return nil
	}
}

func appendEvents(t *testing.T, m *fakeMaster, entity string, n int) {
	t.Helper()
	var batch []*rpc.Event
	for range n {
		batch = append(batch, newEvent("agent-1", rpc.EventType_NODE_CRASHED, entity, 0))
	}
	if _, err := m.Apply(fsm.AppendEventsType, &rpc.EmitEventsRequest{Events: batch}); err != nil {
		t.Fatal(err)
	}
}

func equalSeqs(got []uint64, from, to uint64) bool {
	if uint64(len(got)) != to-from+1 {
		return false
	}
	for i, s := range got {
		if s != from+uint64(i) {
			return false
		}
	}
	return true
}

// TestStreamResumesExactlyAfterSeq: a stream sends what follows its cursor,
// then follows new events as they are applied.
func TestStreamResumesExactlyAfterSeq(t *testing.T) {
	r := newFakeRaft(t)
	r.setLeader("master-1")
	m := newFakeMaster(t, r, "master-1", nil)
	appendEvents(t, m, "node-1", 10)
	s, cancel, done := openStream(t, m.pipeline, &rpc.StreamEventsRequest{After: 4})
	if got := recvSeqs(t, s, done, 6); !equalSeqs(got, 5, 10) {
		t.Fatalf("first read sent seqs %v, want 5..10", got)
	}
	appendEvents(t, m, "node-1", 3)
	if got := recvSeqs(t, s, done, 3); !equalSeqs(got, 11, 13) {
		t.Fatalf("followed seqs %v, want 11..13", got)
	}
	cancel()
	if err := waitEnd(t, done); err != nil {
		t.Fatalf("stream ended by its client: %v, want nil", err)
	}
}

// TestStreamGapAfterPrune: a cursor before the oldest retained event fails
// OUT_OF_RANGE, never skips; the cursor just before it is no gap, and a
// stream from the beginning starts at whatever is retained.
func TestStreamGapAfterPrune(t *testing.T) {
	r := newFakeRaft(t)
	r.setLeader("master-1")
	m := newFakeMaster(t, r, "master-1", nil)
	appendEvents(t, m, "node-1", 10)
	if n, err := m.pipeline.Prune(PruneCommand(time.Now(), 0, 3)); err != nil || n != 7 {
		t.Fatalf("prune: removed %d, %v; want 7", n, err)
	}
	_, _, done := openStream(t, m.pipeline, &rpc.StreamEventsRequest{After: 2})
	err := waitEnd(t, done)
	if status.Code(err) != codes.OutOfRange || !strings.Contains(err.Error(), "events after seq 2 were pruned; oldest retained is 8") {
		t.Fatalf("stream after a pruned seq: %v, want OUT_OF_RANGE naming seq 8", err)
	}
	s, _, done := openStream(t, m.pipeline, &rpc.StreamEventsRequest{After: 7})
	if got := recvSeqs(t, s, done, 3); !equalSeqs(got, 8, 10) {
		t.Fatalf("stream after 7 sent %v, want 8..10", got)
	}
	s, _, done = openStream(t, m.pipeline, &rpc.StreamEventsRequest{})
	if got := recvSeqs(t, s, done, 3); !equalSeqs(got, 8, 10) {
		t.Fatalf("stream from the beginning sent %v, want 8..10", got)
	}
}

// TestStreamFilterSkipsAreNoGap: events a filter skipped may be pruned
// without failing a stream that is past them.
func TestStreamFilterSkipsAreNoGap(t *testing.T) {
	r := newFakeRaft(t)
	r.setLeader("master-1")
	m := newFakeMaster(t, r, "master-1", nil)
	appendEvents(t, m, "node-a", 1)  // seq 1
	appendEvents(t, m, "node-b", 10) // seqs 2..11
	s, _, done := openStream(t, m.pipeline, &rpc.StreamEventsRequest{Filter: &rpc.EventFilter{EntityIds: []string{"node-a"}}})
	if got := recvSeqs(t, s, done, 1); !equalSeqs(got, 1, 1) {
		t.Fatalf("filtered stream sent %v, want seq 1", got)
	}
	if _, err := m.pipeline.Prune(PruneCommand(time.Now(), 0, 2)); err != nil {
		t.Fatal(err)
	}
	appendEvents(t, m, "node-a", 1) // seq 12
	if got := recvSeqs(t, s, done, 1); !equalSeqs(got, 12, 12) {
		t.Fatalf("filtered stream after prune sent %v, want seq 12", got)
	}
}

func TestStreamRejectsBadFilterAndEndsOnStop(t *testing.T) {
	r := newFakeRaft(t)
	m := newFakeMaster(t, r, "master-1", nil)
	_, _, done := openStream(t, m.pipeline, &rpc.StreamEventsRequest{Filter: &rpc.EventFilter{Types: []rpc.EventType{0}}})
	if err := waitEnd(t, done); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("bad filter: %v, want INVALID_ARGUMENT", err)
	}
	_, _, done = openStream(t, m.pipeline, &rpc.StreamEventsRequest{})
	m.pipeline.Start()
	m.pipeline.Stop()
	if err := waitEnd(t, done); status.Code(err) != codes.Unavailable {
		t.Fatalf("stream when the pipeline stops: %v, want UNAVAILABLE", err)
	}
}
