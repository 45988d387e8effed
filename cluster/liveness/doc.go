// Package liveness owns agent liveness on the leader: one in-memory timer per
// agent (HeartbeatTimers), reset by each heartbeat, that commits "degraded"
// after DegradedAfter of silence and "offline" after OfflineAfter. A steady
// heartbeat never touches Raft; only status transitions are committed, each
// with its event. The timers exist only while this master leads: the leader
// loop re-arms them with a grace period and clears them on revoke.
//
// The package declares what it needs (Registry, Committer, Emitter,
// Leadership) and is tested with fakes, without Raft.
package liveness
