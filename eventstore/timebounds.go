package eventstore

import (
	"math"
	"sort"
)

// Time bounds narrow a time-bounded query to a seq range without reading
// the events, so a type+time or entity+time query reads only the part of
// its list the window can be in, even though seqs and timestamps need not
// be in the same order.
//
// The index keeps, from the events it indexed in seq order (appended, or
// read back on Open):
//   - M(s): the highest timestamp among those events with seq <= s; marks
//     holds (s, M(s)) every timeMarkEvery seqs;
//   - D: the disorder, the largest M(s-1) - ts(s) over them (0 while
//     timestamps never went back).
//
// Then ts(s) <= M(s) and ts(s) >= M(s-1) - D for every event, so:
//   - an event with ts(s) >= since has M(s) >= since: every seq up to the
//     last mark with M < since is out;
//   - an event with ts(s) < until has M(s-1) < until + D: every seq after
//     the first mark with M >= until + D is out.
//
// Pruning keeps the marks and D: they still bound the events left.
// Events are still checked against the window; the bounds only skip.

// timeMarkEvery is the seq interval between time marks.
const timeMarkEvery = 4096

// timeMarks follows M and D.
type timeMarks struct {
	marks    []timeMark
	maxTs    int64
	disorder uint64
	any      bool
}

type timeMark struct {
	seq uint64
	m   int64
}

// add folds the event (seq, ts) in, keeping a mark when seq is on the interval.
func (t *timeMarks) add(seq uint64, ts int64) {
	switch {
	case !t.any:
		t.maxTs, t.any = ts, true
	case ts < t.maxTs:
		if d := uint64(t.maxTs) - uint64(ts); d > t.disorder {
			t.disorder = d
		}
	default:
		t.maxTs = ts
	}
	if seq%timeMarkEvery == 0 {
		t.marks = append(t.marks, timeMark{seq, t.maxTs})
	}
}

// narrowByTime tightens p's seq range [lo, hi] to where its time window can be.
func (ix *memIndex) narrowByTime(p plan) plan {
	t := &ix.times
	if !p.timeBounded() || !t.any {
		return p
	}
	// M is non-decreasing along the marks: the last mark with M < since,
	// the first with M >= until + D (saturating).
	if i := sort.Search(len(t.marks), func(i int) bool { return t.marks[i].m >= p.since }); i > 0 {
		p.lo = max(p.lo, t.marks[i-1].seq+1)
	}
	if p.until != math.MaxInt64 && t.disorder <= math.MaxInt64 && p.until <= math.MaxInt64-int64(t.disorder) {
		limit := p.until + int64(t.disorder)
		if i := sort.Search(len(t.marks), func(i int) bool { return t.marks[i].m >= limit }); i < len(t.marks) {
			p.hi = min(p.hi, t.marks[i].seq)
		}
	}
	return p
}
