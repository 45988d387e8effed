// Package fsm owns the replicated state machine: the Raft command types, deterministic Apply, the registry of agents and storage nodes, the event graph (an eventstore.Store), and Snapshot/Restore.
package fsm
