package eventstore

import (
	"fmt"

	"github.com/gridctl/grid/rpc"

	bolt "go.etcd.io/bbolt"
)

// formatVersion is the store format this code writes and reads, kept in
// meta under "format". Format 1 (no version in meta) stored each event as
// a protobuf with a copy of its graph form (an event concept holding its
// JSON, and its associations in three buckets each) and string-keyed
// indexes: about 1.2 KB per event. Format 2 stores one compact record per
// event, sequence-number indexes and derives the graph form on read.
// Format 3 stores the same records without the index buckets: the indexes
// are kept in memory and rebuilt from the records on Open. Format 4 stores
// an entity's concept in its entry of the entities bucket (intern id and
// creation time, entityconcept.go) instead of the concepts bucket, and no
// longer writes a new entity's name to the intern bucket (the entities
// bucket maps it to the same id): a new entity costs one random-key insert
// instead of three. Open migrates a format 2 or 3 file in place
// (migrate_v2.go); an older Grid refuses a format 4 file.
const formatVersion = 4

// ErrFormat reports a store file written in another format.
var ErrFormat = rpc.NewSentinel("unsupported store format", rpc.ErrPrecondition)

// readFormat is the format of the file behind tx: formatVersion or an older
// one, 1 for a file with data but no version, 0 for a file with no data.
func readFormat(tx *bolt.Tx) uint64 {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		return 0
	}
	if v := getUint(meta, metaFormat); v != 0 {
		return v
	}
	if getUint(meta, metaLastSeq) != 0 || getUint(meta, metaWrites) != 0 {
		return 1
	}
	if c := tx.Bucket(bucketConcepts); c != nil {
		if k, _ := c.Cursor().First(); k != nil {
			return 1
		}
	}
	return 0
}

// checkFormat refuses a file in another format with a message naming the
// file and what to do; it never reads one as the current format.
func checkFormat(tx *bolt.Tx, path string) error {
	switch v := readFormat(tx); {
	case v == 0 || v == formatVersion:
		return nil
	case v >= 1 && v <= 3:
		return nil // migrated by Open and Restore (migrate.go, migrate_v2.go)
	case v < formatVersion:
		return fmt.Errorf("%w: %s was written in event store format %d by an older Grid; this Grid reads format %d. "+
			"A master rebuilds its store from its peers: stop it, move its data directory aside and start it again to rejoin. "+
			"For a storage node, keep the file, run the older Grid to read it, or move it aside to start empty", ErrFormat, path, v, formatVersion)
	default:
		return fmt.Errorf("%w: %s was written in event store format %d by a newer Grid; this Grid reads format %d: upgrade Grid", ErrFormat, path, v, formatVersion)
	}
}

// initFormat creates the buckets and records the format of a new file.
func initFormat(tx *bolt.Tx) error {
	if err := createBuckets(tx); err != nil {
		return err
	}
	meta := tx.Bucket(bucketMeta)
	if getUint(meta, metaFormat) == formatVersion {
		return nil
	}
	return putUint(meta, metaFormat, formatVersion)
}
