package eventstore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gridctl/grid/rpc"
	"google.golang.org/protobuf/proto"
)

func TestAppendAssignsSeqAndDedupes(t *testing.T) {
	s := openTestStore(t, true)
	in := []*rpc.Event{
		ev("a", rpc.EventType_AGENT_REGISTERED, "agent-001", base, nil),
		ev("", rpc.EventType_AGENT_REGISTERED, "agent-001", base, nil),        // no id
		ev("b", rpc.EventType_EVENT_TYPE_UNSPECIFIED, "agent-001", base, nil), // no type
		ev("c", rpc.EventType_SPAWN_FAILED, "node-1", base+1, map[string]string{"x": "y"}),
		ev("a", rpc.EventType_AGENT_REGISTERED, "agent-001", base, nil), // duplicate in batch
		nil,
	}
	stored, err := s.AppendEvents(in)
	if err != nil {
		t.Fatal(err)
	}
	if got := seqsOf(stored); !slices.Equal(got, []uint64{1, 2}) {
		t.Fatalf("seqs = %v, want [1 2]", got)
	}
	if in[0].GetSeq() != 0 {
		t.Fatal("input event was modified; stored ones must be clones")
	}
	again, err := s.AppendEvents([]*rpc.Event{in[3], ev("d", rpc.EventType_NODE_CRASHED, "node-1", base+2, nil)})
	if err != nil {
		t.Fatal(err)
	}
	if got := seqsOf(again); !slices.Equal(got, []uint64{3}) {
		t.Fatalf("second append seqs = %v, want [3]", got)
	}
	if s.LastSeq() != 3 || s.FirstSeq() != 1 {
		t.Fatalf("last=%d first=%d", s.LastSeq(), s.FirstSeq())
	}
	if stored, _ := s.AppendEvents([]*rpc.Event{in[0]}); stored != nil {
		t.Fatalf("all duplicates should store nothing, got %v", stored)
	}
	all, err := s.Events(Filter{Ascending: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 || all[1].GetId() != "c" || all[1].GetDetails()["x"] != "y" {
		t.Fatalf("events = %v", all)
	}
}

func TestEventGraphForm(t *testing.T) {
	s := openTestStore(t, true)
	// Two events with the same type and timestamp get distinct concepts.
	_, err := s.AppendEvents([]*rpc.Event{
		ev("e1", rpc.EventType_SPAWN_FAILED, "node-9", base, map[string]string{"agent_id": "agent-001", "node_id": "node-9"}),
		ev("e2", rpc.EventType_SPAWN_FAILED, "node-9", base, map[string]string{"agent_id": "agent-001"}),
	})
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("event-spawn_failed-%d", base)
	c, found, err := s.QueryConcept(name)
	if err != nil || !found {
		t.Fatalf("event concept %s: found=%v err=%v", name, found, err)
	}
	var content map[string]any
	if err := json.Unmarshal([]byte(c.Content), &content); err != nil {
		t.Fatalf("content is not JSON: %v", err)
	}
	if content["event_type"] != "spawn_failed" || content["entity_id"] != "node-9" || content["id"] != "e1" {
		t.Fatalf("content = %v", content)
	}
	if _, found, _ := s.QueryConcept(name + "-2"); !found {
		t.Fatal("second event with the same name did not get a -2 suffix")
	}
	for _, ent := range []string{"node-9", "agent-001"} {
		ns, err := s.Neighbors(ent, uint32(rpc.EventType_SPAWN_FAILED), 0)
		if err != nil || len(ns) != 2 {
			t.Fatalf("neighbors of %s = %v, %v", ent, ns, err)
		}
	}
	ts := fmt.Sprintf("ts-%d", base/1_000_000)
	ns, _ := s.Neighbors(name, TemporalAssocType, 0)
	if len(ns) != 1 || ns[0].ID != ts {
		t.Fatalf("temporal link = %v, want %s", ns, ts)
	}
	ents, _ := s.Entities("", 0)
	if !slices.Equal(ents, []string{"agent-001", "node-9"}) {
		t.Fatalf("entities = %v", ents)
	}
	if ents, _ := s.Entities("agent", 0); !slices.Equal(ents, []string{"agent-001"}) {
		t.Fatalf("entities(agent) = %v", ents)
	}
}

func TestEventIndexes(t *testing.T) {
	s := openTestStore(t, true)
	// seq i+1: type cycles spawn_failed, node_crashed, agent_offline; entity agent-00(i%3); ts base+i s.
	fill(t, s, 30)
	// Out-of-order timestamp to show time is not seq.
	if _, err := s.AppendEvents([]*rpc.Event{ev("late", rpc.EventType_NODE_CRASHED, "node-x", base-1_000_000, map[string]string{"agent_id": "agent-001"})}); err != nil {
		t.Fatal(err)
	}
	sec := int64(1_000_000)
	cases := []struct {
		name string
		f    Filter
		want []uint64
	}{
		{"default newest first limit", Filter{Limit: 3}, []uint64{31, 30, 29}},
		{"ascending", Filter{Limit: 3, Ascending: true}, []uint64{1, 2, 3}},
		{"after", Filter{After: 28, Ascending: true}, []uint64{29, 30, 31}},
		{"after beyond end", Filter{After: 31}, nil},
		{"entity", Filter{Entities: []string{"agent-002"}, Limit: 3}, []uint64{30, 27, 24}},
		{"entity via details", Filter{Entities: []string{"agent-001"}, Limit: 3}, []uint64{31, 29, 26}},
		{"entity and type", Filter{Entities: []string{"agent-001"}, Types: []rpc.EventType{rpc.EventType_NODE_CRASHED}, Limit: 2}, []uint64{31, 29}},
		{"two entities merged", Filter{Entities: []string{"agent-000", "node-x"}, Limit: 3}, []uint64{31, 28, 25}},
		{"type", Filter{Types: []rpc.EventType{rpc.EventType_AGENT_OFFLINE}, Ascending: true, Limit: 3}, []uint64{3, 6, 9}},
		{"two types", Filter{Types: []rpc.EventType{rpc.EventType_AGENT_OFFLINE, rpc.EventType_SPAWN_FAILED}, Limit: 4}, []uint64{30, 28, 27, 25}},
		{"time range", Filter{Since: base + 5*sec, Until: base + 8*sec, Ascending: true}, []uint64{6, 7, 8}},
		{"time before base", Filter{Until: base}, []uint64{31}},
		{"time with type", Filter{Since: base, Until: base + 9*sec, Types: []rpc.EventType{rpc.EventType_NODE_CRASHED}}, []uint64{8, 5, 2}},
		{"time with entity", Filter{Since: base + 20*sec, Entities: []string{"agent-000"}, Ascending: true}, []uint64{22, 25, 28}},
		{"time limit keeps newest", Filter{Since: base, Limit: 2}, []uint64{30, 29}},
		{"type and after", Filter{Types: []rpc.EventType{rpc.EventType_SPAWN_FAILED}, After: 25, Ascending: true}, []uint64{28}},
		{"unknown entity", Filter{Entities: []string{"nobody"}}, nil},
		{"empty time range", Filter{Since: base + 5*sec, Until: base + 5*sec}, nil},
		{"invalid entity only", Filter{Entities: []string{""}}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Events(tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(seqsOf(got), tc.want) {
				t.Fatalf("seqs = %v, want %v", seqsOf(got), tc.want)
			}
			f := tc.f
			f.Limit = MaxEventLimit
			all, _ := s.Events(f)
			n, err := s.CountEvents(tc.f)
			if err != nil || n != uint64(len(all)) {
				t.Fatalf("count = %d (%v), want %d", n, err, len(all))
			}
		})
	}
	if n, _ := s.CountEvents(Filter{}); n != 31 {
		t.Fatalf("count all = %d", n)
	}
}

func TestPruneByAgeAndCount(t *testing.T) {
	s := openTestStore(t, true)
	fill(t, s, 30)
	before, _ := s.Stats()
	removed, err := s.Prune(base+10*1_000_000, 0) // removes ts < base+10s: seqs 1..10
	if err != nil || removed != 10 {
		t.Fatalf("prune by age removed %d, %v", removed, err)
	}
	if s.FirstSeq() != 11 || s.LastSeq() != 30 {
		t.Fatalf("first=%d last=%d", s.FirstSeq(), s.LastSeq())
	}
	removed, err = s.Prune(0, 15) // keeps the newest 15: removes 11..15
	if err != nil || removed != 5 {
		t.Fatalf("prune by count removed %d, %v", removed, err)
	}
	if s.FirstSeq() != 16 {
		t.Fatalf("first=%d, want 16", s.FirstSeq())
	}
	// Every index is clean: no query finds a pruned seq.
	for _, f := range []Filter{
		{Ascending: true, Limit: 100},
		{Entities: []string{"agent-000", "agent-001", "agent-002"}, Ascending: true},
		{Types: []rpc.EventType{rpc.EventType_SPAWN_FAILED, rpc.EventType_NODE_CRASHED, rpc.EventType_AGENT_OFFLINE}, Ascending: true},
		{Since: base - 1, Ascending: true},
	} {
		got, _ := s.Events(f)
		if len(got) != 15 || got[0].GetSeq() != 16 {
			t.Fatalf("filter %+v after prune: %v", f, seqsOf(got))
		}
	}
	st, _ := s.Stats()
	if st.Events != 15 {
		t.Fatalf("stats events = %d", st.Events)
	}
	// Event concepts and their associations went; entity and ts concepts stayed.
	if _, found, _ := s.QueryConcept(fmt.Sprintf("event-spawn_failed-%d", base)); found {
		t.Fatal("pruned event concept still present")
	}
	if _, found, _ := s.QueryConcept("agent-000"); !found {
		t.Fatal("entity concept removed")
	}
	if want := before.Associations - 15*2; st.Associations != want {
		t.Fatalf("associations = %d, want %d", st.Associations, want)
	}
	if ns, _ := s.Neighbors("agent-000", 0, 0); len(ns) != 5 {
		t.Fatalf("agent-000 has %d event links, want 5", len(ns))
	}
	// New appends continue the sequence.
	stored, _ := s.AppendEvents([]*rpc.Event{ev("new", rpc.EventType_NODE_CRASHED, "node-1", base, nil)})
	if len(stored) != 1 || stored[0].GetSeq() != 31 {
		t.Fatalf("append after prune: %v", stored)
	}
	if removed, _ := s.Prune(0, 0); removed != 0 {
		t.Fatalf("prune with no limits removed %d", removed)
	}
}

func TestPruneChunks(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 25k events")
	}
	s := openTestStore(t, true)
	for b := range 5 {
		batch := make([]*rpc.Event, 5000)
		for i := range batch {
			n := b*5000 + i
			batch[i] = ev(fmt.Sprintf("e%d", n), rpc.EventType_NODE_CRASHED, "node-1", base+int64(n), nil)
		}
		if _, err := s.AppendEvents(batch); err != nil {
			t.Fatal(err)
		}
	}
	removed, err := s.Prune(0, 1000)
	if err != nil || removed != 24000 {
		t.Fatalf("removed %d, %v", removed, err)
	}
	if n, _ := s.CountEvents(Filter{Entities: []string{"node-1"}}); n != 1000 {
		t.Fatalf("count = %d", n)
	}
}

func TestDigestEqualAcrossReplicas(t *testing.T) {
	a, b := openTestStore(t, true), openTestStore(t, false)
	batches := [][]*rpc.Event{
		{ev("1", rpc.EventType_AGENT_REGISTERED, "agent-001", base, nil), ev("2", rpc.EventType_SPAWN_FAILED, "node-1", base, nil)},
		{ev("2", rpc.EventType_SPAWN_FAILED, "node-1", base, nil), ev("3", rpc.EventType_NODE_CRASHED, "node-1", base+5, nil)},
	}
	for _, batch := range batches {
		if _, err := a.AppendEvents(batch); err != nil {
			t.Fatal(err)
		}
		if _, err := b.AppendEvents(batch); err != nil {
			t.Fatal(err)
		}
	}
	if a.Digest() != b.Digest() || a.LastSeq() != 3 {
		t.Fatalf("digests differ: %s vs %s", a.Digest(), b.Digest())
	}
	c := openTestStore(t, true)
	if _, err := c.AppendEvents([]*rpc.Event{batches[0][1], batches[0][0], batches[1][1]}); err != nil {
		t.Fatal(err)
	}
	if c.Digest() == a.Digest() {
		t.Fatal("a different order must give a different digest")
	}
}

func TestSnapshotRestore(t *testing.T) {
	s := openTestStore(t, true)
	fill(t, s, 50)
	if _, err := s.Prune(0, 40); err != nil {
		t.Fatal(err)
	}
	snap, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// Writes after the snapshot are not in it.
	if _, err := s.AppendEvents([]*rpc.Event{ev("after", rpc.EventType_NODE_CRASHED, "node-1", base, nil)}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := snap.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	snap.Release()
	snap.Release()

	path := filepath.Join(t.TempDir(), "restored.db")
	r, err := Restore(path, &buf, Options{NoSync: true, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.LastSeq() != 50 || r.FirstSeq() != 11 {
		t.Fatalf("restored last=%d first=%d", r.LastSeq(), r.FirstSeq())
	}
	// Feed the source's post-snapshot append to the restored store: they converge.
	if _, err := r.AppendEvents([]*rpc.Event{ev("after", rpc.EventType_NODE_CRASHED, "node-1", base, nil)}); err != nil {
		t.Fatal(err)
	}
	if r.Digest() != s.Digest() {
		t.Fatalf("digest %s, want %s", r.Digest(), s.Digest())
	}
	ss, _ := s.Stats()
	rs, _ := r.Stats()
	ss.SizeBytes, rs.SizeBytes = 0, 0
	if ss != rs {
		t.Fatalf("stats %+v, want %+v", rs, ss)
	}
	for _, f := range []Filter{{Limit: 1000}, {Entities: []string{"agent-001"}}, {Types: []rpc.EventType{rpc.EventType_AGENT_OFFLINE}, Ascending: true}} {
		want, _ := s.Events(f)
		got, _ := r.Events(f)
		if len(got) != len(want) {
			t.Fatalf("filter %+v: %d events, want %d", f, len(got), len(want))
		}
		for i := range want {
			if !proto.Equal(got[i], want[i]) {
				t.Fatalf("filter %+v: event %d differs", f, i)
			}
		}
	}
	// A restore over an existing file replaces it; garbage is refused and leaves the file alone.
	if _, err := Restore(path, strings.NewReader("not a store"), Options{}); err == nil {
		t.Fatal("restore of garbage succeeded")
	}
}

func TestNotifyWakesWaiter(t *testing.T) {
	s := openTestStore(t, true)
	ch := s.Notify()
	woke := make(chan uint64, 1)
	go func() {
		<-ch
		woke <- s.LastSeq()
	}()
	select {
	case <-ch:
		t.Fatal("notify closed before any append")
	default:
	}
	if _, err := s.AppendEvents([]*rpc.Event{ev("x", rpc.EventType_NODE_CRASHED, "node-1", base, nil)}); err != nil {
		t.Fatal(err)
	}
	if seq := <-woke; seq != 1 {
		t.Fatalf("waiter saw last seq %d", seq)
	}
	// A fresh channel, closed by Close.
	ch = s.Notify()
	s.Close()
	<-ch
}
