package eventstore

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestConceptUpsertAndQuery(t *testing.T) {
	s := openTestStore(t, false)
	if err := s.LearnConcept(Concept{ID: "a", Content: "first", Strength: 0.5, Confidence: 0.9, CreatedAt: 42}); err != nil {
		t.Fatal(err)
	}
	if err := s.LearnConcept(Concept{ID: "a", Content: "second", Strength: 1, Confidence: 1, CreatedAt: 43}); err != nil {
		t.Fatal(err)
	}
	c, found, err := s.QueryConcept("a")
	if err != nil || !found {
		t.Fatalf("query: found=%v err=%v", found, err)
	}
	want := Concept{ID: "a", Content: "second", Strength: 1, Confidence: 1, CreatedAt: 43}
	if c != want {
		t.Fatalf("got %+v, want %+v", c, want)
	}
	if _, found, err := s.QueryConcept("missing"); found || err != nil {
		t.Fatalf("missing concept: found=%v err=%v", found, err)
	}
	st, err := s.Stats()
	if err != nil || st.Concepts != 1 {
		t.Fatalf("stats: %+v %v", st, err)
	}
}

func TestConceptValidation(t *testing.T) {
	s := openTestStore(t, true)
	for name, c := range map[string]Concept{
		"empty id":    {ID: ""},
		"long id":     {ID: strings.Repeat("x", MaxIDBytes+1)},
		"nul in id":   {ID: "a\x00b"},
		"big content": {ID: "big", Content: strings.Repeat("x", MaxContentBytes+1)},
	} {
		if err := s.LearnConcept(c); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
	if err := s.LearnConcept(Concept{ID: strings.Repeat("x", MaxIDBytes)}); err != nil {
		t.Errorf("id of exactly the limit: %v", err)
	}
}

func TestAssociationsAndNeighbors(t *testing.T) {
	s := openTestStore(t, true)
	for _, id := range []string{"a", "b", "c", "d"} {
		if err := s.LearnConcept(Concept{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.LearnAssociation("a", "zz", 1, 1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing target: %v", err)
	}
	if err := s.LearnAssociation("zz", "a", 1, 1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing source: %v", err)
	}
	must := func(src, dst string, typ uint32, conf float32) {
		t.Helper()
		if err := s.LearnAssociation(src, dst, typ, conf); err != nil {
			t.Fatal(err)
		}
	}
	must("a", "b", 1, 0.5)
	must("a", "c", 2, 0.7)
	must("a", "b", 1, 0.9) // upsert: same edge, new confidence
	must("c", "d", 3, 1)

	ns, err := s.Neighbors("a", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []Neighbor{{ID: "c", Type: 2, Confidence: 0.7}, {ID: "b", Type: 1, Confidence: 0.9}}
	if !slices.Equal(ns, want) {
		t.Fatalf("neighbors = %+v, want %+v", ns, want)
	}
	if ns, _ := s.Neighbors("a", 1, 0); len(ns) != 1 || ns[0].ID != "b" {
		t.Fatalf("typed neighbors = %+v", ns)
	}
	if ns, _ := s.Neighbors("a", 0, 1); len(ns) != 1 {
		t.Fatalf("limit 1 gave %d", len(ns))
	}
	if ns, _ := s.Neighbors("b", 0, 0); len(ns) != 0 {
		t.Fatalf("b has no outgoing edges, got %+v", ns)
	}
	st, _ := s.Stats()
	if st.Associations != 3 {
		t.Fatalf("associations = %d, want 3", st.Associations)
	}

	// FindPath follows edges both ways: b <- a -> c -> d.
	path, err := s.FindPath("b", "d", 0)
	if err != nil || !slices.Equal(path, []string{"b", "a", "c", "d"}) {
		t.Fatalf("path = %v, %v", path, err)
	}
	if path, _ := s.FindPath("b", "d", 2); path != nil {
		t.Fatalf("depth 2 should not reach d: %v", path)
	}
	if path, _ := s.FindPath("a", "a", 0); !slices.Equal(path, []string{"a"}) {
		t.Fatalf("self path = %v", path)
	}
	if path, _ := s.FindPath("a", "nowhere", 0); path != nil {
		t.Fatalf("path to missing concept = %v", path)
	}
}

func TestDataSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	fill(t, s, 10)
	digest := s.Digest()
	if err := s.LearnConcept(Concept{ID: "kept", Content: "yes"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.LearnConcept(Concept{ID: "x"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after close: %v", err)
	}
	s, err = Open(path, Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.LastSeq() != 10 || s.FirstSeq() != 1 || s.Digest() != digest {
		t.Fatalf("after reopen: last=%d first=%d digest=%s want %s", s.LastSeq(), s.FirstSeq(), s.Digest(), digest)
	}
	if c, found, _ := s.QueryConcept("kept"); !found || c.Content != "yes" {
		t.Fatalf("concept lost: %+v %v", c, found)
	}
}
