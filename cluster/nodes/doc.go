// Package nodes is the leader's storage-node orchestration (DESIGN.md data
// flow 2): spawn, stop and status orders, placement (healthy, eligible
// agents), the reconciler that brings agents' actual nodes in line with the
// registry, and the agent dialer those orders go through (one cached gRPC
// connection per agent, the seeds' retries and timeouts).
//
// Day-two operations run in the leader's operations loop: moving a node to
// another agent under the same id (move.go, with or without its data),
// drains (drain.go: eligibility, a few nodes at a time, deadline),
// rescheduling the nodes of agents silent for RescheduleAfter and of nodes
// whose restart budget is spent (reschedule.go), and removal and garbage
// collection of agents and node records (gc.go).
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
