package eventstore

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"

	"github.com/gridctl/grid/rpc"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
)

// appendFillPercent is the page fill for the buckets events write to. Their
// keys mostly arrive in increasing order (seq, type+seq, time+seq, entity+seq,
// concept names and ids that start with a timestamp), so bbolt can pack pages
// full instead of leaving half of each page empty after a split: fewer pages
// to write per commit and a smaller file.
const appendFillPercent = 0.95

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
// concepts known to exist, so each event costs only its own puts.
type eventWriter struct {
	meta, concepts, assoc, out, in              *bolt.Bucket
	events, ids, byEntity, byType, byTime, ents *bolt.Bucket

	seq    uint64
	digest [32]byte
	stored int

	conceptsAdded, assocsAdded int64
	assocSeq                   uint64
	// known holds ids of concepts (entities, ts-*) and entities seen to
	// exist in this transaction.
	known map[string]struct{}
	// arena is the free part of the current slab (see bytes).
	arena []byte
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

// catStr is s NUL followed by suffix, in arena bytes (a key with a string part).
func (w *eventWriter) catStr(s string, suffix []byte) []byte {
	out := w.bytes(len(s) + 1 + len(suffix))[:0]
	out = append(out, s...)
	out = append(out, 0)
	return append(out, suffix...)
}

// u64 is v big-endian in arena bytes.
func (w *eventWriter) u64(v uint64) []byte {
	b := w.bytes(8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

func newEventWriter(tx *bolt.Tx, lastSeq uint64, digest [32]byte) *eventWriter {
	w := &eventWriter{
		meta: tx.Bucket(bucketMeta), concepts: tx.Bucket(bucketConcepts), assoc: tx.Bucket(bucketAssoc),
		out: tx.Bucket(bucketOut), in: tx.Bucket(bucketIn), events: tx.Bucket(bucketEvents),
		ids: tx.Bucket(bucketEventIDs), byEntity: tx.Bucket(bucketByEntity), byType: tx.Bucket(bucketByType),
		byTime: tx.Bucket(bucketByTime), ents: tx.Bucket(bucketEntities),
		seq: lastSeq, digest: digest, known: make(map[string]struct{}),
	}
	for _, b := range []*bolt.Bucket{w.events, w.byType, w.byTime, w.concepts, w.assoc, w.out, w.in, w.byEntity, w.ids} {
		b.FillPercent = appendFillPercent
	}
	w.assocSeq = getUint(w.meta, metaAssocSeq)
	return w
}

// appendBatch stores one batch's new, valid events.
func (w *eventWriter) appendBatch(events []*rpc.Event) ([]*rpc.Event, error) {
	var stored []*rpc.Event
	for _, e := range events {
		if !validEvent(e) || w.ids.Get([]byte(e.GetId())) != nil {
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

// putEvent writes one event (Seq set): the record, its indexes and its graph form.
func (w *eventWriter) putEvent(e *rpc.Event) error {
	body, err := deterministic.Marshal(e)
	if err != nil {
		return err
	}
	seqKey := w.u64(e.GetSeq())
	if err := w.events.Put(seqKey, body); err != nil {
		return err
	}
	conceptID, err := w.eventConceptName(e)
	if err != nil {
		return err
	}
	if err := w.ids.Put([]byte(e.GetId()), w.cat(seqKey, []byte(conceptID))); err != nil {
		return err
	}
	var typ [4]byte
	binary.BigEndian.PutUint32(typ[:], uint32(e.GetType()))
	var tsVal, tsKey [8]byte
	binary.BigEndian.PutUint64(tsVal[:], uint64(e.GetTimestamp()))
	binary.BigEndian.PutUint64(tsKey[:], uint64(e.GetTimestamp())^(1<<63))
	if err := w.byType.Put(w.cat(typ[:], seqKey), w.cat(tsVal[:])); err != nil {
		return err
	}
	if err := w.byTime.Put(w.cat(tsKey[:], seqKey), w.cat(typ[:])); err != nil {
		return err
	}
	content, err := MarshalEventJSON(e)
	if err != nil {
		return err
	}
	// The name is free (eventConceptName checked), so this is a new concept
	// and it has no associations yet.
	if err := w.concepts.Put([]byte(conceptID), encodeConcept(Concept{ID: conceptID, Content: string(content), Strength: 1, Confidence: 1, CreatedAt: e.GetTimestamp()})); err != nil {
		return err
	}
	w.conceptsAdded++
	for _, ent := range indexedEntities(e) {
		if err := w.byEntity.Put(w.catStr(ent, seqKey), w.cat(typ[:], tsVal[:])); err != nil {
			return err
		}
		if err := w.ensureEntity(ent, e.GetTimestamp()); err != nil {
			return err
		}
		if err := w.newAssociation(ent, conceptID, uint32(e.GetType())); err != nil {
			return err
		}
	}
	tsID := timeConceptName(e.GetTimestamp())
	if err := w.ensureConcept(tsID, e.GetTimestamp()); err != nil {
		return err
	}
	if err := w.newAssociation(conceptID, tsID, TemporalAssocType); err != nil {
		return err
	}
	// An alert names the events that triggered it: event --[998]--> cause,
	// for each cause still in the graph (unknown ids are skipped).
	for _, cause := range CausedBy(e) {
		ref := w.ids.Get([]byte(cause))
		if len(ref) <= 8 || string(ref[8:]) == conceptID {
			continue
		}
		if err := w.newAssociation(conceptID, string(ref[8:]), CausedByAssocType); err != nil {
			return err
		}
	}
	return nil
}

// ensureEntity records ent in the entities bucket and as a concept, when not yet there.
func (w *eventWriter) ensureEntity(ent string, ts int64) error {
	key := "\x00e" + ent
	if _, ok := w.known[key]; ok {
		return nil
	}
	if w.ents.Get([]byte(ent)) == nil {
		if err := w.ents.Put([]byte(ent), nil); err != nil {
			return err
		}
	}
	if err := w.ensureConcept(ent, ts); err != nil {
		return err
	}
	w.known[key] = struct{}{}
	return nil
}

// ensureConcept creates the concept id (strength and confidence 1) when absent.
func (w *eventWriter) ensureConcept(id string, ts int64) error {
	if _, ok := w.known[id]; ok {
		return nil
	}
	if w.concepts.Get([]byte(id)) == nil {
		if err := w.concepts.Put([]byte(id), encodeConcept(Concept{ID: id, Strength: 1, Confidence: 1, CreatedAt: ts})); err != nil {
			return err
		}
		w.conceptsAdded++
	}
	w.known[id] = struct{}{}
	return nil
}

// newAssociation stores src --[typ]--> dst with confidence 1. One end is an
// event concept created in this transaction, so the association is new.
func (w *eventWriter) newAssociation(src, dst string, typ uint32) error {
	w.assocSeq++
	w.assocsAdded++
	seq := w.u64(w.assocSeq)
	var head [8]byte // type(4) confidence(4)
	binary.BigEndian.PutUint32(head[0:4], typ)
	binary.BigEndian.PutUint32(head[4:8], math.Float32bits(1))
	key := w.bytes(len(src) + len(dst) + 6)[:0]
	key = append(append(append(append(key, src...), 0), dst...), 0)
	key = append(key, head[0:4]...)
	if err := w.assoc.Put(key, w.cat(seq, head[4:8])); err != nil {
		return err
	}
	if err := w.out.Put(w.catStr(src, seq), w.cat(head[:], []byte(dst))); err != nil {
		return err
	}
	return w.in.Put(w.catStr(dst, seq), w.cat(head[:], []byte(src)))
}

// eventConceptName is event-{type}-{timestamp_micros}, made unique with a
// -2, -3, ... suffix (then -s{seq}) when taken. Deterministic given the state.
func (w *eventWriter) eventConceptName(e *rpc.Event) (string, error) {
	base := "event-" + e.GetType().Name() + "-" + strconv.FormatInt(e.GetTimestamp(), 10)
	if w.concepts.Get([]byte(base)) == nil {
		return base, nil
	}
	for i := 2; i <= maxNameSuffix; i++ {
		name := base + "-" + strconv.Itoa(i)
		if w.concepts.Get([]byte(name)) == nil {
			return name, nil
		}
	}
	name := base + "-s" + strconv.FormatUint(e.GetSeq(), 10)
	if w.concepts.Get([]byte(name)) != nil {
		return "", fmt.Errorf("%w: no free concept name for event at %d", ErrInvalid, e.GetTimestamp())
	}
	return name, nil
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
