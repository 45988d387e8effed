package eventstore

import (
	"encoding/binary"
	"math"

	bolt "go.etcd.io/bbolt"
)

// Buckets (store format 3, see format.go). Composite keys are big-endian so
// cursor order is numeric order; string parts end with a NUL (ids never
// contain one). Events are stored once, compactly (record.go), under their
// seq; their indexes live in memory (memindex.go), rebuilt from the events
// bucket on Open. Their graph form (event concepts and their associations)
// is derived on read (vgraph.go), so the concept and association buckets
// hold only what was learned through the graph API, entity and ts-
// concepts, and overrides.
var (
	// bucketMeta holds the counters below.
	bucketMeta = []byte("meta")
	// bucketConcepts: id -> strength(4) confidence(4) created_at(8) content.
	bucketConcepts = []byte("concepts")
	// bucketAssoc: src NUL dst NUL type(4) -> assoc_seq(8) confidence(4).
	bucketAssoc = []byte("assoc")
	// bucketOut: src NUL assoc_seq(8) -> type(4) confidence(4) dst.
	bucketOut = []byte("adj_out")
	// bucketIn: dst NUL assoc_seq(8) -> type(4) confidence(4) src.
	bucketIn = []byte("adj_in")
	// bucketEvents: seq(8) -> the event record (record.go).
	bucketEvents = []byte("events")
	// bucketEntities: entity id -> its intern id(4) [created_at(8)]; every
	// entity ever indexed. With created_at, the entity's concept (strength
	// and confidence 1, no content) is derived from it (entityconcept.go)
	// rather than stored in bucketConcepts.
	bucketEntities = []byte("entities")
	// bucketIntern: string -> intern id(4), assigned in append order.
	bucketIntern = []byte("intern")
	// bucketInternIDs: intern id(4) -> string.
	bucketInternIDs = []byte("intern_ids")

	// bucketWebhookAcks: webhook name -> last acknowledged seq (8). Kept in
	// the store so it travels in snapshots with the events it points into.
	bucketWebhookAcks = []byte("webhook_acks")

	allBuckets = [][]byte{bucketMeta, bucketConcepts, bucketAssoc, bucketOut, bucketIn,
		bucketEvents, bucketEntities, bucketIntern, bucketInternIDs, bucketWebhookAcks}
)

// Buckets of older formats.
var (
	// bucketEventIDs: format 1: event id -> seq(8) concept name; format 2:
	// fnv64a(event id)(8) -> uvarint seqs of the events with that hash.
	bucketEventIDs = []byte("event_ids")
	// Format 2's indexes, in memory since format 3: entity intern id(4)
	// seq(8); type(4) seq(8); timestamp(8) seq(8); cause seq(8) seq(8);
	// time marks seq(8) -> M(seq)(8) (timebounds.go).
	bucketByEntity  = []byte("idx_entity")
	bucketByType    = []byte("idx_type")
	bucketByTime    = []byte("idx_time")
	bucketCausedIn  = []byte("caused_in")
	bucketTimeMarks = []byte("time_marks")

	formatV2IndexBuckets = [][]byte{bucketEventIDs, bucketByEntity, bucketByType, bucketByTime, bucketCausedIn, bucketTimeMarks}
	// formatV2Meta are format 2's time bounds in meta.
	formatV2Meta = [][]byte{[]byte("ts_max"), []byte("ts_disorder"), []byte("ts_any")}
)

// Meta keys.
var (
	metaLastSeq  = []byte("last_seq")
	metaDigest   = []byte("digest")
	metaConcepts = []byte("concepts")
	metaAssocs   = []byte("associations")
	metaEvents   = []byte("events")
	metaAssocSeq = []byte("assoc_seq")
	metaWrites   = []byte("writes")   // the write sequence (writeseq.go)
	metaInterned = []byte("interned") // the last intern id assigned
	metaFormat   = []byte("format")   // the store format version (format.go)
)

func encodeUint(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

func decodeUint(b []byte) uint64 {
	if len(b) < 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// encodeTime maps a signed timestamp to bytes that sort in numeric order.
func encodeTime(ts int64) []byte {
	return encodeUint(uint64(ts) ^ (1 << 63))
}

func getUint(b *bolt.Bucket, key []byte) uint64 { return decodeUint(b.Get(key)) }

func putUint(b *bolt.Bucket, key []byte, v uint64) error { return b.Put(key, encodeUint(v)) }

// addUint adds delta (which may be negative) to a meta counter.
func addUint(b *bolt.Bucket, key []byte, delta int64) error {
	return putUint(b, key, uint64(int64(getUint(b, key))+delta))
}

// join concatenates key parts into a fresh slice.
func join(parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	out := make([]byte, 0, n)
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// strPrefix is the key prefix of a string part: s NUL.
func strPrefix(s string) []byte {
	return append([]byte(s), 0)
}

func encodeUint32(v uint32) []byte {
	b := make([]byte, 4)
	binary.BigEndian.PutUint32(b, v)
	return b
}

func encodeFloat(f float32) []byte { return encodeUint32(math.Float32bits(f)) }

func decodeFloat(b []byte) float32 { return math.Float32frombits(binary.BigEndian.Uint32(b)) }

// hasPrefix reports whether k starts with p.
func hasPrefix(k, p []byte) bool {
	return len(k) >= len(p) && string(k[:len(p)]) == string(p)
}
