// Package cluster is the Grid master as an assembly of parts. Master (in
// master.go) builds every part at start-up, wires each to the small
// interfaces it declares, and holds no domain logic of its own:
//
//   - consensus: hashicorp/raft with a raft-wal (new data dirs) or
//     raft-boltdb/v2 log store (raft_logstore.go, --raft-log-store) and a TCP
//     (optionally mutual-TLS) transport, replicating the fsm package's state
//     (raft.go, tls_stream.go, bootstrap.go for --bootstrap-expect,
//     snapshot_writebehind.go for raft's snapshot store flushing a snapshot
//     while it is written rather than all at its end,
//     leader_contact.go for noticing a dead leader on time, lease.go for
//     the leader's read lease of consistent reads,
//     autopilot.go for promotion and dead-master cleanup, identity.go for the
//     data dir's master and cluster ids);
//   - membership: memberlist gossip, join, the masters an operator removed
//     (gossip.go, gossip_peers.go, addrs.go), a member claiming a Raft
//     server's id with another address refused (gossip_identity.go), the
//     gossip keyring and `grid operator keyring`, fanned out to every member
//     (keyring.go);
//   - the gRPC endpoint: the GridMaster handlers (service*.go), forwarding to
//     the leader with one typed generic and one leader-wait (forward.go),
//     outgoing dial credentials (dial.go), rate limits and audit of refused
//     requests (ratelimit.go, audit.go), and Backend (backend.go): the same
//     handlers called in-process by the REST API (backend_graph.go: its
//     event-graph reads), grpc.health.v1 (grpc_health.go: SERVING once a
//     leader is known and applied) and log streaming relayed to the member
//     named (service_monitor.go); a leadership transfer whose target wins
//     after raft stopped waiting counts as done (transfer_wait.go);
//   - the leader-only parts, started by the leader loop after its barrier and
//     stopped, waiting for every goroutine they started, when leadership ends
//     (leader.go, leader_tasks.go): liveness (package cluster/liveness, the
//     heartbeat timers), nodes (package cluster/nodes, spawn, stop, status,
//     placement, reconcile), events (package cluster/events, emit, batching,
//     retention, stream, ask; wired in events.go) and autopilot;
//   - access control: ACL tokens and policies replicated through the fsm
//     package, resolved for the gRPC interceptors and the REST API, and the
//     ACL handlers (acl.go, access.go);
//   - cluster health and failure tolerance (status.go) and metrics
//     (metrics*.go: Prometheus gauges, raft-boltdb stats);
//   - day-two operations: agent handlers for show, eligibility, drain and
//     removal (service_agents.go, carried out by cluster/nodes), autopilot
//     get/set-config and health (autopilot_ops.go), scheduled snapshot
//     files on every master and the file format with offline inspection
//     (snapshot_schedule.go, snapshot_file.go).
//
// Contracts shared with the REST API and the agents (id syntax, spawn limits,
// statuses, gossip tags, error codes) are owned by package rpc.
//
// Outage recovery (quorum permanently lost): stop every surviving master,
// write <data-dir>/raft/peers.json on each listing the survivors, e.g.
//
//	[{"id": "master-1", "address": "10.0.0.1:7001", "non_voter": false},
//	 {"id": "master-2", "address": "10.0.0.2:7001", "non_voter": false}]
//
// and start them again. Each one replaces its Raft configuration with the
// file's (raft.RecoverCluster), renames it to peers.json.applied and logs
// the recovery; the survivors then elect a leader among themselves.
//
// Leaving: SIGTERM (Shutdown) flushes queued events, hands leadership to
// another voter if this master leads, leaves gossip and stops. The master
// stays in the Raft configuration (a restart rejoins with its data); with
// autopilot cleanup on, a master gossip reports dead or left is removed once
// that keeps at least Config.MinQuorum voters.
package cluster
