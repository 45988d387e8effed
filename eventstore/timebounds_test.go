package eventstore

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gridctl/grid/rpc"
	bolt "go.etcd.io/bbolt"
)

// TestTimeBoundsExact: time-bounded queries answer exactly what a full
// scan does while timestamps arrive out of order (small disorder, then one
// late event), and the bounds do narrow the range while disorder is small.
func TestTimeBoundsExact(t *testing.T) {
	s := openTestStore(t, true)
	rng := rand.New(rand.NewPCG(3, 4))
	types := []rpc.EventType{crashed, restarted, offline}
	var all []*rpc.Event
	appendN := func(n int, late bool) {
		var batch []*rpc.Event
		for range n {
			i := len(all) + len(batch)
			ts := base + int64(i)*1000 - int64(rng.IntN(20))*1000 // up to 20 ms back
			if late && len(batch) == n/2 {
				ts = base // one event hours late
			}
			batch = append(batch, ev(fmt.Sprintf("tb-%d", i), types[rng.IntN(len(types))], fmt.Sprintf("node-%d", rng.IntN(7)), ts, nil))
		}
		stored, err := s.AppendEvents(batch)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, stored...)
	}
	check := func(phase string) {
		for q := range 300 {
			since := base + int64(rng.IntN(len(all)))*1000
			f := Filter{Since: since, Until: since + int64(1+rng.IntN(3000))*1000, Limit: 1 + rng.IntN(150), Ascending: q%2 == 0}
			if q%3 != 0 {
				f.Types = []rpc.EventType{types[q%len(types)]}
			}
			if q%5 == 0 {
				f.Entities = []string{fmt.Sprintf("node-%d", q%7)}
			}
			if q%7 == 0 {
				f.Since = 0
			}
			got, err := s.Events(f)
			if err != nil {
				t.Fatal(err)
			}
			var want []uint64
			for _, e := range all {
				ts := e.GetTimestamp()
				if (f.Since != 0 && ts < f.Since) || ts >= f.Until || (f.Types != nil && !slices.Contains(f.Types, e.GetType())) ||
					(f.Entities != nil && !slices.Contains(f.Entities, e.GetEntityId())) {
					continue
				}
				want = append(want, e.GetSeq())
			}
			if !f.Ascending {
				slices.Reverse(want)
			}
			want = want[:min(len(want), f.Limit)]
			if !slices.Equal(seqsOf(got), want) {
				t.Fatalf("%s: %+v: got %v, want %v", phase, f, seqsOf(got), want)
			}
		}
	}
	appendN(20_000, false)
	check("small disorder")
	// The bounds narrow: a window in the middle starts far from seq 1.
	s.view(func(*bolt.Tx) error {
		p := s.ix.narrowByTime(newPlan(Filter{Since: base + 10_000_000, Until: base + 11_000_000}, false))
		if p.lo < 8000 || p.hi > 16_000 {
			t.Errorf("bounds not narrowed: [%d, %d]", p.lo, p.hi)
		}
		return nil
	})
	appendN(10_000, true)
	check("after a late event")
	if _, err := s.Prune(base+5_000_000, 0); err != nil {
		t.Fatal(err)
	}
	all = slices.DeleteFunc(all, func(e *rpc.Event) bool { return e.GetTimestamp() < base+5_000_000 })
	check("after prune")
}
