package eventstore

import (
	"encoding/binary"
	"fmt"
	"math"

	bolt "go.etcd.io/bbolt"
)

// An entity's concept (strength and confidence 1, no content, created at
// the timestamp of the first event indexed under it) is derived from its
// entry in the entities bucket: intern id(4) created_at(8). An entry of
// only the intern id has no derived concept: the name was already a
// concept when the entity was first indexed (a stored one, which then
// stands for it, or a derived event concept), or the concept was deleted.
// Storing it this way costs a new entity one random-key insert instead of
// two (entities and concepts).

// entityValueLen is the length of an entities entry with a derived concept.
const entityValueLen = 12

// entityInternID is the intern id in an entities entry, 0 when unreadable.
func entityInternID(v []byte) uint32 {
	if len(v) < 4 {
		return 0
	}
	return binary.BigEndian.Uint32(v[:4])
}

// encodeEntity is an entities entry: the intern id and, when hasConcept,
// the derived concept's creation time.
func encodeEntity(dst []byte, id uint32, hasConcept bool, createdAt int64) []byte {
	dst = binary.BigEndian.AppendUint32(dst, id)
	if hasConcept {
		dst = binary.BigEndian.AppendUint64(dst, uint64(createdAt))
	}
	return dst
}

// entityConceptOf is the concept derived from the entities entry v of id.
func entityConceptOf(id string, v []byte) (Concept, bool) {
	if len(v) < entityValueLen {
		return Concept{}, false
	}
	return Concept{ID: id, Strength: 1, Confidence: 1, CreatedAt: int64(binary.BigEndian.Uint64(v[4:12]))}, true
}

// isEntityConcept reports whether c is what an entity's derived concept holds.
func isEntityConcept(c Concept) bool {
	return c.Content == "" && math.Float32bits(c.Strength) == math.Float32bits(1) &&
		math.Float32bits(c.Confidence) == math.Float32bits(1)
}

// entityConcept is the derived concept of the entity named id.
func (g *gview) entityConcept(id string) (Concept, bool) {
	return entityConceptOf(id, g.tx.Bucket(bucketEntities).Get([]byte(id)))
}

// dropEntityConcept removes the derived concept of the entity named id,
// keeping its intern id; it reports whether there was one.
func dropEntityConcept(tx *bolt.Tx, id string) (bool, error) {
	b := tx.Bucket(bucketEntities)
	v := b.Get([]byte(id))
	if len(v) < entityValueLen {
		return false, nil
	}
	return true, b.Put([]byte(id), encodeEntity(nil, entityInternID(v), false, 0))
}

// migrateEntityConcepts turns a format 2 or 3 file's entity concepts into
// the derived form, in place: each stored concept of an entity that holds
// exactly what a derived one would (strength and confidence 1, no content)
// is deleted and its creation time goes into the entity's entry. Any other
// stored concept of an entity (learned through the graph API) stays and
// stands for it, as it did. Counters do not change: the same concepts exist.
func migrateEntityConcepts(tx *bolt.Tx) error {
	ents, concepts := tx.Bucket(bucketEntities), tx.Bucket(bucketConcepts)
	type move struct {
		name []byte
		val  []byte
	}
	// In chunks (a write invalidates cursors), so memory stays bounded.
	var after []byte
	for {
		var moves []move
		c := ents.Cursor()
		k, v := c.First()
		if after != nil {
			if k, v = c.Seek(after); k != nil && string(k) == string(after) {
				k, v = c.Next()
			}
		}
		for ; k != nil && len(moves) < entityMigrateChunk; k, v = c.Next() {
			after = append(after[:0], k...)
			if len(v) != 4 {
				continue // already derived
			}
			cv := concepts.Get(k)
			if len(cv) < 16 {
				continue
			}
			cc := decodeConcept(string(k), cv)
			if !isEntityConcept(cc) {
				continue
			}
			moves = append(moves, move{name: append([]byte(nil), k...), val: encodeEntity(nil, entityInternID(v), true, cc.CreatedAt)})
		}
		for _, m := range moves {
			if err := concepts.Delete(m.name); err != nil {
				return fmt.Errorf("migrate entity concepts: %w", err)
			}
			if err := ents.Put(m.name, m.val); err != nil {
				return fmt.Errorf("migrate entity concepts: %w", err)
			}
		}
		if k == nil {
			return nil
		}
	}
}

// entityMigrateChunk is how many entities migrateEntityConcepts moves per pass.
var entityMigrateChunk = 10_000
