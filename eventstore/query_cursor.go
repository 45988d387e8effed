package eventstore

import (
	"encoding/binary"

	bolt "go.etcd.io/bbolt"
)

// seqStepMax is how far (in seqs) from the record a seqCursor stands on a
// wanted record may be for the cursor to step to it instead of seeking.
const seqStepMax = 8

// seqCursor reads event records (bucketEvents: seq(8) -> record) by seq
// through one bbolt cursor. A Seek descends from the root through every
// level of the tree and binary-searches each page: at 1M events that was
// a third of the leader's CPU per query (CPU profile of
// BenchmarkEventQuery1M's leader). A record at most seqStepMax seqs past
// (or before) the one the cursor stands on is reached by stepping instead
// (Next/Prev stay on the current leaf page or move to its neighbour): the
// seqs of a type or time query, or of the newest events, are mostly
// consecutive. Stepping stops at the first key at or past the wanted seq,
// the key a Seek lands on, so a missing record is missed either way.
type seqCursor struct {
	c  *bolt.Cursor
	on uint64 // seq of the key the cursor stands on, when at
	at bool
}

func newSeqCursor(b *bolt.Bucket) *seqCursor { return &seqCursor{c: b.Cursor()} }

// get returns the record stored under seq, nil when there is none. The
// value is valid for the life of the transaction.
func (r *seqCursor) get(seq uint64) []byte {
	if r.at {
		switch {
		case seq > r.on && seq-r.on <= seqStepMax:
			// Keys are distinct seqs above r.on: the n-th Next is at least
			// r.on+n, so this stops within seq-r.on steps.
			for {
				k, v := r.c.Next()
				if !r.stand(k) {
					return nil
				}
				if r.on >= seq {
					return r.match(seq, v)
				}
			}
		case seq < r.on && r.on-seq <= seqStepMax:
			for {
				k, v := r.c.Prev()
				if !r.stand(k) {
					return nil
				}
				if r.on <= seq {
					return r.match(seq, v)
				}
			}
		case seq == r.on:
			// Another read of the same record (a seq listed twice cannot
			// happen in one result, but stay correct): seek it again.
		}
	}
	var key [8]byte
	binary.BigEndian.PutUint64(key[:], seq)
	k, v := r.c.Seek(key[:])
	if !r.stand(k) {
		return nil
	}
	return r.match(seq, v)
}

// stand records the key the cursor moved to; false when it moved off the
// bucket's keys (or onto a key that is not a seq: then every later read
// seeks).
func (r *seqCursor) stand(k []byte) bool {
	if len(k) != 8 {
		r.at = false
		return false
	}
	r.on, r.at = binary.BigEndian.Uint64(k), true
	return true
}

func (r *seqCursor) match(seq uint64, v []byte) []byte {
	if r.on != seq {
		return nil
	}
	return v
}

// records reads the records of seqs in order (nil where a seq has no
// record) and their total size, which sizes what the caller builds from
// them.
func (c *seqCursor) records(seqs []uint64) (recs [][]byte, size int) {
	recs = make([][]byte, len(seqs))
	for i, seq := range seqs {
		if v := c.get(seq); v != nil {
			recs[i] = v
			size += len(v)
		}
	}
	return recs, size
}
