// Package nodes is the leader's storage-node orchestration (DESIGN.md data
// flow 2): spawn, stop and status orders, placement, the reconciler that
// brings agents' actual nodes in line with the registry, and the agent
// dialer those orders go through (one cached gRPC connection per agent,
// the seeds' retries and timeouts).
//
// The package holds no pointer back to the master. It declares the small
// interfaces it needs — Registry (reads of the replicated registry),
// Applier (commit a registry command), Emitter (emit an event), AgentDialer
// (a client per agent), Leadership and Fencing (the term every order to an
// agent carries, and VerifyLeader before an orphan is stopped or a status
// read commits) — and takes them in New. The master
// builds one Orchestrator at start-up and runs RunLeader while it leads.
//
// Requests reach it validated (rpc.ValidateSpawnRequest and friends run once,
// in the gRPC handlers); its errors are sentinels of package rpc's kinds, so
// rpc.ToStatus gives each its gRPC code.
package nodes
