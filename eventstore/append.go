package eventstore

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/gridctl/grid/rpc"
	bolt "go.etcd.io/bbolt"
)

// appendFillPercent is the page fill of the events bucket, whose keys
// (seqs) arrive in increasing order, so bbolt can pack pages full instead
// of leaving half of each page empty after a split: fewer pages to write
// per commit and a smaller file.
const appendFillPercent = 0.95

// arenaChunk is the largest slab keys and values are cut from during one
// append transaction (bbolt needs them valid until the commit). A
// transaction's first slab is arenaFirstChunk and each next one twice the
// last: a one-event transaction (a registry write's event) does not pay for
// 64 KiB, a 4,000-event one still allocates a slab per ~64 KiB.
const (
	arenaChunk      = 64 << 10
	arenaFirstChunk = 2 << 10
)

// AppendResult is what one batch of an AppendEventBatches call stored.
type AppendResult struct {
	// Stored are copies of the stored events with Seq set, in input order.
	// A copy shares its Details map with the input event.
	Stored []*rpc.Event
	// LastSeq is the store's last seq right after this batch.
	LastSeq uint64
}

// AppendEvents stores events in one transaction, in input order. Events whose
// id is already stored and invalid events (nil, empty id, unspecified type,
// oversized) are skipped. Each stored event gets Seq = LastSeq()+1, +2, ...
// The returned events are copies with Seq set (sharing the input's Details).
func (s *Store) AppendEvents(events []*rpc.Event) ([]*rpc.Event, error) {
	if len(events) == 0 {
		return nil, nil
	}
	res, err := s.AppendEventBatches([][]*rpc.Event{events})
	if err != nil {
		return nil, err
	}
	return res[0].Stored, nil
}

// AppendEventBatches stores several batches in one transaction, one after the
// other, exactly as the same number of AppendEvents calls would (same seqs,
// same digest, same graph), but with one commit. It returns one result per
// batch. Either every batch is stored or, on error, none. The indexes take
// the stored events only once the transaction committed.
func (s *Store) AppendEventBatches(batches [][]*rpc.Event) ([]AppendResult, error) {
	results := make([]AppendResult, len(batches))
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.RLock()
	lastSeq, firstSeq, digest := s.lastSeq, s.firstSeq, s.digest
	s.mu.RUnlock()

	total := 0
	for _, b := range batches {
		total += len(b)
	}
	if total == 0 {
		for i := range results {
			results[i].LastSeq = lastSeq
		}
		return results, nil
	}
	var w *eventWriter
	pend := newPending(total)
	err := s.update(func(tx *bolt.Tx) error {
		w = newEventWriter(tx, s.ix, pend, lastSeq, digest)
		stored := make([]rpc.Event, total) // one allocation for every copy
		for i, batch := range batches {
			out, err := w.appendBatch(batch, stored)
			if err != nil {
				return err
			}
			stored = stored[len(out):]
			results[i] = AppendResult{Stored: out, LastSeq: w.seq}
		}
		return w.finish()
	})
	if err != nil {
		return nil, fmt.Errorf("append events: %w", err)
	}
	if w.stored == 0 {
		return results, nil
	}
	if firstSeq == 0 {
		firstSeq = lastSeq + 1
	}
	s.idxMu.Lock()
	s.ix.addPending(pend)
	s.idxMu.Unlock()
	s.publish(w.seq, firstSeq, w.digest, true)
	return results, nil
}

// eventWriter writes events inside one write transaction. It holds the
// bucket handles, the meta counters (written once, in finish) and the
// concepts known to exist, so each event costs only its own puts: its
// record, and the entity and ts- concepts it names when new. What the
// indexes will hold goes to pending, which the writer's lookups also read.
type eventWriter struct {
	meta, concepts, events, ents *bolt.Bucket
	g                            *gview
	pend                         *pending

	seq    uint64
	digest [32]byte
	stored int

	conceptsAdded, assocsAdded int64
	assocSeq                   uint64
	// known holds ids of concepts (entities, ts-*) seen to exist in this
	// transaction; entityIDs the intern ids of entities seen.
	known     map[string]struct{}
	entityIDs map[string]uint32
	// lastSec is the ts- concept second last ensured (sec, ok).
	lastSec   int64
	lastSecOK bool
	// eventNamedConcepts is set when a stored concept's id starts with
	// "event-": only then can one take an event concept's name.
	eventNamedConcepts bool
	// arena is the free part of the current slab (see bytes).
	arena  []byte
	slab   int      // the size of the last slab made
	rec    []byte   // the record buffer, reused
	keys   []string // detail keys, reused
	digBuf []byte   // chainDigest's input, reused
}

// bytes returns n bytes cut from the transaction's slab: one allocation per
// slab instead of one per key and value.
func (w *eventWriter) bytes(n int) []byte {
	if n > arenaChunk/4 {
		return make([]byte, n)
	}
	if len(w.arena) < n {
		w.slab = min(max(2*w.slab, arenaFirstChunk), arenaChunk)
		for w.slab < n {
			w.slab *= 2
		}
		w.arena = make([]byte, w.slab)
	}
	b := w.arena[:n:n]
	w.arena = w.arena[n:]
	return b
}

// cat concatenates parts into arena bytes.
func (w *eventWriter) cat(parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	out := w.bytes(n)[:0]
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// u64 is v big-endian in arena bytes.
func (w *eventWriter) u64(v uint64) []byte {
	b := w.bytes(8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

func newEventWriter(tx *bolt.Tx, ix *memIndex, pend *pending, lastSeq uint64, digest [32]byte) *eventWriter {
	g := newGView(tx, ix)
	g.pend = pend
	w := &eventWriter{
		meta: tx.Bucket(bucketMeta), concepts: tx.Bucket(bucketConcepts), events: tx.Bucket(bucketEvents),
		ents: tx.Bucket(bucketEntities), g: g, pend: pend,
		seq: lastSeq, digest: digest, known: make(map[string]struct{}), entityIDs: make(map[string]uint32),
	}
	w.events.FillPercent = appendFillPercent
	w.assocSeq = getUint(w.meta, metaAssocSeq)
	k, _ := w.concepts.Cursor().Seek([]byte(eventConceptPrefix))
	w.eventNamedConcepts = k != nil && bytes.HasPrefix(k, []byte(eventConceptPrefix))
	if !w.eventNamedConcepts {
		k, _ = w.ents.Cursor().Seek([]byte(eventConceptPrefix))
		w.eventNamedConcepts = k != nil && bytes.HasPrefix(k, []byte(eventConceptPrefix))
	}
	return w
}

// appendBatch stores one batch's new, valid events; their copies are cut
// from buf.
func (w *eventWriter) appendBatch(events []*rpc.Event, buf []rpc.Event) ([]*rpc.Event, error) {
	var stored []*rpc.Event
	for _, e := range events {
		if !validEvent(e) || w.g.lookupID(e.GetId()) != 0 {
			continue
		}
		w.seq++
		ev := &buf[len(stored)]
		ev.Id, ev.Type, ev.EntityId, ev.Timestamp, ev.Details, ev.Source, ev.Seq =
			e.GetId(), e.GetType(), e.GetEntityId(), e.GetTimestamp(), e.GetDetails(), e.GetSource(), w.seq
		if err := w.putEvent(ev); err != nil {
			return nil, fmt.Errorf("event %q: %w", ev.GetId(), err)
		}
		w.digest, w.digBuf = chainDigest(w.digest, ev.GetId(), w.seq, w.digBuf)
		if stored == nil {
			stored = make([]*rpc.Event, 0, len(events))
		}
		stored = append(stored, ev)
	}
	w.stored += len(stored)
	return stored, nil
}

// finish writes the meta counters.
func (w *eventWriter) finish() error {
	if w.stored == 0 {
		return nil
	}
	if err := putUint(w.meta, metaLastSeq, w.seq); err != nil {
		return err
	}
	if err := addUint(w.meta, metaEvents, int64(w.stored)); err != nil {
		return err
	}
	if err := w.meta.Put(metaDigest, w.digest[:]); err != nil {
		return err
	}
	if err := putUint(w.meta, metaAssocSeq, w.assocSeq); err != nil {
		return err
	}
	if err := addUint(w.meta, metaConcepts, w.conceptsAdded); err != nil {
		return err
	}
	if _, err := addWrites(w.meta, uint64(w.conceptsAdded+w.assocsAdded)); err != nil {
		return err
	}
	return addUint(w.meta, metaAssocs, w.assocsAdded)
}

// putEvent writes one event (Seq set): its record and index entries. Its
// graph form is derived on read (vgraph.go); only the entity and ts-
// concepts it names are created, and the counters advance as if the graph
// form were stored.
func (w *eventWriter) putEvent(e *rpc.Event) error {
	seq := e.GetSeq()
	suffix, err := w.eventConceptSuffix(e)
	if err != nil {
		return err
	}
	w.conceptsAdded++ // the event concept
	rec := record{ev: e, assocBase: w.assocSeq + 1, suffix: suffix}
	var entBuf [3]string
	w.assocSeq += uint64(len(indexedEntitiesInto(e, &entBuf))) + 1 // entity --> event, event --> ts
	// An alert names the events that triggered it: event --[998]--> cause,
	// for each cause stored before it (unknown ids are skipped).
	var causes []uint64
	for i, cause := range CausedBy(e) {
		cseq := w.g.lookupID(cause)
		if cseq == 0 || cseq == seq {
			continue
		}
		rec.causeMask |= 1 << i
		w.assocSeq++
		causes = append(causes, cseq)
	}
	w.assocsAdded += int64(w.assocSeq + 1 - rec.assocBase)
	return w.putRecord(rec, causes)
}

// putRecord writes an event's record and the entity and ts- concepts it
// names when new, and queues its index entries (pending).
func (w *eventWriter) putRecord(rec record, causes []uint64) error {
	e := rec.ev
	ie := indexedEvent{seq: e.GetSeq(), hash: idHash64(e.GetId()), ts: e.GetTimestamp(), typ: typ32(e), suffix: uint8(rec.suffix), causes: causes}
	var entBuf [3]string
	for _, ent := range indexedEntitiesInto(e, &entBuf) {
		id, err := w.ensureEntity(ent, e.GetTimestamp())
		if err != nil {
			return err
		}
		ie.ents[ie.nEnts] = id
		ie.nEnts++
	}
	if sec := timeSeconds(e.GetTimestamp()); !w.lastSecOK || sec != w.lastSec {
		if err := w.ensureConcept(timeConceptName(e.GetTimestamp()), e.GetTimestamp()); err != nil {
			return err
		}
		w.lastSec, w.lastSecOK = sec, true
	}
	var err error
	w.rec, err = encodeRecord(w.rec[:0], rec, w.g.in, &w.keys)
	if err != nil {
		return err
	}
	if err := w.events.Put(w.u64(e.GetSeq()), w.cat(w.rec)); err != nil {
		return err
	}
	w.pend.add(ie)
	return nil
}

// typ32 is e's type as stored in keys and varints.
func typ32(e *rpc.Event) uint32 { return uint32(e.GetType()) }

// ensureEntity records ent in the entities bucket (interning it) with its
// derived concept (entityconcept.go), when not yet there, and returns its
// intern id. A new entity costs one insert: its entry, intern id and
// concept together.
func (w *eventWriter) ensureEntity(ent string, ts int64) (uint32, error) {
	if id, ok := w.entityIDs[ent]; ok {
		return id, nil
	}
	id := w.g.entityID(ent)
	if id == 0 {
		v, err := w.g.in.internEntity(ent) // recorded in ents just below
		if err != nil {
			return 0, err
		}
		id = uint32(v)
		w.pend.entities[ent] = id
		// A name that is already a concept (stored, or an event's) keeps it.
		if err := w.putEntity(ent, id, !w.g.exists(ent), ts); err != nil {
			return 0, err
		}
	} else if len(w.ents.Get([]byte(ent))) < entityValueLen && !w.g.exists(ent) {
		// Its concept was deleted: the entity's next event creates it again.
		if err := w.putEntity(ent, id, true, ts); err != nil {
			return 0, err
		}
	}
	w.known[ent] = struct{}{}
	w.entityIDs[ent] = id
	return id, nil
}

// putEntity writes ent's entities entry; with hasConcept, its derived
// concept created at ts, counted as a new concept.
func (w *eventWriter) putEntity(ent string, id uint32, hasConcept bool, ts int64) error {
	v := encodeEntity(w.bytes(entityValueLen)[:0], id, hasConcept, ts)
	if err := w.ents.Put([]byte(ent), v); err != nil {
		return err
	}
	if hasConcept {
		w.conceptsAdded++
		if strings.HasPrefix(ent, eventConceptPrefix) {
			w.eventNamedConcepts = true
		}
	}
	return nil
}

// ensureConcept creates the concept id (strength and confidence 1) when absent.
func (w *eventWriter) ensureConcept(id string, ts int64) error {
	if _, ok := w.known[id]; ok {
		return nil
	}
	if !w.g.exists(id) {
		if err := w.concepts.Put([]byte(id), encodeConcept(Concept{ID: id, Strength: 1, Confidence: 1, CreatedAt: ts})); err != nil {
			return err
		}
		w.conceptsAdded++
		if strings.HasPrefix(id, eventConceptPrefix) {
			w.eventNamedConcepts = true
		}
	}
	w.known[id] = struct{}{}
	return nil
}

// chainDigest folds (id, seq) into the running digest; buf is scratch
// space, returned for reuse.
func chainDigest(prev [32]byte, id string, seq uint64, buf []byte) ([32]byte, []byte) {
	buf = append(buf[:0], prev[:]...)
	buf = append(buf, id...)
	buf = append(buf, 0)
	buf = binary.BigEndian.AppendUint64(buf, seq)
	return sha256.Sum256(buf), buf
}
