package eventstore

import (
	"math"
	"slices"
	"sort"

	"github.com/gridctl/grid/rpc"
)

// memIndex holds the event indexes in memory (store format 3): they are
// derived from the events bucket, rebuilt on Open (rebuild.go) and kept by
// every append and prune after its transaction committed. Readers hold
// Store.idxMu for reading while they use it with their read transaction;
// writers change it under Store.writeMu and Store.idxMu.
//
// Per stored event it keeps its timestamp and type (columns indexed by
// seq - base), its id hash (idTable), one entry in its type's list, in
// each indexed entity's list and in the time index, and for an event whose
// caused_by named stored events, one entry in each cause's caused_in list.
type memIndex struct {
	base  uint64   // seq of ts[0] and typ[0]
	ts    []int64  // timestamp per seq
	typ   []uint32 // type per seq; 0 when no event is stored under it
	sfx   []uint8  // the record's name_suffix per seq (concept names)
	count uint64   // events stored

	// origin: the entity and type lists and the time index hold seqs as
	// 4-byte offsets from it (seqOff); every held seq is >= origin.
	origin uint64

	ids       idTable
	entityIDs map[string]uint32   // every entity ever indexed -> its intern id (bucketEntities)
	byEntity  map[uint32][]uint32 // entity intern id -> seq offsets, ascending
	byType    map[uint32][]uint32 // type -> seq offsets, ascending
	byTime    timeIndex
	causedIn  map[uint64][]uint64 // cause seq -> seqs of the events naming it, ascending
	times     timeMarks
	chunks    timeChunks // per-chunk timestamp bounds (query_timechunks.go)

	// applied counts the events appended since the store was opened, by type.
	applied map[rpc.EventType]uint64
	// names resolves committed intern ids for readers (record.go).
	names *nameCache
}

func newMemIndex() *memIndex {
	return &memIndex{entityIDs: map[string]uint32{}, byEntity: map[uint32][]uint32{}, byType: map[uint32][]uint32{},
		causedIn: map[uint64][]uint64{}, applied: map[rpc.EventType]uint64{}, names: &nameCache{}}
}

// off is seq's offset from origin (seq >= origin, within 2^32).
func (ix *memIndex) off(seq uint64) uint32 { return uint32(seq - ix.origin) }

// seqAt is the seq at an offset.
func (ix *memIndex) seqAt(off uint32) uint64 { return ix.origin + uint64(off) }

// rebase moves origin up to the lowest stored seq when seq is out of the
// offsets' reach from it (after 2^32 appends): every held offset shrinks.
func (ix *memIndex) rebase(seq uint64) {
	if ix.origin == 0 {
		ix.origin = seq
	}
	if seq-ix.origin <= math.MaxUint32 {
		return
	}
	delta := uint32(ix.base - ix.origin) // ix.base <= every held seq
	shift := func(l []uint32) {
		for i := range l {
			l[i] -= delta
		}
	}
	for _, l := range ix.byEntity {
		shift(l)
	}
	for _, l := range ix.byType {
		shift(l)
	}
	for _, ch := range ix.byTime.chunks {
		shift(ch)
	}
	ix.origin = ix.base
}

// has reports whether an event is stored under seq.
func (ix *memIndex) has(seq uint64) bool {
	return seq >= ix.base && seq-ix.base < uint64(len(ix.typ)) && ix.typ[seq-ix.base] != 0
}

// tsOf is the timestamp of the event stored under seq.
func (ix *memIndex) tsOf(seq uint64) int64 { return ix.ts[seq-ix.base] }

// suffixOf is the name_suffix of the event stored under seq.
func (ix *memIndex) suffixOf(seq uint64) uint64 { return uint64(ix.sfx[seq-ix.base]) }

// typOf is the type of the event stored under seq, 0 when none.
func (ix *memIndex) typOf(seq uint64) uint32 {
	if !ix.has(seq) {
		return 0
	}
	return ix.typ[seq-ix.base]
}

// lastIndexed is the highest seq with a column slot (0 when none).
func (ix *memIndex) lastIndexed() uint64 {
	if len(ix.typ) == 0 {
		return 0
	}
	return ix.base + uint64(len(ix.typ)) - 1
}

// firstSeq is the lowest stored seq, 0 when none.
func (ix *memIndex) firstSeq() uint64 {
	for i, t := range ix.typ {
		if t != 0 {
			return ix.base + uint64(i)
		}
	}
	return 0
}

// indexedEvent is what the index keeps of one event.
type indexedEvent struct {
	seq    uint64
	hash   uint64
	ts     int64
	typ    uint32
	suffix uint8     // the record's name_suffix (0, 1 or 2..maxNameSuffix)
	ents   [3]uint32 // intern ids of the indexed entities (indexedEntities)
	nEnts  int
	causes []uint64 // seqs of the stored events its caused_by named
}

// add indexes an event appended after every indexed one.
func (ix *memIndex) add(e *indexedEvent) {
	if len(ix.typ) == 0 {
		ix.base = e.seq
	}
	for ix.base+uint64(len(ix.typ)) < e.seq { // a gap (a migrated file's pruned seqs)
		ix.ts, ix.typ, ix.sfx = append(ix.ts, 0), append(ix.typ, 0), append(ix.sfx, 0)
	}
	ix.ts, ix.typ, ix.sfx = append(ix.ts, e.ts), append(ix.typ, e.typ), append(ix.sfx, e.suffix)
	ix.rebase(e.seq)
	ix.count++
	ix.ids.insert(e.hash, e.seq)
	off := ix.off(e.seq)
	for _, ent := range e.ents[:e.nEnts] {
		ix.byEntity[ent] = append(ix.byEntity[ent], off)
	}
	ix.byType[e.typ] = append(ix.byType[e.typ], off)
	ix.timeInsert(e.seq)
	for _, c := range e.causes {
		ix.causedIn[c] = append(ix.causedIn[c], e.seq)
	}
	ix.times.add(e.seq, e.ts)
	ix.chunks.add(e.seq, e.ts)
}

// remove drops the events in dels (seqs ascending, all indexed) from every
// index: what a committed prune deleted.
func (ix *memIndex) remove(dels []indexedEvent) {
	if len(dels) == 0 {
		return
	}
	byEnt := map[uint32][]uint32{}
	byTyp := map[uint32][]uint32{}
	byCause := map[uint64][]uint64{}
	for i := range dels {
		e := &dels[i]
		off := ix.off(e.seq)
		ix.ids.remove(e.hash, e.seq)
		ix.timeRemove(e.seq)
		for _, ent := range e.ents[:e.nEnts] {
			byEnt[ent] = append(byEnt[ent], off)
		}
		byTyp[e.typ] = append(byTyp[e.typ], off)
		for _, c := range e.causes {
			byCause[c] = append(byCause[c], e.seq)
		}
	}
	for ent, seqs := range byEnt {
		setList(ix.byEntity, ent, removeSorted(ix.byEntity[ent], seqs))
	}
	for t, seqs := range byTyp {
		setList(ix.byType, t, removeSorted(ix.byType[t], seqs))
	}
	for c, seqs := range byCause {
		setList(ix.causedIn, c, removeSorted(ix.causedIn[c], seqs))
	}
	for i := range dels {
		seq := dels[i].seq
		delete(ix.causedIn, seq)
		ix.typ[seq-ix.base] = 0
		ix.count--
	}
	// Drop the column slots before the first stored event.
	skip := 0
	for skip < len(ix.typ) && ix.typ[skip] == 0 {
		skip++
	}
	if skip == len(ix.typ) {
		ix.base += uint64(skip)
		ix.ts, ix.typ, ix.sfx = nil, nil, nil
		return
	}
	ix.base += uint64(skip)
	ix.ts, ix.typ, ix.sfx = ix.ts[skip:], ix.typ[skip:], ix.sfx[skip:]
	if cap(ix.typ) > 2*len(ix.typ)+1024 { // give the pruned front back
		ix.ts, ix.typ, ix.sfx = slices.Clone(ix.ts), slices.Clone(ix.typ), slices.Clone(ix.sfx)
	}
}

// setList stores a list under k, deleting k when it is empty.
func setList[K comparable, V uint32 | uint64](m map[K][]V, k K, l []V) {
	if len(l) == 0 {
		delete(m, k)
		return
	}
	m[k] = l
}

// removeSorted removes the ascending values gone from the ascending list l.
func removeSorted[V uint32 | uint64](l, gone []V) []V {
	if len(gone) <= len(l) && slices.Equal(l[:len(gone)], gone) {
		l = l[len(gone):] // the oldest: the common case
		if cap(l) > 2*len(l)+64 {
			l = slices.Clone(l)
		}
		return l
	}
	out := l[:0]
	j := 0
	for _, s := range l {
		for j < len(gone) && gone[j] < s {
			j++
		}
		if j < len(gone) && gone[j] == s {
			continue
		}
		out = append(out, s)
	}
	return out
}

// seqRange is the part of the ascending offset list l with seqs in [lo, hi].
func (ix *memIndex) seqRange(l []uint32, lo, hi uint64) []uint32 {
	if len(l) == 0 || hi < ix.origin {
		return nil
	}
	loOff := uint64(0)
	if lo > ix.origin {
		loOff = lo - ix.origin
	}
	if loOff > math.MaxUint32 {
		return nil
	}
	hiOff := uint32(min(hi-ix.origin, math.MaxUint32))
	i := sort.Search(len(l), func(i int) bool { return l[i] >= uint32(loOff) })
	j := sort.Search(len(l), func(i int) bool { return l[i] > hiOff })
	if i >= j {
		return nil
	}
	return l[i:j]
}

// contains reports whether the ascending offset list l holds seq.
func (ix *memIndex) contains(l []uint32, seq uint64) bool {
	if seq < ix.origin || seq-ix.origin > math.MaxUint32 {
		return false
	}
	_, ok := slices.BinarySearch(l, ix.off(seq))
	return ok
}

// AppliedByType counts the events appended since the store was opened or
// restored, by type (a restored store starts from zero). Callers compare
// two readings of the same Store to count what was applied in between.
func (s *Store) AppliedByType() map[rpc.EventType]uint64 {
	s.idxMu.RLock()
	defer s.idxMu.RUnlock()
	out := make(map[rpc.EventType]uint64, len(s.ix.applied))
	for t, n := range s.ix.applied {
		out[t] = n
	}
	return out
}
