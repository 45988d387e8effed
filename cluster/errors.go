package cluster

import (
	"errors"

	"github.com/gridctl/grid/rpc"
	"github.com/hashicorp/raft"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrNotLeader: this master is not the Raft leader.
var ErrNotLeader = rpc.NewSentinel("not the leader", rpc.ErrUnavailable)

// ErrNoLeader: no leader is known (election in progress or quorum lost).
var ErrNoLeader = rpc.NewSentinel("no leader", rpc.ErrUnavailable)

// ErrNotFound: the named agent, node or peer does not exist.
var ErrNotFound = rpc.ErrNotFound

// ErrInvalid: the request or configuration is malformed.
var ErrInvalid = rpc.ErrInvalid

// ErrQuorum: the operation would lose the Raft quorum.
var ErrQuorum = rpc.NewSentinel("would lose quorum", rpc.ErrPrecondition)

// ErrIdentity: the data directory belongs to another master or cluster.
var ErrIdentity = rpc.NewSentinel("data directory identity mismatch", rpc.ErrPrecondition)

// ErrShutdown: the master is shutting down.
var ErrShutdown = rpc.NewSentinel("master is shutting down", rpc.ErrUnavailable)

// raftUnavailable are hashicorp/raft's errors that mean "try again, maybe
// on another master".
var raftUnavailable = []error{
	raft.ErrNotLeader, raft.ErrLeadershipLost, raft.ErrLeadershipTransferInProgress,
	raft.ErrRaftShutdown, raft.ErrEnqueueTimeout, raft.ErrAbortedByRestore,
}

// toStatus converts an error to a gRPC status at the edge: raft's own
// errors are UNAVAILABLE, everything else goes by rpc's one table
// (rpc.ToStatus); the message keeps the wrapped context.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); !ok && errorsIs(err, raftUnavailable...) {
		return status.Error(codes.Unavailable, err.Error())
	}
	return rpc.ToStatus(err)
}

// errorsIs reports whether err matches any of targets.
func errorsIs(err error, targets ...error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}
