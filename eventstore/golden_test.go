package eventstore

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
)

// The golden test feeds a fixed, varied input through the public API and
// renders every kind of query to testdata/golden_queries.txt. The golden was
// generated with the first store format (one record per event, materialised
// graph form); every later encoding must reproduce it byte for byte.
// GRID_UPDATE_GOLDEN=1 rewrites it (only when the encoding is meant to
// change what queries return, which it never is).

const goldenFile = "testdata/golden_queries.txt"

var goldenTypes = []rpc.EventType{spawnFailed, spawnReq, spawnOK, crashed, restarted, offline, degraded, recovered, elected, clusterCrit}

var goldenEntities = []string{"agent-001", "agent-002", "agent-003", "agent-010", "node-a", "node-b", "node-c", "master-1", "cluster", "agent-1\u00e9"}

// goldenInput builds the store the golden queries run against.
func goldenInput(t *testing.T, s *Store) {
	t.Helper()
	rng := rand.New(rand.NewPCG(17, 42))
	var ids []string
	mk := func(i int) *rpc.Event {
		id := fmt.Sprintf("g-%d", i)
		if i%37 == 5 && len(ids) > 3 { // a re-sent id: deduplicated
			id = ids[rng.IntN(len(ids))]
		}
		e := &rpc.Event{
			Id:        id,
			Type:      goldenTypes[rng.IntN(len(goldenTypes))],
			EntityId:  goldenEntities[rng.IntN(len(goldenEntities))],
			Timestamp: base + int64(i/3)*700_000 + int64(rng.IntN(3))*250_000,
			Source:    []string{"", "master-1", "agent-001", "bench"}[rng.IntN(4)],
		}
		if i%11 == 0 { // same type and timestamp as a previous one: concept name suffix
			e.Type = goldenTypes[0]
			e.Timestamp = base
		}
		if i%29 == 3 {
			e.EntityId = ""
		}
		d := map[string]string{}
		if rng.IntN(3) == 0 {
			d["agent_id"] = goldenEntities[rng.IntN(4)]
		}
		if rng.IntN(4) == 0 {
			d["node_id"] = goldenEntities[4+rng.IntN(3)]
		}
		if rng.IntN(2) == 0 {
			d["exit_code"] = fmt.Sprint(rng.IntN(256))
			d["reason"] = strings.Repeat("x", rng.IntN(40))
		}
		if len(ids) > 0 && rng.IntN(6) == 0 {
			var causes []string
			for range 1 + rng.IntN(4) {
				if c := ids[rng.IntN(len(ids))]; !slices.Contains(causes, c) {
					causes = append(causes, c)
				}
			}
			if rng.IntN(3) == 0 {
				causes = append(causes, "unknown-id", id, fmt.Sprintf("g-%d", i+2))
			}
			// No id twice here: when an event naming a cause twice, or
			// that cause, was pruned, format 1 deleted one of the two
			// associations and left the other dangling (and counted).
			// Format 2 deletes both. Events appended after the prunes
			// below name a cause twice.
			d[CausedByDetail] = strings.Join(causes, ", ")
		}
		if len(d) > 0 {
			e.Details = d
		}
		ids = append(ids, id)
		return e
	}
	// Invalid events are skipped.
	if _, err := s.AppendEvents([]*rpc.Event{nil, {Id: "x"}, {Id: "bad\x00id", Type: crashed}, {Id: "neg", Type: crashed, EntityId: "node-a", Timestamp: -1_500_001}}); err != nil {
		t.Fatal(err)
	}
	i := 0
	for round := range 6 {
		var batches [][]*rpc.Event
		for range 1 + round%3 {
			var b []*rpc.Event
			for range 10 + rng.IntN(30) {
				b = append(b, mk(i))
				i++
			}
			batches = append(batches, b)
		}
		if _, err := s.AppendEventBatches(batches); err != nil {
			t.Fatal(err)
		}
		if round == 2 {
			goldenLearn(t, s)
		}
	}
	for _, w := range []struct {
		name string
		seq  uint64
	}{{"hook-a", 40}, {"hook-b", 12}, {"hook-a", 30}, {"hook-a", 55}} {
		if err := s.SetWebhookAck(w.name, w.seq); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Prune(base+20*700_000, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Prune(0, 150); err != nil {
		t.Fatal(err)
	}
	// Re-add a pruned id, and events naming pruned and live causes.
	again := []*rpc.Event{
		{Id: "g-1", Type: crashed, EntityId: "node-a", Timestamp: base + 500*700_000, Details: map[string]string{CausedByDetail: "g-2,g-150,g-180"}},
		{Id: "late-1", Type: clusterCrit, EntityId: "cluster", Timestamp: base + 501*700_000, Details: map[string]string{CausedByDetail: "g-1, g-170, g-1, g-180"}},
	}
	if _, err := s.AppendEvents(again); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if _, err := s.AppendEvents([]*rpc.Event{mk(i)}); err != nil {
			t.Fatal(err)
		}
		i++
	}
}

// goldenLearn writes concepts and associations through the graph API,
// some of them touching event concepts.
func goldenLearn(t *testing.T, s *Store) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.LearnConcept(Concept{ID: "note-1", Content: "a note", Strength: 0.5, Confidence: 0.25, CreatedAt: base}))
	must(s.LearnConcept(Concept{ID: "note-2", Content: "another", Strength: 1, Confidence: 1, CreatedAt: base + 1}))
	must(s.LearnConcept(Concept{ID: "agent-001", Content: "the first agent", Strength: 2, Confidence: 0.5, CreatedAt: base + 2}))
	must(s.LearnAssociation("note-1", "agent-001", 7, 0.75))
	must(s.LearnAssociation("agent-002", "note-2", 8, 0.5))
	must(s.LearnAssociation("note-1", "note-2", 9, 1))
	must(s.LearnAssociation("note-1", "note-2", 9, 0.125)) // upsert
	if err := s.LearnAssociation("note-1", "missing", 1, 1); err == nil {
		t.Fatal("association to a missing concept accepted")
	}
	evs, err := s.Events(Filter{Entities: []string{"node-a"}, Limit: 3})
	must(err)
	nb, err := s.Neighbors("node-a", 0, 3)
	must(err)
	if len(evs) == 0 || len(nb) == 0 {
		t.Fatal("no events for node-a")
	}
	ec := nb[0].ID // an event concept
	must(s.LearnAssociation("note-2", ec, 5, 0.5))
	must(s.LearnAssociation(ec, "note-1", 6, 0.5))
	must(s.LearnAssociation("node-a", ec, nb[0].Type, 0.25)) // the event's own association: upsert
	must(s.LearnConcept(Concept{ID: nb[len(nb)-1].ID, Content: "overwritten", Strength: 3, Confidence: 3, CreatedAt: 9}))
}

// goldenRender runs every kind of query and renders the answers.
func goldenRender(t *testing.T, s *Store) string {
	t.Helper()
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	evs := func(label string, es []*rpc.Event, err error) {
		if err != nil {
			p("%s: error %v", label, err)
			return
		}
		p("%s: %d", label, len(es))
		for _, e := range es {
			j, _ := MarshalEventJSON(e)
			p("  %s", j)
		}
	}
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	p("stats concepts=%d assocs=%d events=%d last=%d written=%d", st.Concepts, st.Associations, st.Events, st.LastSeq, st.Written)
	p("digest %s first=%d last=%d", s.Digest(), s.FirstSeq(), s.LastSeq())
	acks, err := s.WebhookAcks()
	if err != nil {
		t.Fatal(err)
	}
	p("acks %v", acks)
	ents, err := s.Entities("", 0)
	p("entities %v %v", ents, err)
	ents2, err := s.Entities("agent-0", 2)
	p("entities agent-0 %v %v", ents2, err)
	ts := func(k int) int64 { return base + int64(k)*700_000 }
	filters := []Filter{
		{}, {Ascending: true, Limit: 7}, {After: 100, Limit: 5, Ascending: true}, {After: 100, Limit: 5},
		{Types: []rpc.EventType{crashed}}, {Types: []rpc.EventType{crashed, offline}, Limit: 9, Ascending: true},
		{Entities: []string{"agent-001"}}, {Entities: []string{"agent-001", "node-b", "nobody"}, Limit: 20},
		{Entities: []string{"node-a"}, Types: []rpc.EventType{spawnFailed, crashed}},
		{Since: ts(60), Until: ts(90)}, {Since: ts(60), Until: ts(90), Ascending: true, Limit: 4},
		{Since: ts(60), Until: ts(200), Types: []rpc.EventType{degraded}},
		{Since: ts(60), Until: ts(200), Entities: []string{"agent-003"}, Types: []rpc.EventType{degraded, recovered, offline}},
		{Since: ts(100), Entities: []string{"cluster"}}, {Until: ts(100), Entities: []string{"cluster"}},
		{Since: -2_000_000, Until: 0}, {Since: ts(10), Until: ts(10)}, {Entities: []string{""}},
		{Types: []rpc.EventType{elected}, After: 50, Ascending: true, Limit: 3},
	}
	for i, f := range filters {
		es, err := s.Events(f)
		evs(fmt.Sprintf("events[%d] %+v", i, f), es, err)
		n, err := s.CountEvents(f)
		p("count[%d] %d %v", i, n, err)
	}
	byID, err := s.EventsByID([]string{"g-3", "g-1", "missing", "late-1", "g-170", "g-399"})
	evs("by id", byID, err)
	// The graph: every concept reachable from the entities and events.
	seen := map[string]bool{}
	queue := append([]string{"note-1", "note-2", "missing", "ts-0"}, goldenEntities...)
	all, _ := s.Events(Filter{Limit: MaxEventLimit})
	for _, e := range all {
		queue = append(queue, timeConceptName(e.GetTimestamp()))
	}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		if seen[id] {
			continue
		}
		seen[id] = true
		c, found, err := s.QueryConcept(id)
		p("concept %q found=%v err=%v %+v", id, found, err, c)
		for _, typ := range []uint32{0, 999, 998, uint32(crashed)} {
			for _, lim := range []int{0, 2} {
				nb, err := s.Neighbors(id, typ, lim)
				if err != nil {
					p("  neighbors %d/%d: %v", typ, lim, err)
					continue
				}
				if len(nb) == 0 {
					continue
				}
				p("  neighbors type=%d limit=%d: %v", typ, lim, nb)
				for _, n := range nb {
					queue = append(queue, n.ID)
				}
			}
		}
	}
	ids := make([]string, 0, len(seen))
	for id := range seen {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for i := 0; i+1 < len(ids); i += 7 {
		path, err := s.FindPath(ids[i], ids[len(ids)-1-i], 4)
		p("path %s -> %s: %v %v", ids[i], ids[len(ids)-1-i], path, err)
	}
	path, err := s.FindPath("note-2", "ts-0", 0)
	p("path note-2 -> ts-0: %v %v", path, err)
	// Compile and answer paths.
	now := time.UnixMicro(base + 600*700_000).UTC()
	known, _ := s.Entities("", 0)
	for _, q := range []string{
		"what happened to agent-001 today", "how many nodes crashed in the last hour",
		"which agents degraded the most", "why did node-a crash", "spawn failures after the last leader election",
		"events for cluster", "count events by type", "what happened to agent-999",
	} {
		in := Compile(q, now, known)
		err := s.ResolveAnchor(&in)
		p("compile %q: intent=%s types=%v entities=%v since=%d until=%d answerable=%v err=%v", q, in.Intent, in.EventTypes, in.Entities, in.Since, in.Until, in.Answerable(), err)
		if !in.Answerable() {
			continue
		}
		f := Filter{Types: in.EventTypes, Entities: in.Entities, Since: in.Since, Until: in.Until}
		switch in.Intent {
		case "aggregate":
			groups, trunc, err := s.Aggregate(f, in.GroupBy, in.Having, in.Order, in.Limit)
			p("  groups %v %v %v", groups, trunc, err)
		case "why":
			steps, err := s.Why(in)
			p("  why %d %v", len(steps), err)
			for _, st := range steps {
				j, _ := MarshalEventJSON(st.Event)
				p("    %s %s", st.Link, j)
			}
		case "count":
			n, err := s.CountEvents(f)
			p("  count %d %v", n, err)
		default:
			es, err := s.Events(f)
			evs("  answer", es, err)
		}
	}
	for _, key := range []string{GroupAgent, GroupNode, GroupEntity, GroupType} {
		groups, trunc, err := s.Aggregate(Filter{}, key, Having{}, "desc", 0)
		p("aggregate %s %v %v %v", key, groups, trunc, err)
	}
	return b.String()
}

func TestGoldenQueries(t *testing.T) {
	s := openTestStore(t, true)
	goldenInput(t, s)
	got := goldenRender(t, s)
	if out := os.Getenv("GRID_GOLDEN_OUT"); out != "" {
		os.WriteFile(out, []byte(got), 0o644)
	}
	if os.Getenv("GRID_UPDATE_GOLDEN") == "1" {
		if err := os.WriteFile(goldenFile, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(goldenFile)
	if err != nil {
		t.Fatalf("read golden: %v", err)
	}
	if got != string(want) {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := range min(len(gl), len(wl)) {
			if gl[i] != wl[i] {
				t.Fatalf("golden differs at line %d:\n got: %s\nwant: %s", i+1, gl[i], wl[i])
			}
		}
		t.Fatalf("golden differs in length: got %d lines, want %d", len(gl), len(wl))
	}
	// The same answers after a snapshot round trip.
	sn, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := osPipe(t)
	go func() { sn.WriteTo(pw); pw.Close(); sn.Release() }()
	r, err := Restore(filepath.Join(t.TempDir(), "restored.db"), pr, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if again := goldenRender(t, r); again != got {
		t.Fatal("restored store answers differently")
	}
}

func osPipe(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, w
}
