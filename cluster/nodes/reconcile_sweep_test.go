package nodes

import (
	"slices"
	"testing"
)

// TestOrphanSweepCoversEveryAgent checks that successive passes of the
// orphan sweep visit every nodeless agent in turn, wrapping around, and
// that a cursor whose agent went away still moves on.
func TestOrphanSweepCoversEveryAgent(t *testing.T) {
	ids := []string{"a1", "a2", "a3", "a4", "a5"}
	var s orphanSweep
	var got [][]string
	for range 3 {
		got = append(got, s.take(ids, 2))
	}
	want := [][]string{{"a1", "a2"}, {"a3", "a4"}, {"a5", "a1"}}
	for i := range want {
		if !slices.Equal(got[i], want[i]) {
			t.Fatalf("pass %d took %v, want %v (all: %v)", i, got[i], want[i], got)
		}
	}
	// The cursor's agent (a1) unregistered: the sweep continues after it.
	if next := s.take([]string{"a2", "a3", "a9"}, 2); !slices.Equal(next, []string{"a2", "a3"}) {
		t.Errorf("after a removed cursor took %v, want [a2 a3]", next)
	}
	// A budget covering everyone takes everyone.
	if all := s.take(ids, 10); !slices.Equal(all, ids) {
		t.Errorf("full budget took %v", all)
	}
	if none := s.take(nil, 3); len(none) != 0 {
		t.Errorf("empty list took %v", none)
	}
}
