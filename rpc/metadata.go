package rpc

// Metadata keys carried on gRPC calls.
const (
	// StaleMetadataKey set to "true" lets a follower answer a read from its
	// own replica instead of asking the leader (reads are consistent by default).
	StaleMetadataKey = "x-grid-stale"
	// ForwardedMetadataKey marks a call a master forwarded to the leader, so
	// it is never forwarded twice.
	ForwardedMetadataKey = "x-grid-forwarded"
	// AuthorizationMetadataKey carries "Bearer <token>" when API tokens are on.
	AuthorizationMetadataKey = "authorization"
	// RequestIDMetadataKey carries a mutating call's request id: a retry
	// with the same id of a call that succeeded is answered with the first
	// result instead of being carried out again (requestid.go).
	RequestIDMetadataKey = "x-grid-request-id"
	// LeaderIDTrailerKey is the trailer of a HeartbeatStream a master
	// refused because it is not the leader: the leader's id, when known, so
	// the agent can go to it (its address from gossip).
	LeaderIDTrailerKey = "x-grid-leader-id"
)
