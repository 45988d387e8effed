package eventstore

import (
	"compress/gzip"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gridctl/grid/rpc"
	bolt "go.etcd.io/bbolt"
)

// TestTimeIndexOrder: the time index lists exactly the indexed seqs in
// (timestamp, seq) order through in-order, out-of-order and equal
// timestamps, chunk splits and removals.
func TestTimeIndexOrder(t *testing.T) {
	ix := newMemIndex()
	rng := rand.New(rand.NewPCG(1, 2))
	type key struct {
		ts  int64
		seq uint64
	}
	var want []key
	for i := 1; i <= 20_000; i++ {
		ts := int64(i)*1000 - int64(rng.IntN(20))*1000 // disorder and ties
		if i%997 == 0 {
			ts = 0 // far back: lands in the first chunk
		}
		ix.add(&indexedEvent{seq: uint64(i), hash: uint64(i), ts: ts, typ: 1})
		want = append(want, key{ts, uint64(i)})
	}
	check := func(phase string) {
		t.Helper()
		slices.SortFunc(want, func(a, b key) int {
			if timeKeyLess(a.ts, a.seq, b.ts, b.seq) {
				return -1
			}
			return 1
		})
		var got []key
		ix.timeRange(-1<<62, 1<<62, func(seq uint64) bool {
			got = append(got, key{ix.tsOf(seq), seq})
			return true
		})
		if !slices.Equal(got, want) {
			t.Fatalf("%s: time index has %d entries, want %d (or out of order)", phase, len(got), len(want))
		}
	}
	check("after appends")
	// Remove a random third (ascending, as a prune does).
	var dels []indexedEvent
	var keep []key
	slices.SortFunc(want, func(a, b key) int { return cmpSeq(a.seq, b.seq) })
	for _, k := range want {
		if rng.IntN(3) == 0 {
			dels = append(dels, indexedEvent{seq: k.seq, hash: k.seq, ts: k.ts, typ: 1})
		} else {
			keep = append(keep, k)
		}
	}
	ix.remove(dels)
	want = keep
	check("after removals")
	if ix.count != uint64(len(keep)) || ix.firstSeq() != keep[0].seq {
		t.Fatalf("count %d first %d, want %d %d", ix.count, ix.firstSeq(), len(keep), keep[0].seq)
	}
}

// TestIDTable: every (hash, seq) inserted is found under its hash (with
// the seqs of hashes sharing its kept bits), with colliding hashes, growth,
// removals (backward shift) and seqs far apart (offset rebase) in between.
func TestIDTable(t *testing.T) {
	var tab idTable
	want := map[uint32][]uint64{} // by idTag
	rng := rand.New(rand.NewPCG(5, 6))
	add := func(h, seq uint64) {
		tab.insert(h, seq)
		want[idTag(h)] = append(want[idTag(h)], seq)
	}
	for seq := uint64(1); seq <= 50_000; seq++ {
		h := rng.Uint64()
		if seq%10 == 0 {
			h = seq%7<<32 | seq // many seqs under a few tags
		}
		add(h, seq)
		if seq%3 == 0 { // remove an earlier one
			for tag, seqs := range want {
				i := rng.IntN(len(seqs))
				tab.remove(uint64(tag)<<32, seqs[i])
				if want[tag] = slices.Delete(seqs, i, i+1); len(want[tag]) == 0 {
					delete(want, tag)
				}
				break
			}
		}
	}
	n := 0
	for tag, seqs := range want {
		var got []uint64
		tab.each(uint64(tag)<<32, func(seq uint64) bool { got = append(got, seq); return true })
		slices.Sort(got)
		slices.Sort(seqs)
		if !slices.Equal(got, seqs) {
			t.Fatalf("tag %d: got %v, want %v", tag, got, seqs)
		}
		n += len(seqs)
	}
	if tab.n != n {
		t.Fatalf("table holds %d, want %d", tab.n, n)
	}
	// Seqs beyond a 32-bit offset from the first ones, once those are gone:
	// the offsets count from a new origin.
	var far idTable
	far.insert(1<<32, 5)
	far.insert(2<<32, 6)
	far.remove(1<<32, 5)
	far.insert(3<<32, 1<<32+4) // 2^32-1 after 5, 2^32-2 after 6
	far.remove(2<<32, 6)
	far.insert(4<<32, 1<<33)   // 2^32-4 after 1<<32+4
	far.insert(5<<32, 1<<32+3) // below the origin
	for h, seq := range map[uint64]uint64{3: 1<<32 + 4, 4: 1 << 33, 5: 1<<32 + 3} {
		var got []uint64
		far.each(h<<32, func(s uint64) bool { got = append(got, s); return true })
		if !slices.Equal(got, []uint64{seq}) {
			t.Fatalf("far seqs: hash %d: got %v, want %d", h, got, seq)
		}
	}
}

// TestFailedAppendLeavesNoTrace: an append whose transaction fails leaves
// the indexes as they were: nothing of it is found, and the same events
// append afterwards with the seqs they would have had.
func TestFailedAppendLeavesNoTrace(t *testing.T) {
	s := openTestStore(t, true)
	fill(t, s, 10)
	// 66 events of one type and timestamp take the names -, -2..-64 and
	// then -s{seq}; a concept already named -s76 makes the 66th fail.
	if err := s.LearnConcept(Concept{ID: fmt.Sprintf("event-%s-%d-s76", crashed.Name(), base+7), Strength: 1, Confidence: 1}); err != nil {
		t.Fatal(err)
	}
	var batch []*rpc.Event
	for i := range 66 {
		batch = append(batch, ev(fmt.Sprintf("same-%d", i), crashed, "node-x", base+7, map[string]string{CausedByDetail: "e3"}))
	}
	if _, err := s.AppendEvents(batch); err == nil {
		t.Fatal("append of a 66th same-named event succeeded")
	}
	if s.LastSeq() != 10 {
		t.Fatalf("last seq %d after a failed append", s.LastSeq())
	}
	if n, _ := s.CountEvents(Filter{Entities: []string{"node-x"}}); n != 0 {
		t.Fatalf("%d events of the failed append indexed", n)
	}
	if got, _ := s.EventsByID([]string{"same-0", "same-64"}); len(got) != 0 {
		t.Fatalf("failed append's events found by id: %v", seqsOf(got))
	}
	if got, _ := s.Events(Filter{Since: base + 7, Until: base + 8}); len(got) != 0 {
		t.Fatalf("failed append's events found by time: %v", seqsOf(got))
	}
	s.idxMu.RLock()
	if len(s.ix.causedIn) != 0 || s.ix.count != 10 || len(s.ix.entityIDs) != 3 {
		t.Errorf("index after a failed append: caused_in %v, %d events, entities %v", s.ix.causedIn, s.ix.count, s.ix.entityIDs)
	}
	s.idxMu.RUnlock()
	stored, err := s.AppendEvents(batch[:65])
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 65 || stored[0].GetSeq() != 11 || stored[64].GetSeq() != 75 {
		t.Fatalf("re-append stored %v", seqsOf(stored))
	}
	if n, _ := s.CountEvents(Filter{Entities: []string{"node-x"}, Types: []rpc.EventType{crashed}}); n != 65 {
		t.Fatalf("%d events indexed after the re-append, want 65", n)
	}
}

// TestMigrateV2ToV3: a format-2 file (testdata/store_v2.db.gz: the golden
// input written by the format-2 code, its index buckets included) opens
// as format 3 in place, without the index buckets, and answers every
// golden query as before; a format-2 snapshot stream restores the same way.
func TestMigrateV2ToV3(t *testing.T) {
	const v2Digest = "7bed247df1eff3dd62cea1c827df39e1d82b07059538d24590bfb29d69c7c20a"
	open := func() io.Reader {
		f, err := os.Open("testdata/store_v2.db.gz")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		return zr
	}
	path := filepath.Join(t.TempDir(), "graph.db")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(f, open()); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if v, err := fileFormat(path); err != nil || v != 2 {
		t.Fatalf("fixture format %d, %v", v, err)
	}
	s, err := Open(path, Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("open a format-2 file: %v", err)
	}
	if got := goldenRender(t, s); got != goldenWant(t) {
		t.Fatal("the migrated store answers differently from format 2")
	}
	if s.Digest() != v2Digest {
		t.Fatalf("digest %s, want %s", s.Digest(), v2Digest)
	}
	s.view(func(tx *bolt.Tx) error {
		if v := readFormat(tx); v != formatVersion {
			t.Errorf("format %d after migration", v)
		}
		for _, name := range formatV2IndexBuckets {
			if tx.Bucket(name) != nil {
				t.Errorf("bucket %s kept", name)
			}
		}
		return nil
	})
	s.Close()
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	if got := goldenRender(t, s); got != goldenWant(t) {
		t.Fatal("the reopened store answers differently")
	}
	s.Close()
	r, err := Restore(filepath.Join(t.TempDir(), "events.db"), open(), Options{NoSync: true})
	if err != nil {
		t.Fatalf("restore a format-2 snapshot: %v", err)
	}
	defer r.Close()
	if got := goldenRender(t, r); got != goldenWant(t) || r.Digest() != v2Digest {
		t.Fatal("the restored format-2 snapshot answers differently")
	}
}

// TestReadersSeeConsistentIndex: while one writer appends and prunes the
// oldest events, readers asking for the oldest 100 events always get 100
// (never a seq whose event is gone) in ascending order, and by id find
// what they found by seq. Run with -race.
func TestReadersSeeConsistentIndex(t *testing.T) {
	s := openTestStore(t, true)
	next := 0
	appendN := func(n int) {
		var batch []*rpc.Event
		for range n {
			batch = append(batch, ev(fmt.Sprintf("c-%d", next), crashed, fmt.Sprintf("node-%d", next%5), base+int64(next)*1000, nil))
			next++
		}
		if _, err := s.AppendEvents(batch); err != nil {
			t.Error(err)
		}
	}
	appendN(500)
	var stop atomic.Bool
	var wg sync.WaitGroup
	for r := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				f := Filter{Limit: 100, Ascending: true}
				if r == 1 {
					f.Types = []rpc.EventType{crashed}
				}
				if r == 2 {
					f.Since = base
				}
				got, err := s.Events(f)
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) != 100 || !slices.IsSorted(seqsOf(got)) {
					t.Errorf("reader %d: %d events", r, len(got))
					return
				}
				byID, err := s.EventsByID([]string{got[99].GetId()})
				if err != nil || (len(byID) == 1 && byID[0].GetSeq() != got[99].GetSeq()) {
					t.Errorf("reader %d: by id %v, %v", r, seqsOf(byID), err)
					return
				}
			}
		}()
	}
	for range 200 {
		appendN(50)
		if _, err := s.Prune(0, 300); err != nil {
			t.Error(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if n, _ := s.CountEvents(Filter{}); n != 300 {
		t.Fatalf("%d events left, want 300", n)
	}
}

// TestAppliedByType counts appended events by type from the open (not
// what was there before), unchanged by a prune, from zero after a restore.
func TestAppliedByType(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	fill(t, s, 9) // 3 of each of 3 types
	if got := s.AppliedByType(); got[rpc.EventType_SPAWN_FAILED] != 3 || got[crashed] != 3 || len(got) != 3 {
		t.Fatalf("applied %v", got)
	}
	s.AppendEvents([]*rpc.Event{ev("x", crashed, "n", base, nil), ev("x", crashed, "n", base, nil)}) // one stored
	s.Prune(0, 2)
	if got := s.AppliedByType(); got[crashed] != 4 {
		t.Fatalf("applied %v", got)
	}
	s.Close()
	s, err = Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.AppliedByType(); len(got) != 0 {
		t.Fatalf("applied %v after reopening", got)
	}
}

// TestIndexOffsetsRebase: the lists and the time index hold seqs as 32-bit
// offsets; a seq 2^32 past the origin moves the origin to the lowest
// stored seq, and every index still answers.
func TestIndexOffsetsRebase(t *testing.T) {
	ix := newMemIndex()
	add := func(seq uint64, ts int64) {
		ix.add(&indexedEvent{seq: seq, hash: seq << 32, ts: ts, typ: 7, ents: [3]uint32{1}, nEnts: 1})
	}
	for seq := uint64(1); seq <= 10; seq++ {
		add(seq, int64(seq))
	}
	var dels []indexedEvent
	for seq := uint64(1); seq <= 5; seq++ {
		dels = append(dels, indexedEvent{seq: seq, hash: seq << 32, ts: int64(seq), typ: 7, ents: [3]uint32{1}, nEnts: 1})
	}
	ix.remove(dels)
	if ix.origin != 1 || ix.base != 6 {
		t.Fatalf("origin %d base %d", ix.origin, ix.base)
	}
	ix.rebase(1<<32 + 3) // what add does first for that seq (1 + 2^32 + 2)
	if ix.origin != 6 {
		t.Fatalf("origin %d after rebase, want 6", ix.origin)
	}
	want := []uint64{6, 7, 8, 9, 10}
	var got []uint64
	ix.timeRange(0, 100, func(seq uint64) bool { got = append(got, seq); return true })
	if !slices.Equal(got, want) {
		t.Fatalf("time index after rebase: %v", got)
	}
	got = mergeLists([][]uint32{ix.seqRange(ix.byEntity[1], 1, 100)}, ix.origin, plan{asc: true, limit: 100}, func(uint64) bool { return true })
	if !slices.Equal(got, want) {
		t.Fatalf("entity list after rebase: %v", got)
	}
	if !ix.contains(ix.byType[7], 8) || ix.contains(ix.byType[7], 5) {
		t.Fatal("type list after rebase")
	}
}
