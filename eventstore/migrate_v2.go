package eventstore

import (
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// migrateV2 turns a format-2 file into format 3 in place, in one
// transaction: format 3 holds the same records and drops the index buckets
// (their pages go to the free list and are reused), the indexes being
// rebuilt in memory on Open.
func migrateV2(tx *bolt.Tx) error {
	for _, name := range formatV2IndexBuckets {
		if err := tx.DeleteBucket(name); err != nil && !errors.Is(err, bolt.ErrBucketNotFound) {
			return fmt.Errorf("migrate format 2: drop %s: %w", name, err)
		}
	}
	meta := tx.Bucket(bucketMeta)
	for _, k := range formatV2Meta {
		if err := meta.Delete(k); err != nil {
			return fmt.Errorf("migrate format 2: %w", err)
		}
	}
	return putUint(meta, metaFormat, formatVersion)
}

// migrateV3 turns a format-2 or format-3 file into format 4 in place, in
// one transaction: format 2's index buckets go (migrateV2), then the
// entities' stored concepts become derived ones (migrateEntityConcepts).
func migrateV3(tx *bolt.Tx, from uint64) error {
	if from == 2 {
		if err := migrateV2(tx); err != nil {
			return err
		}
	}
	if err := migrateEntityConcepts(tx); err != nil {
		return err
	}
	return putUint(tx.Bucket(bucketMeta), metaFormat, formatVersion)
}
