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
// Store format 3 (format.go, keys.go): each event is one varint record
// (record.go: id, type, interned entity, source and detail keys, timestamp,
// the seqs its graph form takes) under its seq, and that is all the file
// holds per event. The indexes live in memory (memindex.go, idtable.go,
// timeindex.go, timebounds.go): the id's 64-bit hash -> seq (dedupe,
// EventsByID, caused_by), entity -> seqs, type -> seqs, (timestamp, seq)
// order, the caused_in reverse lists, time bounds and per-chunk timestamp
// bounds (query_timechunks.go), and per-type applied counters
// (AppliedByType). Events reads a query's records through one cursor
// (query_cursor.go); EventsWire encodes them straight to QueryEvents'
// wire form (query_wire.go). They are rebuilt from the records on Open and
// Restore (rebuild.go), updated by an append once its transaction
// committed (pending.go: what the transaction's own lookups see before
// that) and by a prune together with its commit; readers hold the index
// read-locked with their read transaction, so they never see a seq their
// transaction cannot. A transaction reads the graph through a gview
// (gview.go: its bbolt transaction with the index). The graph form of an
// event is derived on read exactly as format 1 materialised it (vgraph.go;
// concept names: eventname.go); what the graph API writes is
// stored and wins over the derived form. Format-1 files (no version in
// meta) are migrated by Open and Restore (migrate.go) to a new file;
// format-2 files (the same records plus index buckets) in place, by
// dropping the index buckets (migrate_v2.go); newer formats are refused.
//
// Appends (append.go) write one put per event (its record, sequential
// keys, pages packed full), keep the meta counters in memory until the
// commit, cut keys from one slab per transaction, and read from the file
// only the records of id hash matches (dedupe, caused_by); concept name
// suffixes come from the index. AppendEventBatches stores several batches
// in one transaction with the same result as separate AppendEvents calls.
package eventstore
