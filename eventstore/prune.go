package eventstore

import (
	"encoding/binary"
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
// association of that concept.
func deleteEvent(tx *bolt.Tx, seq uint64) error {
	e, err := loadEvent(tx, seq)
	if err != nil || e == nil {
		return err
	}
	seqKey := encodeUint(seq)
	ids := tx.Bucket(bucketEventIDs)
	ref := ids.Get([]byte(e.GetId()))
	if len(ref) > 8 && decodeUint(ref[:8]) == seq {
		conceptID := string(ref[8:])
		if err := deleteConceptEdges(tx, conceptID); err != nil {
			return err
		}
		if err := deleteConcept(tx, conceptID); err != nil {
			return err
		}
		if err := ids.Delete([]byte(e.GetId())); err != nil {
			return err
		}
	}
	for _, ent := range indexedEntities(e) {
		if err := tx.Bucket(bucketByEntity).Delete(join(strPrefix(ent), seqKey)); err != nil {
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

// deleteConceptEdges removes every association into or out of id.
func deleteConceptEdges(tx *bolt.Tx, id string) error {
	type edge struct {
		src, dst string
		typ      uint32
	}
	var edges []edge
	collect := func(b *bolt.Bucket, outgoing bool) {
		prefix := strPrefix(id)
		c := b.Cursor()
		for k, v := c.Seek(prefix); k != nil && hasPrefix(k, prefix); k, v = c.Next() {
			if len(v) < 8 {
				continue
			}
			far, typ := string(v[8:]), binary.BigEndian.Uint32(v[:4])
			if outgoing {
				edges = append(edges, edge{id, far, typ})
			} else {
				edges = append(edges, edge{far, id, typ})
			}
		}
	}
	collect(tx.Bucket(bucketOut), true)
	collect(tx.Bucket(bucketIn), false)
	for _, e := range edges {
		if err := deleteAssociation(tx, e.src, e.dst, e.typ); err != nil {
			return err
		}
	}
	return nil
}
