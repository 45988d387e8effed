// Package cluster is the Grid master: hashicorp/raft (raft-boltdb/v2 log
// store, TCP transport) replicating the fsm package's state, memberlist
// gossip for discovery and bootstrap, join/remove/transfer, the leader loop
// (barrier, heartbeat timers, reconcile), forwarding of writes to the leader,
// the event batcher, and the gRPC service handlers.
//
// Files of the core: master.go (Master, New, Shutdown, Kill), config.go,
// raft.go (stores, transport, raftApply, peers.json recovery), gossip.go
// (memberlist tags, join), gossip_identity.go (a member claiming a Raft
// server's id with another address is refused), keyring.go (the gossip
// keyring and `grid operator keyring`, fanned out to every member),
// bootstrap.go (--bootstrap-expect), leader.go
// (monitorLeadership, leaderLoop, adding joiners as non-voters),
// autopilot.go (promotion and dead-master cleanup), heartbeat.go
// (HeartbeatTimers), forward.go (forward, leaderClient, stale reads),
// status.go (cluster health, failure tolerance), identity.go (the data
// dir's master and cluster ids), service_*.go (GridMaster handlers),
// backend.go (Backend: the same handlers called in-process by the REST API).
// Events live in events*.go, storage-node orchestration in nodes*.go and
// reconcile.go.
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
