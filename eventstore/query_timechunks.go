package eventstore

import "math"

// Time chunks narrow a time-bounded walk of the entity or type lists to
// the seq ranges its window can be in, one bound per timeMarkEvery seqs.
//
// The time bounds (timebounds.go) follow the running maximum timestamp
// and the largest step back from it: one early event newer than the
// history after it (the cluster's own leader_elected before a load of
// events an hour old, or an agent's buffer delivered late) sets both for
// good, and they then narrow nothing. A type+time query then walked its
// type's list from the newest end down to the window, tens of thousands
// of entries: 56% of the leader's CPU during BenchmarkEventQuery1M's
// type/time queries (~0.9-1.5 ms of CPU per query; CPU profile of the
// leader). A chunk's lowest and highest timestamp bound only its own
// events, so one outlier costs one chunk, not the whole store.
//
// Chunks hold every indexed event (pruning leaves a chunk's bounds, which
// still bound the events left); events are still checked against the
// window, the chunks only skip.

// tsChunk is the lowest and highest timestamp of the events indexed with
// seq / timeMarkEvery = its chunk number; lo > hi when there are none.
type tsChunk struct{ lo, hi int64 }

// timeChunks follows the chunks, added to in seq order.
type timeChunks struct {
	first  uint64 // chunk number of chunks[0]
	chunks []tsChunk
	broken bool // an event came in below first: no narrowing from here on
}

func (t *timeChunks) add(seq uint64, ts int64) {
	c := seq / timeMarkEvery
	if len(t.chunks) == 0 {
		t.first = c
	}
	if c < t.first {
		t.broken = true
		return
	}
	for t.first+uint64(len(t.chunks)) <= c {
		t.chunks = append(t.chunks, tsChunk{lo: math.MaxInt64, hi: math.MinInt64})
	}
	ch := &t.chunks[c-t.first]
	ch.lo, ch.hi = min(ch.lo, ts), max(ch.hi, ts)
}

// seqWindow is an inclusive seq range.
type seqWindow struct{ lo, hi uint64 }

// windows returns, ascending, the seq ranges within [p.lo, p.hi] whose
// chunks hold an event in p's time window (neighbouring chunks joined);
// [p.lo, p.hi] alone when p is not time-bounded or the chunks cannot tell.
func (t *timeChunks) windows(p plan) []seqWindow {
	all := []seqWindow{{p.lo, p.hi}}
	if !p.timeBounded() || t.broken || len(t.chunks) == 0 || p.lo > p.hi {
		return all
	}
	var out []seqWindow
	from := max(p.lo/timeMarkEvery, t.first)
	last := t.first + uint64(len(t.chunks)) - 1
	for c := from; c <= last && c <= p.hi/timeMarkEvery; c++ {
		ch := t.chunks[c-t.first]
		if ch.lo > ch.hi || ch.hi < p.since || ch.lo >= p.until {
			continue
		}
		lo, hi := max(c*timeMarkEvery, p.lo), min(c*timeMarkEvery+timeMarkEvery-1, p.hi)
		if n := len(out); n > 0 && out[n-1].hi+1 == lo {
			out[n-1].hi = hi
		} else {
			out = append(out, seqWindow{lo, hi})
		}
	}
	return out
}

// mergeWindowed is mergeLists over the parts of lists (cut to [p.lo,
// p.hi]) in p's time windows, in result order, up to p.limit: the same
// seqs mergeLists would keep, since keep refuses every seq outside the
// window.
func (ix *memIndex) mergeWindowed(lists [][]uint32, p plan, keep func(seq uint64) bool) []uint64 {
	ws := ix.chunks.windows(p)
	if len(ws) == 1 && ws[0] == (seqWindow{p.lo, p.hi}) {
		return mergeLists(lists, ix.origin, p, keep)
	}
	var out []uint64
	cut := make([][]uint32, 0, len(lists))
	for i := range ws {
		w := ws[i]
		if !p.asc {
			w = ws[len(ws)-1-i]
		}
		cut = cut[:0]
		for _, l := range lists {
			if s := ix.seqRange(l, w.lo, w.hi); len(s) > 0 {
				cut = append(cut, s)
			}
		}
		if len(cut) == 0 {
			continue
		}
		q := p
		q.limit = p.limit - len(out)
		out = append(out, mergeLists(cut, ix.origin, q, keep)...)
		if len(out) >= p.limit {
			break
		}
	}
	return out
}
