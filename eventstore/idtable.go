package eventstore

import (
	"math"
	"math/bits"
)

// idTable maps event id hashes to the seqs of the stored events with that
// hash: open addressing with linear probing, at most 3/4 full, 8 bytes a
// slot: the hash's top 32 bits and the seq as an offset from origin (+1;
// 0 is an empty slot). Several seqs can share a slot's hash bits; the
// caller decides by the record's id, as it does for a full-hash collision.
type idTable struct {
	slots  []idSlot
	n      int
	shift  uint   // 64 - log2(len(slots))
	origin uint64 // seq of offset 1
}

type idSlot struct{ tag, off uint32 }

const idTableMinSlots = 1 << 10

// idTag is the part of a hash the table keeps.
func idTag(h uint64) uint32 { return uint32(h >> 32) }

// home is where a tag starts probing (Fibonacci hashing).
func (t *idTable) home(tag uint32) uint64 { return (uint64(tag) * 0x9e3779b97f4a7c15) >> t.shift }

// resize rebuilds the table for n entries, with seqs counted from origin.
func (t *idTable) resize(n int, origin uint64) {
	size := idTableMinSlots
	for size*3 < n*4 {
		size *= 2
	}
	old, oldOrigin := t.slots, t.origin
	t.slots, t.n, t.origin = make([]idSlot, size), 0, origin
	t.shift = uint(64 - bits.TrailingZeros(uint(size)))
	for _, s := range old {
		if s.off != 0 {
			t.put(s.tag, oldOrigin+uint64(s.off)-1)
		}
	}
}

// reserve sizes the table for n entries.
func (t *idTable) reserve(n int) {
	if t.slots == nil || n*4 > len(t.slots)*3 {
		t.resize(n, t.origin)
	}
}

// insert adds (h, seq).
func (t *idTable) insert(h, seq uint64) {
	if t.n == 0 {
		t.origin = seq
	}
	if seq < t.origin || seq-t.origin >= math.MaxUint32 {
		// Out of offset range: count from the lowest seq held instead (the
		// stored seqs span far less than 2^32).
		low := seq
		for _, s := range t.slots {
			if s.off != 0 {
				low = min(low, t.origin+uint64(s.off)-1)
			}
		}
		t.resize(t.n+1, low)
	}
	t.reserve(t.n + 1)
	t.put(idTag(h), seq)
}

// put places (tag, seq); the table has room and seq is in range.
func (t *idTable) put(tag uint32, seq uint64) {
	mask := uint64(len(t.slots) - 1)
	i := t.home(tag)
	for t.slots[i].off != 0 {
		i = (i + 1) & mask
	}
	t.slots[i] = idSlot{tag, uint32(seq - t.origin + 1)}
	t.n++
}

// each calls fn with every seq that may be stored under h (the seqs whose
// hash shares the kept bits) until fn returns false.
func (t *idTable) each(h uint64, fn func(seq uint64) bool) {
	if t.n == 0 {
		return
	}
	tag := idTag(h)
	mask := uint64(len(t.slots) - 1)
	for i := t.home(tag); t.slots[i].off != 0; i = (i + 1) & mask {
		if t.slots[i].tag == tag && !fn(t.origin+uint64(t.slots[i].off)-1) {
			return
		}
	}
}

// remove deletes (h, seq), shifting later entries of the probe run back so
// that no lookup stops early at the hole.
func (t *idTable) remove(h, seq uint64) {
	if t.n == 0 || seq < t.origin || seq-t.origin >= math.MaxUint32 {
		return
	}
	want := idSlot{idTag(h), uint32(seq - t.origin + 1)}
	mask := uint64(len(t.slots) - 1)
	i := t.home(want.tag)
	for ; t.slots[i].off != 0; i = (i + 1) & mask {
		if t.slots[i] == want {
			break
		}
	}
	if t.slots[i].off == 0 {
		return
	}
	t.n--
	for j := (i + 1) & mask; t.slots[j].off != 0; j = (j + 1) & mask {
		// The entry at j may fill the hole at i unless its home slot lies
		// cyclically in (i, j].
		if (j-t.home(t.slots[j].tag))&mask >= (j-i)&mask {
			t.slots[i] = t.slots[j]
			i = j
		}
	}
	t.slots[i] = idSlot{}
}
