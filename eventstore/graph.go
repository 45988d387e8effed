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
func putConcept(g *gview, c Concept) error {
	b := g.tx.Bucket(bucketConcepts)
	key := []byte(c.ID)
	if !g.exists(c.ID) {
		if err := addUint(g.tx.Bucket(bucketMeta), metaConcepts, 1); err != nil {
			return err
		}
	}
	return b.Put(key, encodeConcept(c))
}

// deleteConcept removes a concept (not its associations): the stored one,
// an entity's derived one and, for a derived event concept, the count (the
// caller deletes the event).
func deleteConcept(g *gview, id string) error {
	b := g.tx.Bucket(bucketConcepts)
	if !g.exists(id) {
		return nil
	}
	if err := addUint(g.tx.Bucket(bucketMeta), metaConcepts, -1); err != nil {
		return err
	}
	if _, err := dropEntityConcept(g.tx, id); err != nil {
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
		c, found = newGView(tx, s.ix).concept(id)
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
// both adjacency lists. Callers check that both concepts exist. Over a
// derived association (vgraph.go) it stores one with the same seq.
func putAssociation(g *gview, src, dst string, typ uint32, confidence float32) error {
	tx := g.tx
	meta := tx.Bucket(bucketMeta)
	assoc := tx.Bucket(bucketAssoc)
	key := assocKey(src, dst, typ)
	var seq []byte
	if v := assoc.Get(key); len(v) == 12 {
		seq = append([]byte(nil), v[:8]...)
	} else if d := g.derivedAssocSeq(src, dst, typ); d != 0 {
		seq = encodeUint(d)
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

// deleteStoredAssociation removes the stored src --[typ]--> dst if present,
// leaving the counter to the caller.
func deleteStoredAssociation(tx *bolt.Tx, src, dst string, typ uint32) error {
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
	return tx.Bucket(bucketIn).Delete(join(strPrefix(dst), seq))
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
		out = newGView(tx, s.ix).adjacency(id, true, typ, limit, true)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("neighbors of %q: %w", id, err)
	}
	return out, nil
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
		path = bfs(newGView(tx, s.ix), from, to, maxDepth)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("find path %q -> %q: %w", from, to, err)
	}
	return path, nil
}

// bfs searches breadth first over outgoing and incoming associations.
func bfs(g *gview, from, to string, maxDepth int) []string {
	if !g.exists(from) || !g.exists(to) {
		return nil
	}
	if from == to {
		return []string{from}
	}
	parent := map[string]string{from: ""}
	frontier := []string{from}
	for depth := 0; depth < maxDepth && len(frontier) > 0; depth++ {
		var next []string
		for _, id := range frontier {
			for _, out := range []bool{true, false} {
				for _, n := range g.adjacency(id, out, 0, maxPathVisits, false) {
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
