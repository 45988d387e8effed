// Package eventstore owns Grid's graph store: concepts and typed associations
// with forward and reverse adjacency in one bbolt file, Grid's events stored in
// graph form and indexed by entity, type, time, sequence and id, retention
// (Prune), consistent snapshots, the natural-language query compiler
// (Compile: compile*.go) and what answers it beyond a filter (answer.go:
// Aggregate, Why, ResolveAnchor), webhook positions (webhook_acks.go), and
// the StorageService gRPC server. An event's caused_by detail becomes
// associations to the events it names (CausedByAssocType).
//
// Writes are deterministic: the same calls in the same order give the same
// logical state and the same Digest on every replica. Nothing inside a write
// reads the clock or a random source; timestamps come from the callers.
//
// A Store is used in two ways: by the fsm package as the replicated event graph
// (Options.NoSync, rebuilt from snapshot + Raft log on start) and standalone by
// `grid storage-node` (synchronous commits; data survives restart).
//
// Appends (append.go) write each event with one put per record, index entry
// and association end, keep the meta counters in memory until the commit,
// cut keys from one slab per transaction, and pack append-mostly buckets'
// pages full (appendFillPercent). AppendEventBatches stores several batches
// in one transaction with the same result as separate AppendEvents calls.
package eventstore
