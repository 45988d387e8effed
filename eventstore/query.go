package eventstore

import (
	"container/heap"
	"fmt"
	"math"
	"slices"

	"github.com/gridctl/grid/rpc"
	bolt "go.etcd.io/bbolt"
)

// Event query limits.
const (
	// DefaultEventLimit is used when Filter.Limit is 0.
	DefaultEventLimit = 100
	// MaxEventLimit caps Filter.Limit.
	MaxEventLimit = 10000
	// probeCap bounds the entries counted when estimating how selective an
	// index is.
	probeCap = 2048
)

// Filter selects events. Every set field must match (types and entities
// match any of their values).
type Filter struct {
	Types     []rpc.EventType // any of these; empty = any type
	Entities  []string        // indexed under any of these (entity_id, details agent_id/node_id)
	Since     int64           // unix micros inclusive, 0 = unbounded
	Until     int64           // unix micros exclusive, 0 = unbounded
	After     uint64          // only seq > After
	Limit     int             // 0 = DefaultEventLimit; capped at MaxEventLimit
	Ascending bool            // seq ascending; default newest first (seq descending)
}

// plan is a normalised filter.
type plan struct {
	types    map[rpc.EventType]bool
	entities []string
	since    int64 // inclusive
	until    int64 // exclusive
	lo, hi   uint64
	limit    int
	asc      bool
	empty    bool // nothing can match
}

func newPlan(f Filter, counting bool) plan {
	p := plan{lo: f.After + 1, hi: math.MaxUint64, asc: f.Ascending, since: math.MinInt64, until: math.MaxInt64}
	if f.After == math.MaxUint64 {
		p.empty = true
	}
	switch {
	case counting:
		p.limit = math.MaxInt
	case f.Limit <= 0:
		p.limit = DefaultEventLimit
	default:
		p.limit = min(f.Limit, MaxEventLimit)
	}
	if len(f.Types) > 0 {
		p.types = make(map[rpc.EventType]bool, len(f.Types))
		for _, t := range f.Types {
			p.types[t] = true
		}
	}
	if len(f.Entities) > 0 {
		for _, e := range f.Entities {
			if validateID(e) == nil && !slices.Contains(p.entities, e) {
				p.entities = append(p.entities, e)
			}
		}
		slices.Sort(p.entities)
		if len(p.entities) == 0 {
			p.empty = true
		}
	}
	if f.Since != 0 {
		p.since = f.Since
	}
	if f.Until != 0 {
		p.until = f.Until
	}
	if p.until <= p.since {
		p.empty = true
	}
	return p
}

func (p plan) timeBounded() bool { return p.since != math.MinInt64 || p.until != math.MaxInt64 }

func (p plan) inTime(ts int64) bool { return ts >= p.since && ts < p.until }

func (p plan) typeOK(t rpc.EventType) bool { return p.types == nil || p.types[t] }

// Events returns the events matching f, newest first unless f.Ascending. It
// walks the most selective in-memory index for the filter and reads only
// the events it returns.
func (s *Store) Events(f Filter) ([]*rpc.Event, error) {
	p := newPlan(f, false)
	var out []*rpc.Event
	err := s.view(func(tx *bolt.Tx) error {
		if p.empty {
			return nil
		}
		seqs := s.ix.matchSeqs(p)
		out = make([]*rpc.Event, 0, len(seqs))
		in := newInterner(tx)
		in.shared = s.ix.names
		// One cursor for every lookup (a Bucket.Get makes a cursor, and
		// its search stack, per call); the records are read first so
		// their total size sizes the slab the results are cut from.
		c := newSeqCursor(tx.Bucket(bucketEvents))
		recs, size := c.records(seqs)
		sl := newEventSlab(len(seqs), size)
		for i, v := range recs {
			if v == nil {
				continue
			}
			r, err := decodeRecordIn(v, seqs[i], in, sl)
			if err != nil {
				return err
			}
			out = append(out, r.ev)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("query events: %w", err)
	}
	return out, nil
}

// CountEvents counts the events matching f; f.Limit is ignored.
func (s *Store) CountEvents(f Filter) (uint64, error) {
	p := newPlan(f, true)
	var n uint64
	err := s.view(func(*bolt.Tx) error {
		switch {
		case p.empty:
		case p.types == nil && p.entities == nil && !p.timeBounded() && p.lo == 1:
			n = s.ix.count
		default:
			n = uint64(len(s.ix.matchSeqs(p)))
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("count events: %w", err)
	}
	return n, nil
}

// matchSeqs returns the matching seqs in result order, at most p.limit. It
// walks the index with the fewest entries in range: the entity or type
// lists (stopping at the limit), the time index only when strictly smaller,
// else every seq.
func (ix *memIndex) matchSeqs(p plan) []uint64 {
	p = ix.narrowByTime(p)
	if p.lo > p.hi {
		return nil
	}
	var entLists, typLists [][]uint32
	best, bestN := indexSeq, math.MaxInt
	if p.entities != nil {
		n := 0
		for _, e := range p.entities {
			if id := ix.entityIDs[e]; id != 0 {
				if l := ix.seqRange(ix.byEntity[id], p.lo, p.hi); len(l) > 0 {
					entLists = append(entLists, l)
					n += len(l)
				}
			}
		}
		best, bestN = indexEntity, n
	}
	if p.types != nil {
		n := 0
		for _, t := range sortedTypes(p) {
			if l := ix.seqRange(ix.byType[uint32(t)], p.lo, p.hi); len(l) > 0 {
				typLists = append(typLists, l)
				n += len(l)
			}
		}
		if n < bestN {
			best, bestN = indexType, n
		}
	}
	if p.timeBounded() {
		if best == indexSeq {
			best = indexTime
		} else if n := ix.probeTime(p); n < bestN && n < probeCap {
			best = indexTime
		}
	}
	switch best {
	case indexEntity:
		return ix.mergeWindowed(entLists, p, func(seq uint64) bool {
			return p.typeOK(eventType(ix.typOf(seq))) && p.inTime(ix.tsOf(seq))
		})
	case indexType:
		return ix.mergeWindowed(typLists, p, func(seq uint64) bool { return p.inTime(ix.tsOf(seq)) })
	case indexTime:
		return ix.scanTime(p, entLists)
	default:
		return ix.scanSeqs(p)
	}
}

// index names the index a plan walks.
type index int

const (
	indexSeq index = iota
	indexEntity
	indexType
	indexTime
)

func sortedTypes(p plan) []rpc.EventType {
	types := make([]rpc.EventType, 0, len(p.types))
	for t := range p.types {
		types = append(types, t)
	}
	slices.Sort(types)
	return types
}

// mergeLists merges ascending lists of seq offsets from origin (already
// cut to [p.lo, p.hi]) in result order, keeping seqs that pass keep,
// deduplicated, up to p.limit.
func mergeLists(lists [][]uint32, origin uint64, p plan, keep func(seq uint64) bool) []uint64 {
	var out []uint64
	if len(lists) == 1 { // one list: no merge
		l := lists[0]
		for i := range l {
			seq := origin + uint64(l[i])
			if !p.asc {
				seq = origin + uint64(l[len(l)-1-i])
			}
			if keep(seq) {
				out = append(out, seq)
				if len(out) >= p.limit {
					break
				}
			}
		}
		return out
	}
	// pos[i] counts the entries of lists[i] consumed from the walk's end.
	pos := make([]int, len(lists))
	at := func(i int) (uint64, bool) {
		l := lists[i]
		if pos[i] >= len(l) {
			return 0, false
		}
		if p.asc {
			return origin + uint64(l[pos[i]]), true
		}
		return origin + uint64(l[len(l)-1-pos[i]]), true
	}
	last, haveLast := uint64(0), false
	for len(out) < p.limit {
		pick := -1
		var pickSeq uint64
		for i := range lists {
			seq, ok := at(i)
			if !ok {
				continue
			}
			if pick < 0 || (p.asc && seq < pickSeq) || (!p.asc && seq > pickSeq) {
				pick, pickSeq = i, seq
			}
		}
		if pick < 0 {
			break
		}
		if !(haveLast && pickSeq == last) && keep(pickSeq) {
			out = append(out, pickSeq)
			last, haveLast = pickSeq, true
		}
		pos[pick]++
	}
	return out
}

// scanSeqs walks every stored seq in [p.lo, p.hi] in result order.
func (ix *memIndex) scanSeqs(p plan) []uint64 {
	if len(ix.typ) == 0 {
		return nil
	}
	lo, hi := max(p.lo, ix.base), min(p.hi, ix.lastIndexed())
	var out []uint64
	for i := uint64(0); lo <= hi && i <= hi-lo && len(out) < p.limit; i++ {
		seq := lo + i
		if !p.asc {
			seq = hi - i
		}
		if ix.typ[seq-ix.base] != 0 {
			out = append(out, seq)
		}
	}
	return out
}

// probeTime counts the time index entries in the window, up to probeCap.
func (ix *memIndex) probeTime(p plan) int {
	n := 0
	ix.timeRange(p.since, p.until, func(uint64) bool {
		n++
		return n < probeCap
	})
	return n
}

// scanTime reads the whole time window and keeps the first p.limit matching
// seqs in result order; entLists (the plan's entities' lists, cut to
// [p.lo, p.hi]) decide the entity filter.
func (ix *memIndex) scanTime(p plan, entLists [][]uint32) []uint64 {
	top := &seqHeap{asc: p.asc}
	ix.timeRange(p.since, p.until, func(seq uint64) bool {
		if seq < p.lo || seq > p.hi || !p.typeOK(eventType(ix.typOf(seq))) {
			return true
		}
		if p.entities != nil && !slices.ContainsFunc(entLists, func(l []uint32) bool { return ix.contains(l, seq) }) {
			return true
		}
		if top.Len() < p.limit {
			heap.Push(top, seq)
		} else if top.better(seq, top.s[0]) {
			top.s[0] = seq
			heap.Fix(top, 0)
		}
		return true
	})
	out := top.s
	slices.Sort(out)
	if !p.asc {
		slices.Reverse(out)
	}
	return out
}
