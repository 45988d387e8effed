package eventstore

import (
	"encoding/binary"
	"math"

	bolt "go.etcd.io/bbolt"
)

// Buckets. Composite keys are big-endian so cursor order is numeric order;
// string parts end with a NUL (ids never contain one).
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
	// bucketEvents: seq(8) -> deterministic protobuf of the event.
	bucketEvents = []byte("events")
	// bucketEventIDs: event id -> seq(8) concept id.
	bucketEventIDs = []byte("event_ids")
	// bucketByEntity: entity NUL seq(8) -> type(4) timestamp(8).
	bucketByEntity = []byte("idx_entity")
	// bucketByType: type(4) seq(8) -> timestamp(8).
	bucketByType = []byte("idx_type")
	// bucketByTime: timestamp(8, sign-flipped) seq(8) -> type(4).
	bucketByTime = []byte("idx_time")
	// bucketEntities: entity id -> nothing; every entity ever indexed.
	bucketEntities = []byte("entities")

	// bucketWebhookAcks: webhook name -> last acknowledged seq (8). Kept in
	// the store so it travels in snapshots with the events it points into.
	bucketWebhookAcks = []byte("webhook_acks")

	allBuckets = [][]byte{bucketMeta, bucketConcepts, bucketAssoc, bucketOut, bucketIn,
		bucketEvents, bucketEventIDs, bucketByEntity, bucketByType, bucketByTime, bucketEntities, bucketWebhookAcks}
)

// Meta keys.
var (
	metaLastSeq  = []byte("last_seq")
	metaDigest   = []byte("digest")
	metaConcepts = []byte("concepts")
	metaAssocs   = []byte("associations")
	metaEvents   = []byte("events")
	metaAssocSeq = []byte("assoc_seq")
	metaWrites   = []byte("writes") // the write sequence (writeseq.go)
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
