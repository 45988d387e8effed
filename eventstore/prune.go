package eventstore

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// pruneChunk is how many events one prune transaction deletes at most.
const pruneChunk = 10_000

// Prune removes events with a timestamp older than before (unix micros; 0
// = no age limit), then the oldest by seq beyond keepMax (0 = no limit). An
// event goes with all its index entries, its concept and its associations;
// entity and ts- concepts stay. Deletes run in chunks of pruneChunk events per
// transaction. LastSeq and Digest are unchanged. Deterministic.
func (s *Store) Prune(before int64, keepMax uint64) (uint64, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	var removed uint64
	if before != 0 {
		for {
			n, err := s.pruneChunk(func(tx *bolt.Tx) []uint64 { return oldByTime(tx, before) })
			removed += n
			if err != nil {
				return removed, fmt.Errorf("prune by age: %w", err)
			}
			if n == 0 {
				break
			}
		}
	}
	if keepMax != 0 {
		for {
			n, err := s.pruneChunk(func(tx *bolt.Tx) []uint64 { return beyondCount(tx, keepMax) })
			removed += n
			if err != nil {
				return removed, fmt.Errorf("prune by count: %w", err)
			}
			if n == 0 {
				break
			}
		}
	}
	if removed > 0 {
		s.logger.Debug("events pruned", "removed", removed, "first_seq", s.FirstSeq())
	}
	return removed, nil
}

// pruneChunk deletes the seqs pick chooses in one transaction.
func (s *Store) pruneChunk(pick func(tx *bolt.Tx) []uint64) (uint64, error) {
	var n, first uint64
	err := s.update(func(tx *bolt.Tx) error {
		seqs := pick(tx)
		for _, seq := range seqs {
			if err := deleteEvent(tx, seq); err != nil {
				return fmt.Errorf("delete event seq %d: %w", seq, err)
			}
		}
		n = uint64(len(seqs))
		first = firstEventSeq(tx)
		return nil
	})
	if err != nil || n == 0 {
		return 0, err
	}
	s.mu.Lock()
	s.firstSeq = first
	s.mu.Unlock()
	return n, nil
}

// oldByTime lists up to pruneChunk seqs of events older than before.
func oldByTime(tx *bolt.Tx, before int64) []uint64 {
	var out []uint64
	end := encodeTime(before)
	c := tx.Bucket(bucketByTime).Cursor()
	for k, _ := c.First(); k != nil && len(k) == 16 && string(k[:8]) < string(end) && len(out) < pruneChunk; k, _ = c.Next() {
		out = append(out, decodeUint(k[8:]))
	}
	return out
}

// beyondCount lists up to pruneChunk of the oldest seqs beyond keepMax.
func beyondCount(tx *bolt.Tx, keepMax uint64) []uint64 {
	n := getUint(tx.Bucket(bucketMeta), metaEvents)
	if n <= keepMax {
		return nil
	}
	excess := min(n-keepMax, pruneChunk)
	out := make([]uint64, 0, excess)
	c := tx.Bucket(bucketEvents).Cursor()
	for k, _ := c.First(); k != nil && uint64(len(out)) < excess; k, _ = c.Next() {
		out = append(out, decodeUint(k))
	}
	return out
}

// deleteEvent removes one event, its index entries, its concept and every
// association of that concept (derived and stored), keeping the counters
// as if the graph form were stored.
func deleteEvent(tx *bolt.Tx, seq uint64) error {
	seqKey := encodeUint(seq)
	v := tx.Bucket(bucketEvents).Get(seqKey)
	if v == nil {
		return nil
	}
	g := newGView(tx)
	r, err := decodeRecord(v, seq, g.in)
	if err != nil {
		return err
	}
	e := r.ev
	name := eventName(r)
	removed := map[uint64]struct{}{}
	for _, d := range append(g.derivedOut(name), g.derivedIn(name)...) {
		removed[d.seq] = struct{}{}
	}
	for _, out := range []bool{true, false} {
		b := bucketIn
		if out {
			b = bucketOut
		}
		for _, d := range realEdges(tx.Bucket(b), name) {
			removed[d.seq] = struct{}{}
			src, dst := name, d.n.ID
			if !out {
				src, dst = dst, src
			}
			if err := deleteStoredAssociation(tx, src, dst, d.n.Type); err != nil {
				return err
			}
		}
	}
	if err := addUint(tx.Bucket(bucketMeta), metaAssocs, -int64(len(removed))); err != nil {
		return err
	}
	// Causes' reverse entries, then the ones naming this event.
	causedIn := tx.Bucket(bucketCausedIn)
	for i, cause := range CausedBy(e) {
		if r.causeMask&(1<<i) == 0 {
			continue
		}
		if cseq := lookupID(tx, cause); cseq != 0 && cseq < seq {
			if err := causedIn.Delete(join(encodeUint(cseq), seqKey)); err != nil {
				return err
			}
		}
	}
	var named [][]byte
	c := causedIn.Cursor()
	for k, _ := c.Seek(seqKey); k != nil && hasPrefix(k, seqKey); k, _ = c.Next() {
		named = append(named, append([]byte(nil), k...))
	}
	for _, k := range named {
		if err := causedIn.Delete(k); err != nil {
			return err
		}
	}
	if err := deleteConcept(tx, name); err != nil {
		return err
	}
	if err := deleteID(tx.Bucket(bucketEventIDs), e.GetId(), seq); err != nil {
		return err
	}
	for _, ent := range indexedEntities(e) {
		if err := tx.Bucket(bucketByEntity).Delete(join(encodeUint32(entityID(tx, ent)), seqKey)); err != nil {
			return err
		}
	}
	if err := tx.Bucket(bucketByType).Delete(join(encodeUint32(uint32(e.GetType())), seqKey)); err != nil {
		return err
	}
	if err := tx.Bucket(bucketByTime).Delete(join(encodeTime(e.GetTimestamp()), seqKey)); err != nil {
		return err
	}
	if err := tx.Bucket(bucketEvents).Delete(seqKey); err != nil {
		return err
	}
	return addUint(tx.Bucket(bucketMeta), metaEvents, -1)
}
