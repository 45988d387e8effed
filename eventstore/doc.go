// Package eventstore owns Grid's graph store: concepts and typed associations
// with forward and reverse adjacency in one bbolt file, Grid's events stored
// compactly and indexed by entity, type, time, sequence and id, with their
// graph form (event concepts and associations) derived on read, retention
// (Prune), consistent snapshots, the store format and its migration, the
// natural-language query compiler (Compile: compile*.go) and what answers it
// beyond a filter (answer.go: Aggregate, Why, ResolveAnchor), webhook
// positions (webhook_acks.go), and the StorageService gRPC server. An
// event's caused_by detail becomes associations to the events it names
// (CausedByAssocType).
//
// Writes are deterministic: the same calls in the same order give the same
// logical state and the same Digest on every replica. Nothing inside a write
// reads the clock or a random source; timestamps come from the callers;
// intern ids and time marks are assigned in append order.
//
// A Store is used in two ways: by the fsm package as the replicated event graph
// (Options.NoSync, rebuilt from snapshot + Raft log on start) and standalone by
// `grid storage-node` (synchronous commits; data survives restart).
//
// Store format 2 (format.go, keys.go): each event is one varint record
// (record.go: id, type, interned entity, source and detail keys, timestamp,
// the seqs its graph form takes) under its seq; indexes hold sequence
// numbers, not copies: entity intern id + seq, type + seq, time + seq, and
// the id's 64-bit hash -> seqs for dedupe. The graph form of an event is
// derived on read exactly as format 1 materialised it (vgraph.go); what the
// graph API writes is stored and wins over the derived form. Time-bounded
// queries skip to the seqs their window can be in (timebounds.go). About
// 270 bytes per event at 1M bench events, against ~1,500 in format 1.
// Format-1 files (no version in meta) are migrated by Open and Restore
// (migrate.go); newer formats are refused.
//
// Appends (append.go) write each event with one put per record and index
// entry, keep the meta counters in memory until the commit, cut keys from
// one slab per transaction, and pack append-ordered buckets' pages full
// (appendFillPercent). AppendEventBatches stores several batches in one
// transaction with the same result as separate AppendEvents calls.
package eventstore
