// Package liveness owns agent liveness on the leader: one in-memory timer per
// agent (HeartbeatTimers), reset by each heartbeat, that commits "degraded"
// after DegradedAfter of silence and "offline" after OfflineAfter. A steady
// heartbeat never touches Raft; only status transitions are committed, each
// with its event, many agents' changes grouped in one entry (commit.go). The
// timers exist only while this master leads: the leader loop re-arms them
// with a grace period and clears them on revoke.
//
// The interval handed to agents scales with the fleet (as Nomad does):
// max(HeartbeatInterval, agents / MaxHeartbeatsPerSecond) with ±10% jitter,
// and each agent's deadlines stretch by the same factor. Once an agent's
// offline status commits, the timers keep nothing for it (the registry holds
// its last heartbeat) and Config.OnOffline lets the master drop the rest.
//
// The package declares what it needs (Registry, Committer, Leadership) and
// is tested with fakes, without Raft.
package liveness
