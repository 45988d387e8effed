package eventstore

import (
	"bytes"
	"container/heap"
	"encoding/binary"
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
// scans the most selective index for the filter; it never reads the whole
// store when a filter is given.
func (s *Store) Events(f Filter) ([]*rpc.Event, error) {
	p := newPlan(f, false)
	var out []*rpc.Event
	err := s.view(func(tx *bolt.Tx) error {
		if p.empty {
			return nil
		}
		seqs := matchSeqs(tx, p)
		out = make([]*rpc.Event, 0, len(seqs))
		in := newInterner(tx)
		for _, seq := range seqs {
			e, err := loadEventWith(tx, in, seq)
			if err != nil {
				return err
			}
			if e != nil {
				out = append(out, e)
			}
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
	err := s.view(func(tx *bolt.Tx) error {
		switch {
		case p.empty:
		case p.types == nil && p.entities == nil && !p.timeBounded() && p.lo == 1:
			n = getUint(tx.Bucket(bucketMeta), metaEvents)
		default:
			n = uint64(len(matchSeqs(tx, p)))
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("count events: %w", err)
	}
	return n, nil
}

// index names the index a plan scans.
type index int

const (
	indexSeq index = iota
	indexEntity
	indexType
	indexTime
)

// chooseIndex picks the index with the fewest entries in range. Entity and
// type scans stop at the limit, so time wins only when strictly smaller.
func chooseIndex(tx *bolt.Tx, p plan) index {
	best, bestN := indexSeq, uint64(math.MaxUint64)
	if p.entities != nil {
		best, bestN = indexEntity, probeStreams(tx.Bucket(bucketByEntity), entityPrefixes(tx, p), p)
	}
	if p.types != nil {
		if n := probeStreams(tx.Bucket(bucketByType), typePrefixes(p), p); n < bestN {
			best, bestN = indexType, n
		}
	}
	if p.timeBounded() {
		if best == indexSeq {
			return indexTime
		}
		if n := probeTime(tx, p); n < bestN && n < probeCap {
			best = indexTime
		}
	}
	return best
}

// matchSeqs returns the matching seqs in result order, at most p.limit.
func matchSeqs(tx *bolt.Tx, p plan) []uint64 {
	p = narrowByTime(tx, p)
	if p.lo > p.hi {
		return nil
	}
	switch chooseIndex(tx, p) {
	case indexEntity:
		return mergeStreams(tx.Bucket(bucketByEntity), entityPrefixes(tx, p), p, func(v []byte) bool {
			t, n := binary.Uvarint(v)
			if n <= 0 {
				return false
			}
			ts, m := binary.Varint(v[n:])
			return m > 0 && p.typeOK(rpc.EventType(int32(uint32(t)))) && p.inTime(ts)
		})
	case indexType:
		return mergeStreams(tx.Bucket(bucketByType), typePrefixes(p), p, func(v []byte) bool {
			ts, n := binary.Varint(v)
			return n > 0 && p.inTime(ts)
		})
	case indexTime:
		return scanTime(tx, p)
	default:
		return mergeStreams(tx.Bucket(bucketEvents), [][]byte{nil}, p, func([]byte) bool { return true })
	}
}

// entityPrefixes are the entity index prefixes (intern ids) of the plan's
// entities; entities never indexed have none.
func entityPrefixes(tx *bolt.Tx, p plan) [][]byte {
	out := make([][]byte, 0, len(p.entities))
	for _, e := range p.entities {
		if id := entityID(tx, e); id != 0 {
			out = append(out, encodeUint32(id))
		}
	}
	return out
}

func typePrefixes(p plan) [][]byte {
	types := make([]rpc.EventType, 0, len(p.types))
	for t := range p.types {
		types = append(types, t)
	}
	slices.Sort(types)
	out := make([][]byte, len(types))
	for i, t := range types {
		out[i] = encodeUint32(uint32(t))
	}
	return out
}

// seqIter walks keys prefix+seq(8) with seq in [lo, hi] in one direction.
type seqIter struct {
	c      *bolt.Cursor
	prefix []byte
	lo, hi uint64
	asc    bool
	k, v   []byte
}

func newSeqIter(b *bolt.Bucket, prefix []byte, lo, hi uint64, asc bool) *seqIter {
	it := &seqIter{c: b.Cursor(), prefix: prefix, lo: lo, hi: hi, asc: asc}
	if asc {
		it.k, it.v = it.c.Seek(join(prefix, encodeUint(lo)))
	} else {
		end := join(prefix, encodeUint(hi))
		it.k, it.v = it.c.Seek(end)
		if it.k == nil {
			it.k, it.v = it.c.Last()
		} else if !bytes.Equal(it.k, end) {
			it.k, it.v = it.c.Prev()
		}
	}
	return it
}

// seq returns the current seq; ok is false when the walk is over.
func (it *seqIter) seq() (uint64, bool) {
	if it.k == nil || len(it.k) != len(it.prefix)+8 || !hasPrefix(it.k, it.prefix) {
		return 0, false
	}
	seq := decodeUint(it.k[len(it.prefix):])
	if seq < it.lo || seq > it.hi {
		return 0, false
	}
	return seq, true
}

func (it *seqIter) advance() {
	if it.asc {
		it.k, it.v = it.c.Next()
	} else {
		it.k, it.v = it.c.Prev()
	}
}

// mergeStreams merges the seq-ordered streams under prefixes, keeping
// entries whose value passes keep, deduplicated, up to p.limit.
func mergeStreams(b *bolt.Bucket, prefixes [][]byte, p plan, keep func(v []byte) bool) []uint64 {
	iters := make([]*seqIter, len(prefixes))
	for i, pre := range prefixes {
		iters[i] = newSeqIter(b, pre, p.lo, p.hi, p.asc)
	}
	var out []uint64
	last, haveLast := uint64(0), false
	for len(out) < p.limit {
		pick := -1
		var pickSeq uint64
		for i, it := range iters {
			seq, ok := it.seq()
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
		it := iters[pick]
		if keep(it.v) && !(haveLast && pickSeq == last) {
			out = append(out, pickSeq)
			last, haveLast = pickSeq, true
		}
		it.advance()
	}
	return out
}

// probeStreams counts entries in range under prefixes, up to probeCap.
func probeStreams(b *bolt.Bucket, prefixes [][]byte, p plan) uint64 {
	var n uint64
	for _, pre := range prefixes {
		for it := newSeqIter(b, pre, p.lo, p.hi, true); n < probeCap; it.advance() {
			if _, ok := it.seq(); !ok {
				break
			}
			n++
		}
	}
	return n
}

// timeRange walks the time index over [since, until), calling fn with each
// seq and type until fn returns false.
func timeRange(tx *bolt.Tx, p plan, fn func(seq uint64, typ rpc.EventType) bool) {
	c := tx.Bucket(bucketByTime).Cursor()
	end := encodeTime(p.until)
	for k, v := c.Seek(encodeTime(p.since)); k != nil && len(k) == 16 && bytes.Compare(k[:8], end) < 0; k, v = c.Next() {
		if !fn(decodeUint(k[8:]), eventTypeOf(v)) {
			return
		}
	}
}

func probeTime(tx *bolt.Tx, p plan) uint64 {
	var n uint64
	timeRange(tx, p, func(uint64, rpc.EventType) bool {
		n++
		return n < probeCap
	})
	return n
}

// scanTime reads the whole time range and keeps the first p.limit matching
// seqs in result order.
func scanTime(tx *bolt.Tx, p plan) []uint64 {
	top := &seqHeap{asc: p.asc}
	timeRange(tx, p, func(seq uint64, typ rpc.EventType) bool {
		if seq < p.lo || seq > p.hi || !p.typeOK(typ) {
			return true
		}
		if p.entities != nil && !eventHasEntity(tx, seq, p.entities) {
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

// eventHasEntity reports whether the event is indexed under one of entities.
func eventHasEntity(tx *bolt.Tx, seq uint64, entities []string) bool {
	b := tx.Bucket(bucketByEntity)
	for _, pre := range entityPrefixes(tx, plan{entities: entities}) {
		if b.Get(join(pre, encodeUint(seq))) != nil {
			return true
		}
	}
	return false
}
