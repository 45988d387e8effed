package eventstore

import (
	"fmt"
	"math"
	"slices"
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
			n, err := s.pruneChunk(func(ix *memIndex) []uint64 { return oldByTime(ix, before) })
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
			n, err := s.pruneChunk(func(ix *memIndex) []uint64 { return beyondCount(ix, keepMax) })
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

// pruneChunk deletes the seqs pick chooses (from the index) in one
// transaction. The index drops them under idxMu together with the commit,
// so no reader sees them in one and not the other.
func (s *Store) pruneChunk(pick func(ix *memIndex) []uint64) (uint64, error) {
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return 0, ErrClosed
	}
	seqs := pick(s.ix)
	if len(seqs) == 0 {
		return 0, nil
	}
	slices.Sort(seqs)
	tx, err := s.db.Begin(true)
	if err != nil {
		return 0, err
	}
	g := newGView(tx, s.ix)
	dels := make([]indexedEvent, 0, len(seqs))
	for _, seq := range seqs {
		ie, err := deleteEvent(g, seq)
		if err != nil {
			_ = tx.Rollback()
			return 0, fmt.Errorf("delete event seq %d: %w", seq, err)
		}
		dels = append(dels, ie)
	}
	s.idxMu.Lock()
	if err := tx.Commit(); err != nil {
		s.idxMu.Unlock()
		return 0, err
	}
	s.ix.remove(dels)
	first := s.ix.firstSeq()
	s.idxMu.Unlock()
	s.mu.Lock()
	s.firstSeq = first
	s.mu.Unlock()
	return uint64(len(dels)), nil
}

// oldByTime lists up to pruneChunk seqs of events older than before.
func oldByTime(ix *memIndex, before int64) []uint64 {
	var out []uint64
	ix.timeRange(math.MinInt64, before, func(seq uint64) bool {
		out = append(out, seq)
		return len(out) < pruneChunk
	})
	return out
}

// beyondCount lists up to pruneChunk of the oldest seqs beyond keepMax.
func beyondCount(ix *memIndex, keepMax uint64) []uint64 {
	if ix.count <= keepMax {
		return nil
	}
	excess := min(ix.count-keepMax, pruneChunk)
	out := make([]uint64, 0, excess)
	for i, t := range ix.typ {
		if uint64(len(out)) >= excess {
			break
		}
		if t != 0 {
			out = append(out, ix.base+uint64(i))
		}
	}
	return out
}

// deleteEvent removes one event (stored, indexed under seq), its concept
// and every association of that concept (derived and stored), keeping the
// counters as if the graph form were stored. It returns what the index
// must drop once the transaction committed.
func deleteEvent(g *gview, seq uint64) (indexedEvent, error) {
	tx := g.tx
	r, ok := g.record(seq)
	if !ok {
		return indexedEvent{}, fmt.Errorf("%w: no readable event under seq %d", ErrInvalid, seq)
	}
	e := r.ev
	ie := indexedEvent{seq: seq, hash: idHash64(e.GetId()), ts: e.GetTimestamp(), typ: typ32(e)}
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
				return ie, err
			}
		}
	}
	if err := addUint(tx.Bucket(bucketMeta), metaAssocs, -int64(len(removed))); err != nil {
		return ie, err
	}
	// The causes' caused_in entries naming this event go with it (the
	// entries naming it as a cause go with its seq).
	for i, cause := range CausedBy(e) {
		if r.causeMask&(1<<i) == 0 {
			continue
		}
		if cseq := g.lookupID(cause); cseq != 0 && cseq < seq {
			ie.causes = append(ie.causes, cseq)
		}
	}
	if err := deleteConcept(g, name); err != nil {
		return ie, err
	}
	for _, ent := range indexedEntities(e) {
		if id := g.entityID(ent); id != 0 && ie.nEnts < len(ie.ents) {
			ie.ents[ie.nEnts] = id
			ie.nEnts++
		}
	}
	if err := tx.Bucket(bucketEvents).Delete(encodeUint(seq)); err != nil {
		return ie, err
	}
	return ie, addUint(tx.Bucket(bucketMeta), metaEvents, -1)
}
