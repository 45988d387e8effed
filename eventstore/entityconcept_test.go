package eventstore

import (
	"path/filepath"
	"strconv"
	"testing"

	"github.com/gridctl/grid/rpc"

	bolt "go.etcd.io/bbolt"
)

// TestEntityConceptDerived: an entity's concept (strength and confidence 1,
// created at its first event) is derived from its entities entry and read,
// counted, overridden and recreated as when it was stored: a concept that
// already had the name stands for it; a learned one wins; an entity whose
// name was an event's concept gets its own at its next event once that
// event is pruned. Nothing of it is stored in the concepts bucket.
func TestEntityConceptDerived(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "s.db"), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.LearnConcept(Concept{ID: "node-known", Content: "x", Strength: 0.5, Confidence: 0.5, CreatedAt: 3}); err != nil {
		t.Fatal(err)
	}
	evName := eventConceptPrefix + crashed.Name() + "-" + strconv.FormatInt(base, 10)
	if _, err := s.AppendEvents([]*rpc.Event{
		ev("a1", crashed, "node-a", base, nil),
		ev("a2", crashed, "node-a", base+5, nil),
		ev("k1", crashed, "node-known", base+6, nil),
	}); err != nil {
		t.Fatal(err)
	}
	// An entity named as an existing event concept.
	if _, err := s.AppendEvents([]*rpc.Event{ev("n1", crashed, evName, base+2_000_000, nil)}); err != nil {
		t.Fatal(err)
	}
	want := func(id string, c Concept, found bool) {
		t.Helper()
		got, ok, err := s.QueryConcept(id)
		if err != nil || ok != found || (found && got != c) {
			t.Fatalf("concept %s: %+v %v %v, want %+v %v", id, got, ok, err, c, found)
		}
	}
	want("node-a", Concept{ID: "node-a", Strength: 1, Confidence: 1, CreatedAt: base}, true)
	want("node-known", Concept{ID: "node-known", Content: "x", Strength: 0.5, Confidence: 0.5, CreatedAt: 3}, true)
	if c, ok, _ := s.QueryConcept(evName); !ok || c.Content == "" {
		t.Fatalf("event concept %s: %+v %v", evName, c, ok)
	}
	// 4 events, ts-{base}, ts-{base+2s}, node-a, node-known (learned), evName (the event's).
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Concepts != 4+2+2 {
		t.Fatalf("concepts %d, want 8", st.Concepts)
	}
	if err := s.view(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketConcepts).Get([]byte("node-a")) != nil {
			t.Error("node-a's concept is stored")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// A learned concept over the derived one wins.
	if err := s.LearnConcept(Concept{ID: "node-a", Content: "learned", Strength: 0.2, Confidence: 1, CreatedAt: 9}); err != nil {
		t.Fatal(err)
	}
	want("node-a", Concept{ID: "node-a", Content: "learned", Strength: 0.2, Confidence: 1, CreatedAt: 9}, true)
	// Prune the event whose concept named evName: the entity has no
	// concept until its next event creates one.
	if _, err := s.Prune(base+1, 0); err != nil {
		t.Fatal(err)
	}
	want(evName, Concept{}, false)
	if _, err := s.AppendEvents([]*rpc.Event{ev("n2", crashed, evName, base+3_000_000, nil)}); err != nil {
		t.Fatal(err)
	}
	want(evName, Concept{ID: evName, Strength: 1, Confidence: 1, CreatedAt: base + 3_000_000}, true)
	st2, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	// -1 pruned event and its concept, +1 event, +1 ts-, +1 entity concept.
	if st2.Concepts != st.Concepts+2 {
		t.Fatalf("concepts %d, want %d", st2.Concepts, st.Concepts+2)
	}
}
