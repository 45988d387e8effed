package eventstore

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// The write sequence counts every concept and association write the store
// ever applied (LearnConcept, LearnAssociation and the graph form of
// appended events). It is the seeds' StorageService `sequence` (answered by
// LearnConcept and LearnAssociation) and StatsResponse `written`.

// LearnConceptSeq stores c, replacing the concept with the same id, and
// returns the write sequence this write took.
func (s *Store) LearnConceptSeq(c Concept) (uint64, error) {
	if err := validateID(c.ID); err != nil {
		return 0, err
	}
	if len(c.Content) > MaxContentBytes {
		return 0, fmt.Errorf("%w: concept %q content is %d bytes, the limit is %d", ErrInvalid, c.ID, len(c.Content), MaxContentBytes)
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	var seq uint64
	err := s.update(func(tx *bolt.Tx) error {
		if err := putConcept(newGView(tx, s.ix), c); err != nil {
			return err
		}
		var err error
		seq, err = addWrites(tx.Bucket(bucketMeta), 1)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("learn concept %q: %w", c.ID, err)
	}
	return seq, nil
}

// LearnAssociationSeq stores src --[typ]--> dst, replacing the confidence
// of an existing one, and returns the write sequence this write took. Both
// concepts must exist (ErrNotFound otherwise).
func (s *Store) LearnAssociationSeq(src, dst string, typ uint32, confidence float32) (uint64, error) {
	if err := validateID(src); err != nil {
		return 0, fmt.Errorf("source: %w", err)
	}
	if err := validateID(dst); err != nil {
		return 0, fmt.Errorf("target: %w", err)
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	var seq uint64
	err := s.update(func(tx *bolt.Tx) error {
		g := newGView(tx, s.ix)
		if !g.exists(src) {
			return fmt.Errorf("%w: source concept %q", ErrNotFound, src)
		}
		if !g.exists(dst) {
			return fmt.Errorf("%w: target concept %q", ErrNotFound, dst)
		}
		if err := putAssociation(g, src, dst, typ, confidence); err != nil {
			return err
		}
		var err error
		seq, err = addWrites(tx.Bucket(bucketMeta), 1)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("learn association %q -> %q: %w", src, dst, err)
	}
	return seq, nil
}

// addWrites advances the write sequence by n and returns its new value.
func addWrites(meta *bolt.Bucket, n uint64) (uint64, error) {
	next := getUint(meta, metaWrites) + n
	return next, putUint(meta, metaWrites, next)
}
