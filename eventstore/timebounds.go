package eventstore

import (
	"math"

	bolt "go.etcd.io/bbolt"
)

// Time bounds narrow a time-bounded query to a seq range without reading
// the events, so a type+time or entity+time query reads only the part of
// its index the window can be in, even though seqs and timestamps need not
// be in the same order.
//
// The store keeps, deterministically from what was appended:
//   - M(s): the highest timestamp among events with seq <= s ("ts_max" in
//     meta is M(last seq)); bucketTimeMarks holds (s, M(s)) every
//     timeMarkEvery seqs;
//   - D: the disorder, the largest M(s-1) - ts(s) over all appends
//     ("ts_disorder" in meta; 0 while timestamps never went back).
//
// Then ts(s) <= M(s) and ts(s) >= M(s-1) - D for every event, so:
//   - an event with ts(s) >= since has M(s) >= since: every seq up to the
//     last mark with M < since is out;
//   - an event with ts(s) < until has M(s-1) < until + D: every seq after
//     the first mark with M >= until + D is out.
// Events are still checked against the window; the bounds only skip.

// timeMarkEvery is the seq interval between time marks.
const timeMarkEvery = 4096

var (
	// bucketTimeMarks: seq(8) -> M(seq)(8, sign-flipped), every timeMarkEvery seqs.
	bucketTimeMarks = []byte("time_marks")
	metaTsMax       = []byte("ts_max")
	metaTsDisorder  = []byte("ts_disorder")
	metaTsAny       = []byte("ts_any") // 1 once an event was appended (M is defined)
)

// timeTracker follows M and D through one write transaction.
type timeTracker struct {
	maxTs    int64
	disorder uint64
	any      bool
	dirty    bool
}

func loadTimeTracker(meta *bolt.Bucket) timeTracker {
	return timeTracker{
		maxTs:    int64(getUint(meta, metaTsMax) ^ (1 << 63)),
		disorder: getUint(meta, metaTsDisorder),
		any:      getUint(meta, metaTsAny) == 1,
	}
}

// add folds the event (seq, ts) in, writing a mark when seq is on the interval.
func (t *timeTracker) add(marks *bolt.Bucket, seq uint64, ts int64) error {
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
	t.dirty = true
	if seq%timeMarkEvery == 0 {
		return marks.Put(encodeUint(seq), encodeTime(t.maxTs))
	}
	return nil
}

// flush writes M and D to meta.
func (t *timeTracker) flush(meta *bolt.Bucket) error {
	if !t.dirty {
		return nil
	}
	if err := putUint(meta, metaTsMax, uint64(t.maxTs)^(1<<63)); err != nil {
		return err
	}
	if err := putUint(meta, metaTsAny, 1); err != nil {
		return err
	}
	return putUint(meta, metaTsDisorder, t.disorder)
}

// narrowByTime tightens p's seq range [lo, hi] to where its time window can be.
func narrowByTime(tx *bolt.Tx, p plan) plan {
	if !p.timeBounded() {
		return p
	}
	meta := tx.Bucket(bucketMeta)
	if getUint(meta, metaTsAny) != 1 {
		return p
	}
	disorder := getUint(meta, metaTsDisorder)
	// until + D, saturating.
	limit, bounded := int64(0), false
	if p.until != math.MaxInt64 && disorder <= math.MaxInt64 && p.until <= math.MaxInt64-int64(disorder) {
		limit, bounded = p.until+int64(disorder), true
	}
	c := tx.Bucket(bucketTimeMarks).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		seq, m := decodeUint(k), int64(decodeUint(v)^(1<<63))
		if m < p.since && seq+1 > p.lo {
			p.lo = seq + 1
		}
		if bounded && m >= limit {
			p.hi = min(p.hi, seq)
			break
		}
	}
	return p
}
