// Package cluster is the Grid master: hashicorp/raft (raft-boltdb/v2 log
// store, TCP transport) replicating the fsm package's state, memberlist
// gossip for discovery and bootstrap, join/remove/transfer, the leader loop
// (barrier, heartbeat timers, reconcile), forwarding of writes to the leader,
// the event batcher, and the gRPC service handlers.
package cluster
