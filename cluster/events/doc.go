// Package events is a master's event pipeline. It owns:
//
//   - emit: a master's own events enter a bounded queue that never blocks
//     (Pipeline.Emit); drops are counted and reported as an events_dropped
//     event;
//   - batching: the EventBatcher turns many events into one Raft entry
//     (group commit), and resends its own events through the leader until
//     they are acknowledged;
//   - retention: on the leader, prune commands keep the event graph within
//     its age and count limits (Pipeline.RunLeader);
//   - the event stream: StreamEvents resumes exactly after a seq, and fails
//     with OUT_OF_RANGE when the events after it were pruned;
//   - the natural-language ask (AskQuery) over the event graph and registry;
//   - validation of incoming event batches and filters;
//   - the gRPC handlers of the event RPCs: EmitEvents, QueryEvents,
//     StreamEvents and AskQuery.
//
// The package knows nothing of Raft or of cluster.Master: it declares the
// small interfaces it needs (Applier, Leadership, Forwarder, Store) and the
// master hands it implementations in New. Unit tests use fakes.
package events
