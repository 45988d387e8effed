package eventstore

import "math/bits"

// idTable maps the 64-bit hash of an event id to the seqs of the stored
// events with that hash (one, but for a collision): open addressing with
// linear probing, 16 bytes a slot, at most 3/4 full. A slot with seq 0 is
// empty (no event has seq 0). The record's id decides a collision.
type idTable struct {
	hashes []uint64
	seqs   []uint64
	n      int
	shift  uint // 64 - log2(len(slots))
}

const idTableMinSlots = 1 << 10

// slot is where hash h starts probing (Fibonacci hashing: fnv's low bits
// are poorly mixed).
func (t *idTable) slot(h uint64) uint64 { return (h * 0x9e3779b97f4a7c15) >> t.shift }

// reserve sizes the table for n entries.
func (t *idTable) reserve(n int) {
	if t.hashes != nil && n*4 <= len(t.hashes)*3 {
		return
	}
	size := idTableMinSlots
	for size*3 < n*4 {
		size *= 2
	}
	old, oldSeqs := t.hashes, t.seqs
	t.hashes, t.seqs, t.n = make([]uint64, size), make([]uint64, size), 0
	t.shift = uint(64 - bits.TrailingZeros(uint(size)))
	for i, seq := range oldSeqs {
		if seq != 0 {
			t.insert(old[i], seq)
		}
	}
}

// insert adds (h, seq).
func (t *idTable) insert(h, seq uint64) {
	t.reserve(t.n + 1)
	mask := uint64(len(t.seqs) - 1)
	i := t.slot(h)
	for t.seqs[i] != 0 {
		i = (i + 1) & mask
	}
	t.hashes[i], t.seqs[i] = h, seq
	t.n++
}

// each calls fn with every seq stored under h until fn returns false.
func (t *idTable) each(h uint64, fn func(seq uint64) bool) {
	if t.n == 0 {
		return
	}
	mask := uint64(len(t.seqs) - 1)
	for i := t.slot(h); t.seqs[i] != 0; i = (i + 1) & mask {
		if t.hashes[i] == h && !fn(t.seqs[i]) {
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
	mask := uint64(len(t.seqs) - 1)
	i := t.slot(h)
	for ; t.seqs[i] != 0; i = (i + 1) & mask {
		if t.hashes[i] == h && t.seqs[i] == seq {
			break
		}
	}
	if t.seqs[i] == 0 {
		return
	}
	t.n--
	for j := (i + 1) & mask; t.seqs[j] != 0; j = (j + 1) & mask {
		// The entry at j may fill the hole at i unless its home slot lies
		// cyclically in (i, j].
		home := t.slot(t.hashes[j])
		if (j-home)&mask >= (j-i)&mask {
			t.hashes[i], t.seqs[i] = t.hashes[j], t.seqs[j]
			i = j
		}
	}
	t.hashes[i], t.seqs[i] = 0, 0
}
