package eventstore

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gridctl/grid/rpc"
	bolt "go.etcd.io/bbolt"
)

// TestTimeChunksExact: with the store's first event an hour newer than the
// history loaded after it (as a cluster's leader_elected before a
// backdated load), the running-maximum bounds narrow nothing, the chunks
// still skip to the window, and every time-bounded query (types, several
// entities merged, both orders, limits) answers what a full scan does,
// also after a late event and a prune.
func TestTimeChunksExact(t *testing.T) {
	s := openTestStore(t, true)
	rng := rand.New(rand.NewPCG(5, 6))
	types := []rpc.EventType{crashed, restarted, offline}
	const hour = int64(3600_000_000)
	var all []*rpc.Event
	add := func(batch []*rpc.Event) {
		stored, err := s.AppendEvents(batch)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, stored...)
	}
	add([]*rpc.Event{ev("first", offline, "cluster", base+hour, nil)})
	appendN := func(n int, late bool) {
		var batch []*rpc.Event
		for range n {
			i := len(all) + len(batch)
			ts := base + int64(i)*1000 - int64(rng.IntN(50))*1000
			if late && len(batch) == n/2 {
				ts = base - hour // one event very late
			}
			batch = append(batch, ev(fmt.Sprintf("tc-%d", i), types[(i/700)%len(types)], fmt.Sprintf("node-%d", rng.IntN(5)), ts, nil))
		}
		add(batch)
	}
	check := func(phase string) {
		t.Helper()
		for q := range 400 {
			since := base + int64(rng.IntN(len(all)+2000))*1000 - 1_000_000
			f := Filter{Since: since, Until: since + int64(1+rng.IntN(5000))*1000, Limit: 1 + rng.IntN(150), Ascending: q%2 == 0}
			switch q % 4 {
			case 0:
				f.Types = []rpc.EventType{types[q%len(types)]}
			case 1:
				f.Types = []rpc.EventType{types[q%len(types)], types[(q+1)%len(types)]}
			case 2:
				f.Entities = []string{fmt.Sprintf("node-%d", q%5), fmt.Sprintf("node-%d", (q+2)%5)}
			default:
				f.Entities = []string{fmt.Sprintf("node-%d", q%5)}
				f.Types = []rpc.EventType{types[q%len(types)]}
			}
			if q%9 == 0 {
				f.Since = 0
			}
			if q%11 == 0 {
				f.After = uint64(rng.IntN(len(all) + 1))
			}
			got, err := s.Events(f)
			if err != nil {
				t.Fatal(err)
			}
			var want []uint64
			for _, e := range all {
				ts := e.GetTimestamp()
				if (f.Since != 0 && ts < f.Since) || ts >= f.Until || e.GetSeq() <= f.After ||
					(f.Types != nil && !slices.Contains(f.Types, e.GetType())) ||
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
	appendN(40_000, false)
	check("first event newest")
	s.view(func(*bolt.Tx) error {
		p := newPlan(Filter{Since: base + 30_000_000, Until: base + 31_000_000}, false)
		if q := s.ix.narrowByTime(p); q.lo > 1 || q.hi < 40_000 {
			t.Errorf("running-maximum bounds narrowed [%d, %d]: the test no longer shows what the chunks are for", q.lo, q.hi)
		}
		ws := s.ix.chunks.windows(s.ix.narrowByTime(p))
		n := uint64(0)
		for _, w := range ws {
			n += w.hi - w.lo + 1
		}
		if n > 4*timeMarkEvery {
			t.Errorf("chunks did not narrow: %d seqs in %v", n, ws)
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
