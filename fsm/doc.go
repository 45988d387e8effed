// Package fsm owns the replicated state machine: the Raft command types
// (messages.go), deterministic Apply (apply.go), the registry of agents and
// storage nodes, the event graph (an eventstore.Store), Snapshot/Restore
// (snapshot.go; Persist paced by snapshot_pace.go) and the state hash
// replicas are compared by (hash.go).
// Agents' eligibility and drain state and the operator's autopilot
// configuration are replicated too (scheduling.go); InspectSnapshot
// (inspect.go) counts what a snapshot stream holds without an FSM.
//
// Apply never reads the clock, draws random numbers or touches the network:
// the proposer puts timestamps and ids in the command. An entry that cannot
// be decoded panics (replicas would otherwise diverge); a business failure
// (an unknown agent, an invalid record) is returned as an error value, which
// the proposer receives from raft's ApplyFuture.Response.
//
// The FSM is a raft.BatchingFSM: ApplyBatch gives each entry the same
// result Apply would, but applies runs of consecutive registry and
// AppendEvents entries as groups whose events share one event-store
// transaction (apply_group.go: each registry change is undone and the run
// applied entry by entry when the store refuses the group's events). Pollers of the registry read Version (bumped by
// every registry command) and Counts / AgentStatus (registry_view.go)
// instead of copying every record. Webhook positions (webhooks.go,
// WebhookAckType) are kept in the event store, so they travel with it.
package fsm
