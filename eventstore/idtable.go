package eventstore

import "math/bits"

// idTable maps the 64-bit hash of an event id to the seqs of the stored
// events with that hash (one, but for a collision): open addressing with
// linear probing, 16 bytes a slot (hash and seq side by side: one cache
// line per probe), at most 3/4 full. A slot with seq 0 is empty (no event
// has seq 0). The record's id decides a collision.
type idTable struct {
	slots []idSlot
	n     int
	shift uint // 64 - log2(len(slots))
}

type idSlot struct{ hash, seq uint64 }

const idTableMinSlots = 1 << 10

// home is where hash h starts probing (Fibonacci hashing: fnv's low bits
// are poorly mixed).
func (t *idTable) home(h uint64) uint64 { return (h * 0x9e3779b97f4a7c15) >> t.shift }

// reserve sizes the table for n entries.
func (t *idTable) reserve(n int) {
	if t.slots != nil && n*4 <= len(t.slots)*3 {
		return
	}
	size := idTableMinSlots
	for size*3 < n*4 {
		size *= 2
	}
	old := t.slots
	t.slots, t.n = make([]idSlot, size), 0
	t.shift = uint(64 - bits.TrailingZeros(uint(size)))
	for _, s := range old {
		if s.seq != 0 {
			t.insert(s.hash, s.seq)
		}
	}
}

// insert adds (h, seq).
func (t *idTable) insert(h, seq uint64) {
	t.reserve(t.n + 1)
	mask := uint64(len(t.slots) - 1)
	i := t.home(h)
	for t.slots[i].seq != 0 {
		i = (i + 1) & mask
	}
	t.slots[i] = idSlot{h, seq}
	t.n++
}

// each calls fn with every seq stored under h until fn returns false.
func (t *idTable) each(h uint64, fn func(seq uint64) bool) {
	if t.n == 0 {
		return
	}
	mask := uint64(len(t.slots) - 1)
	for i := t.home(h); t.slots[i].seq != 0; i = (i + 1) & mask {
		if t.slots[i].hash == h && !fn(t.slots[i].seq) {
			return
		}
	}
}

// remove deletes (h, seq), shifting later entries of the probe run back so
// that no lookup stops early at the hole.
func (t *idTable) remove(h, seq uint64) {
	if t.n == 0 {
		return
	}
	mask := uint64(len(t.slots) - 1)
	i := t.home(h)
	for ; t.slots[i].seq != 0; i = (i + 1) & mask {
		if t.slots[i] == (idSlot{h, seq}) {
			break
		}
	}
	if t.slots[i].seq == 0 {
		return
	}
	t.n--
	for j := (i + 1) & mask; t.slots[j].seq != 0; j = (j + 1) & mask {
		// The entry at j may fill the hole at i unless its home slot lies
		// cyclically in (i, j].
		if (j-t.home(t.slots[j].hash))&mask >= (j-i)&mask {
			t.slots[i] = t.slots[j]
			i = j
		}
	}
	t.slots[i] = idSlot{}
}
