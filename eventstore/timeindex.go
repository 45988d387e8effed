package eventstore

import "sort"

// timeIndex lists the stored seqs ordered by (timestamp, seq): a list of
// sorted chunks of at most timeChunk seqs (as offsets, memIndex.off), each
// chunk's entries before the next chunk's. Timestamps come from the index's
// column (memIndex.tsOf), so an entry is 4 bytes. Appends with increasing timestamps fill the last
// chunk and start a new one; an insert into a full chunk elsewhere splits it.
type timeIndex struct {
	chunks [][]uint32
}

const timeChunk = 512

// timeKeyLess orders (ts, seq) pairs.
func timeKeyLess(ats int64, aseq uint64, bts int64, bseq uint64) bool {
	return ats < bts || ats == bts && aseq < bseq
}

// lowerBound is the position of the first entry >= (ts, seq): the chunk
// and the offset in it; chunk == len(chunks) when there is none.
func (ix *memIndex) timeLowerBound(ts int64, seq uint64) (int, int) {
	t := &ix.byTime
	if n := len(t.chunks); n > 0 { // the common case: at or near the end
		ch := t.chunks[n-1]
		if ix.entryBefore(ch[len(ch)-1], ts, seq) {
			return n, 0
		}
		if ix.entryBefore(ch[0], ts, seq) {
			return n - 1, sort.Search(len(ch), func(i int) bool { return !ix.entryBefore(ch[i], ts, seq) })
		}
	}
	c := sort.Search(len(t.chunks), func(i int) bool {
		ch := t.chunks[i]
		return !ix.entryBefore(ch[len(ch)-1], ts, seq)
	})
	if c == len(t.chunks) {
		return c, 0
	}
	ch := t.chunks[c]
	p := sort.Search(len(ch), func(i int) bool { return !ix.entryBefore(ch[i], ts, seq) })
	return c, p
}

// entryBefore reports whether the entry off orders before (ts, seq).
func (ix *memIndex) entryBefore(off uint32, ts int64, seq uint64) bool {
	s := ix.seqAt(off)
	return timeKeyLess(ix.tsOf(s), s, ts, seq)
}

// timeInsert adds seq (its timestamp already in the column).
func (ix *memIndex) timeInsert(seq uint64) {
	t := &ix.byTime
	ts := ix.tsOf(seq)
	off := ix.off(seq)
	if len(t.chunks) == 0 {
		t.chunks = append(t.chunks, append(make([]uint32, 0, timeChunk), off))
		return
	}
	c, p := ix.timeLowerBound(ts, seq)
	if c == len(t.chunks) { // after every entry: the end of the last chunk
		c--
		p = len(t.chunks[c])
	}
	ch := t.chunks[c]
	if len(ch) < timeChunk {
		t.chunks[c] = insertAt(ch, p, off)
		return
	}
	if c == len(t.chunks)-1 && p == len(ch) { // in order: start a new chunk
		t.chunks = append(t.chunks, append(make([]uint32, 0, timeChunk), off))
		return
	}
	// Split the full chunk in two, then insert into the right half.
	right := append(make([]uint32, 0, timeChunk), ch[timeChunk/2:]...)
	left := ch[:timeChunk/2]
	t.chunks[c] = left
	t.chunks = insertAt(t.chunks, c+1, right)
	if p <= len(left) {
		t.chunks[c] = insertAt(left, p, off)
	} else {
		t.chunks[c+1] = insertAt(right, p-len(left), off)
	}
}

// timeRemove deletes seq (its timestamp still in the column).
func (ix *memIndex) timeRemove(seq uint64) {
	t := &ix.byTime
	c, p := ix.timeLowerBound(ix.tsOf(seq), seq)
	if c == len(t.chunks) || t.chunks[c][p] != ix.off(seq) {
		return
	}
	ch := t.chunks[c]
	copy(ch[p:], ch[p+1:])
	ch = ch[:len(ch)-1]
	if len(ch) == 0 {
		copy(t.chunks[c:], t.chunks[c+1:])
		t.chunks[len(t.chunks)-1] = nil
		t.chunks = t.chunks[:len(t.chunks)-1]
		return
	}
	t.chunks[c] = ch
}

// timeRange calls fn with each seq whose timestamp is in [since, until), in
// (timestamp, seq) order, until fn returns false.
func (ix *memIndex) timeRange(since, until int64, fn func(seq uint64) bool) {
	t := &ix.byTime
	c, p := ix.timeLowerBound(since, 0)
	for ; c < len(t.chunks); c, p = c+1, 0 {
		ch := t.chunks[c]
		for ; p < len(ch); p++ {
			if seq := ix.seqAt(ch[p]); ix.tsOf(seq) >= until || !fn(seq) {
				return
			}
		}
	}
}

// insertAt inserts v at position p of s.
func insertAt[T any](s []T, p int, v T) []T {
	var zero T
	s = append(s, zero)
	copy(s[p+1:], s[p:])
	s[p] = v
	return s
}
