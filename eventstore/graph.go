package eventstore

import (
	"encoding/binary"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// Limits on what a concept may hold.
const (
	// MaxIDBytes is the longest concept id accepted.
	MaxIDBytes = 256
	// MaxContentBytes is the largest concept content accepted.
	MaxContentBytes = 1 << 20
	// DefaultNeighborLimit is used when Neighbors is given limit 0.
	DefaultNeighborLimit = 1000
	// DefaultPathDepth is used when FindPath is given maxDepth 0.
	DefaultPathDepth = 6
	// maxPathVisits bounds the work of one FindPath.
	maxPathVisits = 100_000
	// maxPathDepth caps maxDepth.
	maxPathDepth = 32
)

// Concept is a node of the graph.
type Concept struct {
	ID         string
	Content    string
	Strength   float32
	Confidence float32
	CreatedAt  int64 // unix micros
}

// Neighbor is the far end of an outgoing association.
type Neighbor struct {
	ID         string
	Type       uint32
	Confidence float32
}

// validateID checks a concept id.
func validateID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: empty concept id", ErrInvalid)
	case len(id) > MaxIDBytes:
		return fmt.Errorf("%w: concept id is %d bytes, the limit is %d", ErrInvalid, len(id), MaxIDBytes)
	case strings.IndexByte(id, 0) >= 0:
		return fmt.Errorf("%w: concept id contains a NUL byte", ErrInvalid)
	}
	return nil
}

// LearnConcept stores c, replacing the concept with the same id.
func (s *Store) LearnConcept(c Concept) error {
	_, err := s.LearnConceptSeq(c)
	return err
}

// putConcept upserts c and keeps the concept counter.
func putConcept(tx *bolt.Tx, c Concept) error {
	b := tx.Bucket(bucketConcepts)
	key := []byte(c.ID)
	if b.Get(key) == nil {
		if err := addUint(tx.Bucket(bucketMeta), metaConcepts, 1); err != nil {
			return err
		}
	}
	return b.Put(key, encodeConcept(c))
}

// ensureConcept creates c when no concept with its id exists.
func ensureConcept(tx *bolt.Tx, c Concept) error {
	if tx.Bucket(bucketConcepts).Get([]byte(c.ID)) != nil {
		return nil
	}
	return putConcept(tx, c)
}

// deleteConcept removes a concept (not its associations).
func deleteConcept(tx *bolt.Tx, id string) error {
	b := tx.Bucket(bucketConcepts)
	if b.Get([]byte(id)) == nil {
		return nil
	}
	if err := addUint(tx.Bucket(bucketMeta), metaConcepts, -1); err != nil {
		return err
	}
	return b.Delete([]byte(id))
}

func encodeConcept(c Concept) []byte {
	v := make([]byte, 16+len(c.Content))
	copy(v[0:4], encodeFloat(c.Strength))
	copy(v[4:8], encodeFloat(c.Confidence))
	binary.BigEndian.PutUint64(v[8:16], uint64(c.CreatedAt))
	copy(v[16:], c.Content)
	return v
}

func decodeConcept(id string, v []byte) Concept {
	if len(v) < 16 {
		return Concept{ID: id}
	}
	return Concept{
		ID:         id,
		Strength:   decodeFloat(v[0:4]),
		Confidence: decodeFloat(v[4:8]),
		CreatedAt:  int64(binary.BigEndian.Uint64(v[8:16])),
		Content:    string(v[16:]),
	}
}

// QueryConcept returns the concept with the id; found is false when absent.
func (s *Store) QueryConcept(id string) (Concept, bool, error) {
	if err := validateID(id); err != nil {
		return Concept{}, false, err
	}
	var (
		c     Concept
		found bool
	)
	err := s.view(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketConcepts).Get([]byte(id)); v != nil {
			c, found = decodeConcept(id, v), true
		}
		return nil
	})
	if err != nil {
		return Concept{}, false, fmt.Errorf("query concept %q: %w", id, err)
	}
	return c, found, nil
}

// LearnAssociation stores src --[typ]--> dst, replacing the confidence of an
// existing one. Both concepts must exist (ErrNotFound otherwise).
func (s *Store) LearnAssociation(src, dst string, typ uint32, confidence float32) error {
	_, err := s.LearnAssociationSeq(src, dst, typ, confidence)
	return err
}

func assocKey(src, dst string, typ uint32) []byte {
	return join(strPrefix(src), strPrefix(dst), encodeUint32(typ))
}

// adjValue is type(4) confidence(4) far-end id.
func adjValue(typ uint32, confidence float32, far string) []byte {
	return join(encodeUint32(typ), encodeFloat(confidence), []byte(far))
}

// putAssociation upserts src --[typ]--> dst in the association bucket and
// both adjacency lists. Callers check that both concepts exist.
func putAssociation(tx *bolt.Tx, src, dst string, typ uint32, confidence float32) error {
	meta := tx.Bucket(bucketMeta)
	assoc := tx.Bucket(bucketAssoc)
	key := assocKey(src, dst, typ)
	var seq []byte
	if v := assoc.Get(key); len(v) == 12 {
		seq = append([]byte(nil), v[:8]...)
	} else {
		next := getUint(meta, metaAssocSeq) + 1
		if err := putUint(meta, metaAssocSeq, next); err != nil {
			return err
		}
		if err := addUint(meta, metaAssocs, 1); err != nil {
			return err
		}
		seq = encodeUint(next)
	}
	if err := assoc.Put(key, join(seq, encodeFloat(confidence))); err != nil {
		return err
	}
	if err := tx.Bucket(bucketOut).Put(join(strPrefix(src), seq), adjValue(typ, confidence, dst)); err != nil {
		return err
	}
	return tx.Bucket(bucketIn).Put(join(strPrefix(dst), seq), adjValue(typ, confidence, src))
}

// deleteAssociation removes src --[typ]--> dst if present.
func deleteAssociation(tx *bolt.Tx, src, dst string, typ uint32) error {
	assoc := tx.Bucket(bucketAssoc)
	key := assocKey(src, dst, typ)
	v := assoc.Get(key)
	if len(v) != 12 {
		return nil
	}
	seq := append([]byte(nil), v[:8]...)
	if err := assoc.Delete(key); err != nil {
		return err
	}
	if err := tx.Bucket(bucketOut).Delete(join(strPrefix(src), seq)); err != nil {
		return err
	}
	if err := tx.Bucket(bucketIn).Delete(join(strPrefix(dst), seq)); err != nil {
		return err
	}
	return addUint(tx.Bucket(bucketMeta), metaAssocs, -1)
}

// Neighbors lists the outgoing associations of id, newest first. typ 0
// means any type; limit 0 means DefaultNeighborLimit.
func (s *Store) Neighbors(id string, typ uint32, limit int) ([]Neighbor, error) {
	if err := validateID(id); err != nil {
		return nil, err
	}
	if limit <= 0 || limit > DefaultNeighborLimit*10 {
		limit = DefaultNeighborLimit
	}
	var out []Neighbor
	err := s.view(func(tx *bolt.Tx) error {
		out = scanAdjacency(tx.Bucket(bucketOut), id, typ, limit, true)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("neighbors of %q: %w", id, err)
	}
	return out, nil
}

// scanAdjacency reads up to limit entries of id's adjacency list, newest
// first when newestFirst is set.
func scanAdjacency(b *bolt.Bucket, id string, typ uint32, limit int, newestFirst bool) []Neighbor {
	prefix := strPrefix(id)
	c := b.Cursor()
	var k, v []byte
	var next func() ([]byte, []byte)
	if newestFirst {
		k, v = seekLast(c, prefix)
		next = c.Prev
	} else {
		k, v = c.Seek(prefix)
		next = c.Next
	}
	var out []Neighbor
	for ; k != nil && hasPrefix(k, prefix) && len(out) < limit; k, v = next() {
		if len(v) < 8 {
			continue
		}
		t := binary.BigEndian.Uint32(v[0:4])
		if typ != 0 && t != typ {
			continue
		}
		out = append(out, Neighbor{ID: string(v[8:]), Type: t, Confidence: decodeFloat(v[4:8])})
	}
	return out
}

// seekLast positions c on the last key starting with prefix (or returns a
// key outside it when there is none).
func seekLast(c *bolt.Cursor, prefix []byte) ([]byte, []byte) {
	end := prefixEnd(prefix)
	var k, v []byte
	if end == nil {
		k, v = c.Last()
	} else if k, v = c.Seek(end); k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	return k, v
}

// prefixEnd is the smallest key greater than every key with prefix p; nil
// when there is none.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// FindPath returns the shortest path of concept ids from -> to following
// associations in either direction, at most maxDepth hops (0 means
// DefaultPathDepth). It returns nil when there is none.
func (s *Store) FindPath(from, to string, maxDepth int) ([]string, error) {
	if err := validateID(from); err != nil {
		return nil, fmt.Errorf("start: %w", err)
	}
	if err := validateID(to); err != nil {
		return nil, fmt.Errorf("end: %w", err)
	}
	if maxDepth <= 0 {
		maxDepth = DefaultPathDepth
	}
	maxDepth = min(maxDepth, maxPathDepth)
	var path []string
	err := s.view(func(tx *bolt.Tx) error {
		path = bfs(tx, from, to, maxDepth)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("find path %q -> %q: %w", from, to, err)
	}
	return path, nil
}

// bfs searches breadth first over outgoing and incoming associations.
func bfs(tx *bolt.Tx, from, to string, maxDepth int) []string {
	concepts := tx.Bucket(bucketConcepts)
	if concepts.Get([]byte(from)) == nil || concepts.Get([]byte(to)) == nil {
		return nil
	}
	if from == to {
		return []string{from}
	}
	parent := map[string]string{from: ""}
	frontier := []string{from}
	out, in := tx.Bucket(bucketOut), tx.Bucket(bucketIn)
	for depth := 0; depth < maxDepth && len(frontier) > 0; depth++ {
		var next []string
		for _, id := range frontier {
			for _, b := range []*bolt.Bucket{out, in} {
				for _, n := range scanAdjacency(b, id, 0, maxPathVisits, false) {
					if _, seen := parent[n.ID]; seen {
						continue
					}
					parent[n.ID] = id
					if n.ID == to {
						return unwind(parent, to)
					}
					if len(parent) >= maxPathVisits {
						return nil
					}
					next = append(next, n.ID)
				}
			}
		}
		frontier = next
	}
	return nil
}

// unwind rebuilds the path ending at to from the BFS parents.
func unwind(parent map[string]string, to string) []string {
	var rev []string
	for id := to; id != ""; id = parent[id] {
		rev = append(rev, id)
	}
	path := make([]string, len(rev))
	for i, id := range rev {
		path[len(rev)-1-i] = id
	}
	return path
}
