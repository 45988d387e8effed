package eventstore

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strconv"

	"github.com/gridctl/grid/rpc"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
)

// appendFillPercent is the page fill for the buckets whose keys arrive in
// increasing order (seq, type+seq, time+seq, cause seq+seq), so bbolt can
// pack pages full instead of leaving half of each page empty after a split:
// fewer pages to write per commit and a smaller file. The id index (hashes)
// keeps bbolt's default; the entity index uses entityFillPercent: packed
// full, each insert into a full page would split it again.
const appendFillPercent = 0.95

// entityFillPercent is the entity index's page fill: each entity's keys
// arrive in increasing order but interleaved with other entities'. 0.7 left
// 57 B/event allocated against bbolt's default 0.5 (63) and 0.85 (59) for
// bench-shaped events (BenchmarkStoreBytesPerEvent, 200,000 events).
const entityFillPercent = 0.7

// arenaChunk is the size of the slabs keys and values are cut from during
// one append transaction (bbolt needs them valid until the commit).
const arenaChunk = 64 << 10

// AppendResult is what one batch of an AppendEventBatches call stored.
type AppendResult struct {
	// Stored are clones of the stored events with Seq set, in input order.
	Stored []*rpc.Event
	// LastSeq is the store's last seq right after this batch.
	LastSeq uint64
}

// AppendEvents stores events in one transaction, in input order. Events whose
// id is already stored and invalid events (nil, empty id, unspecified type,
// oversized) are skipped. Each stored event gets Seq = LastSeq()+1, +2, ...
// The returned events are clones with Seq set.
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
// batch. Either every batch is stored or, on error, none.
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
	err := s.update(func(tx *bolt.Tx) error {
		w = newEventWriter(tx, lastSeq, digest)
		for i, batch := range batches {
			stored, err := w.appendBatch(batch)
			if err != nil {
				return err
			}
			results[i] = AppendResult{Stored: stored, LastSeq: w.seq}
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
	s.publish(w.seq, firstSeq, w.digest, true)
	return results, nil
}

// eventWriter writes events inside one write transaction. It holds the
// bucket handles, the meta counters (written once, in finish) and the
// concepts known to exist, so each event costs only its own puts: its
// record, its id, type, time and entity index entries (record.go, keys.go).
type eventWriter struct {
	meta, concepts, events, ids, byEntity, byType, byTime, ents, causedIn, marks *bolt.Bucket
	g                                                                            *gview

	seq    uint64
	digest [32]byte
	stored int

	conceptsAdded, assocsAdded int64
	assocSeq                   uint64
	// known holds ids of concepts (entities, ts-*) seen to exist in this
	// transaction; entityIDs the intern ids of entities seen.
	known     map[string]struct{}
	entityIDs map[string]uint32
	// arena is the free part of the current slab (see bytes).
	arena []byte
	rec   []byte // the record buffer, reused
	times timeTracker
}

// bytes returns n bytes cut from the transaction's slab: one allocation per
// arenaChunk instead of one per key and value.
func (w *eventWriter) bytes(n int) []byte {
	if n > arenaChunk/4 {
		return make([]byte, n)
	}
	if len(w.arena) < n {
		w.arena = make([]byte, arenaChunk)
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

func newEventWriter(tx *bolt.Tx, lastSeq uint64, digest [32]byte) *eventWriter {
	w := &eventWriter{
		meta: tx.Bucket(bucketMeta), concepts: tx.Bucket(bucketConcepts), events: tx.Bucket(bucketEvents),
		ids: tx.Bucket(bucketEventIDs), byEntity: tx.Bucket(bucketByEntity), byType: tx.Bucket(bucketByType),
		byTime: tx.Bucket(bucketByTime), ents: tx.Bucket(bucketEntities), causedIn: tx.Bucket(bucketCausedIn),
		marks: tx.Bucket(bucketTimeMarks),
		g:     newGView(tx),
		seq:   lastSeq, digest: digest, known: make(map[string]struct{}), entityIDs: make(map[string]uint32),
	}
	// Keys that arrive in increasing order: pack their pages full. The id
	// index (hash keys) and the entity index (interleaved entities) keep
	// bbolt's default.
	for _, b := range []*bolt.Bucket{w.events, w.byType, w.byTime, w.causedIn} {
		b.FillPercent = appendFillPercent
	}
	w.byEntity.FillPercent = entityFillPercent
	w.assocSeq = getUint(w.meta, metaAssocSeq)
	w.times = loadTimeTracker(w.meta)
	return w
}

// appendBatch stores one batch's new, valid events.
func (w *eventWriter) appendBatch(events []*rpc.Event) ([]*rpc.Event, error) {
	var stored []*rpc.Event
	for _, e := range events {
		if !validEvent(e) || lookupID(w.g.tx, e.GetId()) != 0 {
			continue
		}
		w.seq++
		ev := proto.Clone(e).(*rpc.Event)
		ev.Seq = w.seq
		if err := w.putEvent(ev); err != nil {
			return nil, fmt.Errorf("event %q: %w", ev.GetId(), err)
		}
		w.digest = chainDigest(w.digest, ev.GetId(), w.seq)
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
	if err := w.times.flush(w.meta); err != nil {
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
	w.assocSeq += uint64(len(indexedEntities(e))) + 1 // entity --> event, event --> ts
	// An alert names the events that triggered it: event --[998]--> cause,
	// for each cause stored before it (unknown ids are skipped).
	var causes []uint64
	for i, cause := range CausedBy(e) {
		cseq := lookupID(w.g.tx, cause)
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

// putRecord writes an event's record, its index entries, the entity and
// ts- concepts it names when new, and the reverse entries of its causes.
func (w *eventWriter) putRecord(rec record, causes []uint64) error {
	e := rec.ev
	seqKey := w.u64(e.GetSeq())
	var typ [4]byte
	binary.BigEndian.PutUint32(typ[:], uint32(e.GetType()))
	var tsKey [8]byte
	binary.BigEndian.PutUint64(tsKey[:], uint64(e.GetTimestamp())^(1<<63))
	// entVal is uvarint type, varint timestamp; its first typLen bytes are the type.
	var entBuf [2 * binary.MaxVarintLen64]byte
	typLen := binary.PutUvarint(entBuf[:], uint64(typ32(e)))
	entVal := w.cat(entBuf[:typLen+binary.PutVarint(entBuf[typLen:], e.GetTimestamp())])
	for _, ent := range indexedEntities(e) {
		id, err := w.ensureEntity(ent, e.GetTimestamp())
		if err != nil {
			return err
		}
		if err := w.byEntity.Put(w.cat(encodeUint32(id), seqKey), entVal); err != nil {
			return err
		}
	}
	if err := w.ensureConcept(timeConceptName(e.GetTimestamp()), e.GetTimestamp()); err != nil {
		return err
	}
	if err := w.times.add(w.marks, e.GetSeq(), e.GetTimestamp()); err != nil {
		return err
	}
	for _, cseq := range causes {
		if err := w.causedIn.Put(w.cat(encodeUint(cseq), seqKey), nil); err != nil {
			return err
		}
	}
	var err error
	w.rec, err = encodeRecord(w.rec[:0], rec, w.g.in)
	if err != nil {
		return err
	}
	if err := w.events.Put(seqKey, w.cat(w.rec)); err != nil {
		return err
	}
	if err := putID(w.ids, e.GetId(), e.GetSeq()); err != nil {
		return err
	}
	if err := w.byType.Put(w.cat(typ[:], seqKey), entVal[typLen:]); err != nil {
		return err
	}
	return w.byTime.Put(w.cat(tsKey[:], seqKey), entVal[:typLen])
}

// typ32 is e's type as stored in keys and varints.
func typ32(e *rpc.Event) uint32 { return uint32(e.GetType()) }

// ensureEntity records ent in the entities bucket (interning it) and as a
// concept, when not yet there, and returns its intern id.
func (w *eventWriter) ensureEntity(ent string, ts int64) (uint32, error) {
	if id, ok := w.entityIDs[ent]; ok {
		return id, nil
	}
	id := decodeUint32(w.ents.Get([]byte(ent)))
	if id == 0 {
		v, err := w.g.in.intern(ent)
		if err != nil {
			return 0, err
		}
		id = uint32(v)
		if err := w.ents.Put([]byte(ent), encodeUint32(id)); err != nil {
			return 0, err
		}
	}
	if err := w.ensureConcept(ent, ts); err != nil {
		return 0, err
	}
	w.entityIDs[ent] = id
	return id, nil
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
	}
	w.known[id] = struct{}{}
	return nil
}

// eventConceptSuffix picks the event's concept name event-{type}-{timestamp_micros},
// made unique with a -2, -3, ... suffix (then -s{seq}) when taken, and
// returns the record's name_suffix. Deterministic given the state. The
// stored events of the same type and timestamp are read once.
func (w *eventWriter) eventConceptSuffix(e *rpc.Event) (uint64, error) {
	base := "event-" + e.GetType().Name() + "-" + strconv.FormatInt(e.GetTimestamp(), 10)
	used := map[uint64]bool{} // suffixes (0, k >= 2) of stored events' names
	prefix := encodeTime(e.GetTimestamp())
	c := w.byTime.Cursor()
	for k, v := c.Seek(prefix); k != nil && len(k) == 16 && bytes.Equal(k[:8], prefix); k, v = c.Next() {
		if eventTypeOf(v) != e.GetType() {
			continue
		}
		if r, ok := w.g.record(decodeUint(k[8:])); ok && r.suffix != 1 {
			used[r.suffix] = true
		}
	}
	free := func(suffix uint64, name string) bool {
		return !used[suffix] && w.concepts.Get([]byte(name)) == nil
	}
	if free(0, base) {
		return 0, nil
	}
	for i := 2; i <= maxNameSuffix; i++ {
		if free(uint64(i), base+"-"+strconv.Itoa(i)) {
			return uint64(i), nil
		}
	}
	if w.g.exists(base + "-s" + strconv.FormatUint(e.GetSeq(), 10)) {
		return 0, fmt.Errorf("%w: no free concept name for event at %d", ErrInvalid, e.GetTimestamp())
	}
	return 1, nil
}

// chainDigest folds (id, seq) into the running digest.
func chainDigest(prev [32]byte, id string, seq uint64) [32]byte {
	h := sha256.New()
	h.Write(prev[:])
	h.Write([]byte(id))
	h.Write([]byte{0})
	h.Write(encodeUint(seq))
	var out [32]byte
	h.Sum(out[:0])
	return out
}
