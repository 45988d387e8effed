package eventstore

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/hashicorp/go-hclog"
)

// testWriter sends hclog output to t.Log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func testLogger(t testing.TB) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: "test", Level: hclog.Debug, Output: testWriter{t}})
}

// openTestStore opens a store in a temp dir, closed at test end.
func openTestStore(t testing.TB, noSync bool) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "store.db"), Options{NoSync: noSync, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// base is a fixed timestamp (2026-11-20 12:00:00 UTC) in micros.
var base = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC).UnixMicro()

func ev(id string, typ rpc.EventType, entity string, ts int64, details map[string]string) *rpc.Event {
	return &rpc.Event{Id: id, Type: typ, EntityId: entity, Timestamp: ts, Details: details, Source: "test"}
}

// seqsOf lists the seqs of events.
func seqsOf(events []*rpc.Event) []uint64 {
	out := make([]uint64, len(events))
	for i, e := range events {
		out[i] = e.GetSeq()
	}
	return out
}

// fill appends n events spread over entities, types and seconds.
func fill(t testing.TB, s *Store, n int) {
	t.Helper()
	types := []rpc.EventType{rpc.EventType_SPAWN_FAILED, rpc.EventType_NODE_CRASHED, rpc.EventType_AGENT_OFFLINE}
	var batch []*rpc.Event
	for i := range n {
		agent := fmt.Sprintf("agent-%03d", i%3)
		batch = append(batch, ev(fmt.Sprintf("e%d", i), types[i%len(types)], agent, base+int64(i)*1_000_000, nil))
	}
	if _, err := s.AppendEvents(batch); err != nil {
		t.Fatalf("append: %v", err)
	}
}
