package eventstore

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/gridctl/grid/rpc"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
)

// migrateChunk is how many events one migration transaction writes.
const migrateChunk = 10_000

// migrateV1 rewrites the format-1 store file at src as a format-2 file at
// dst (in the current format) with the same logical content: every event with its seq, concept name
// and association seqs, the counters, the digest, webhook acks, and what
// the graph API stored (concepts and associations that are not an event's
// derived graph form, or that changed it) as stored ones. Queries, Neighbors
// and Digest answer the same on both.
func migrateV1(src, dst string) error {
	old, err := bolt.Open(src, 0o600, &bolt.Options{ReadOnly: true, Timeout: openTimeout})
	if err != nil {
		return fmt.Errorf("migrate %s: %w", src, err)
	}
	defer old.Close()
	db, err := bolt.Open(dst, 0o600, &bolt.Options{Timeout: openTimeout, NoSync: true, NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return fmt.Errorf("migrate to %s: %w", dst, err)
	}
	defer db.Close()
	err = old.View(func(otx *bolt.Tx) error {
		if err := db.Update(initFormat); err != nil {
			return err
		}
		ix := newMemIndex()
		if err := migrateEvents(otx, db, ix); err != nil {
			return err
		}
		return db.Update(func(tx *bolt.Tx) error { return migrateGraph(otx, tx, ix) })
	})
	if err != nil {
		return fmt.Errorf("migrate %s: %w", src, err)
	}
	return db.Sync()
}

// migrateEvents copies the events in seq order, migrateChunk per
// transaction, indexing them in ix.
func migrateEvents(otx *bolt.Tx, db *bolt.DB, ix *memIndex) error {
	c := otx.Bucket(bucketEvents).Cursor()
	k, v := c.First()
	for k != nil {
		pend := newPending(migrateChunk)
		err := db.Update(func(tx *bolt.Tx) error {
			w := newEventWriter(tx, ix, pend, 0, [32]byte{})
			for n := 0; k != nil && n < migrateChunk; k, v = c.Next() {
				n++
				e := &rpc.Event{}
				if err := proto.Unmarshal(v, e); err != nil {
					return fmt.Errorf("decode event seq %d: %w", decodeUint(k), err)
				}
				e.Seq = decodeUint(k)
				rec, causes, err := v1Record(otx, tx, e)
				if err != nil {
					return fmt.Errorf("event seq %d: %w", e.GetSeq(), err)
				}
				if err := w.putRecord(rec, causes); err != nil {
					return fmt.Errorf("event seq %d: %w", e.GetSeq(), err)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		ix.addPending(pend)
	}
	return nil
}

// v1Record recovers an event's concept name suffix, association base and
// cause mask from its format-1 graph form.
func v1Record(otx, tx *bolt.Tx, e *rpc.Event) (record, []uint64, error) {
	ref := otx.Bucket(bucketEventIDs).Get([]byte(e.GetId()))
	if len(ref) <= 8 || decodeUint(ref[:8]) != e.GetSeq() {
		return record{}, nil, fmt.Errorf("no concept for event %q", e.GetId())
	}
	name := string(ref[8:])
	rec := record{ev: e}
	base := "event-" + e.GetType().Name() + "-" + strconv.FormatInt(e.GetTimestamp(), 10)
	switch rest := strings.TrimPrefix(name, base); {
	case rest == "":
	case rest == "-s"+strconv.FormatUint(e.GetSeq(), 10):
		rec.suffix = 1
	default:
		k, err := strconv.ParseUint(strings.TrimPrefix(rest, "-"), 10, 64)
		if err != nil || k < 2 || "-"+strconv.FormatUint(k, 10) != rest {
			return record{}, nil, fmt.Errorf("odd concept name %q", name)
		}
		rec.suffix = k
	}
	// The event's own out-edges: the temporal one first, then its causes.
	type out struct {
		seq uint64
		typ uint32
		dst string
	}
	var outs []out
	prefix := strPrefix(name)
	c := otx.Bucket(bucketOut).Cursor()
	for k, v := c.Seek(prefix); k != nil && hasPrefix(k, prefix); k, v = c.Next() {
		if len(k) == len(prefix)+8 && len(v) >= 8 {
			outs = append(outs, out{decodeUint(k[len(prefix):]), binary.BigEndian.Uint32(v[:4]), string(v[8:])})
		}
	}
	tsName := timeConceptName(e.GetTimestamp())
	var temporal uint64
	for _, o := range outs {
		if o.typ == TemporalAssocType && o.dst == tsName {
			temporal = o.seq
			break
		}
	}
	nEnt := uint64(len(indexedEntities(e)))
	if temporal <= nEnt {
		return record{}, nil, fmt.Errorf("no temporal association for %q", name)
	}
	rec.assocBase = temporal - nEnt
	// A cause stored now before the event was linked; its association's
	// seq gives its rank among the linked causes. Causes no longer stored
	// never link again; they only fill the ranks in between.
	causes := CausedBy(e)
	rank := make([]int, len(causes)) // -1: not stored now
	used := map[uint64]bool{}
	var live []uint64
	for i, id := range causes {
		rank[i] = -1
		cref := otx.Bucket(bucketEventIDs).Get([]byte(id))
		if len(cref) <= 8 || decodeUint(cref[:8]) >= e.GetSeq() {
			continue
		}
		for _, o := range outs {
			if o.typ == CausedByAssocType && o.dst == string(cref[8:]) && o.seq > temporal && o.seq <= temporal+uint64(len(causes)) && !used[o.seq] {
				used[o.seq] = true
				rank[i] = int(o.seq - temporal - 1)
				live = append(live, decodeUint(cref[:8]))
				break
			}
		}
	}
	count := 0
	for i := range causes {
		switch {
		case rank[i] >= 0:
			rec.causeMask |= 1 << i
			count++
		default:
			next := -1
			for j := i + 1; j < len(causes); j++ {
				if rank[j] >= 0 {
					next = rank[j]
					break
				}
			}
			if count < next {
				rec.causeMask |= 1 << i
				count++
			}
		}
	}
	return rec, live, nil
}

// migrateGraph copies what the graph API stored and the counters.
func migrateGraph(otx, tx *bolt.Tx, ix *memIndex) error {
	g := newGView(tx, ix)
	concepts := tx.Bucket(bucketConcepts)
	err := otx.Bucket(bucketConcepts).ForEach(func(k, v []byte) error {
		if d, ok := g.concept(string(k)); ok && bytes.Equal(encodeConcept(d), v) {
			return nil // derived (or already written) and the same
		}
		return concepts.Put(bytes.Clone(k), bytes.Clone(v))
	})
	if err != nil {
		return err
	}
	assoc, outB, inB := tx.Bucket(bucketAssoc), tx.Bucket(bucketOut), tx.Bucket(bucketIn)
	c := otx.Bucket(bucketOut).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		nul := bytes.IndexByte(k, 0)
		if nul < 0 || len(k) != nul+9 || len(v) < 8 {
			continue
		}
		src, seq := string(k[:nul]), decodeUint(k[nul+1:])
		typ, conf, dst := binary.BigEndian.Uint32(v[:4]), decodeFloat(v[4:8]), string(v[8:])
		if conf == 1 && g.derivedAssocSeq(src, dst, typ) == seq {
			continue
		}
		if err := outB.Put(bytes.Clone(k), bytes.Clone(v)); err != nil {
			return err
		}
		if err := inB.Put(join(strPrefix(dst), encodeUint(seq)), adjValue(typ, conf, src)); err != nil {
			return err
		}
		key := assocKey(src, dst, typ)
		if ov := otx.Bucket(bucketAssoc).Get(key); len(ov) == 12 && decodeUint(ov[:8]) == seq {
			if err := assoc.Put(key, bytes.Clone(ov)); err != nil {
				return err
			}
		}
	}
	meta, ometa := tx.Bucket(bucketMeta), otx.Bucket(bucketMeta)
	for _, key := range [][]byte{metaLastSeq, metaDigest, metaConcepts, metaAssocs, metaEvents, metaAssocSeq, metaWrites} {
		if v := ometa.Get(key); v != nil {
			if err := meta.Put(key, bytes.Clone(v)); err != nil {
				return err
			}
		}
	}
	if acks := otx.Bucket(bucketWebhookAcks); acks != nil {
		return acks.ForEach(func(k, v []byte) error {
			return tx.Bucket(bucketWebhookAcks).Put(bytes.Clone(k), bytes.Clone(v))
		})
	}
	return nil
}

// migrateFile replaces the format-1 file at path with its format-2
// migration, keeping the original as path.format1 until it succeeded.
func migrateFile(path string) error {
	tmp := path + ".migrate"
	os.Remove(tmp)
	if err := migrateV1(path, tmp); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(path, path+".format1"); err != nil {
		return fmt.Errorf("migrate %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("migrate %s: %w", path, err)
	}
	return nil
}
