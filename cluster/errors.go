package cluster

import (
	"context"
	"errors"

	"github.com/gridctl/grid/fsm"
	"github.com/hashicorp/raft"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrNotLeader: this master is not the Raft leader.
var ErrNotLeader = errors.New("not the leader")

// ErrNoLeader: no leader is known (election in progress or quorum lost).
var ErrNoLeader = errors.New("no leader")

// ErrNotFound: the named agent, node or peer does not exist.
var ErrNotFound = errors.New("not found")

// ErrInvalid: the request or configuration is malformed.
var ErrInvalid = errors.New("invalid argument")

// ErrQuorum: the operation would lose the Raft quorum.
var ErrQuorum = errors.New("would lose quorum")

// ErrIdentity: the data directory belongs to another master or cluster.
var ErrIdentity = errors.New("data directory identity mismatch")

// ErrShutdown: the master is shutting down.
var ErrShutdown = errors.New("master is shutting down")

// toStatus converts an error to a gRPC status at the edge. A status error
// passes through; sentinels map to their codes; the message keeps the
// wrapped context.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var code codes.Code
	switch {
	case errors.Is(err, ErrInvalid), errors.Is(err, fsm.ErrInvalid):
		code = codes.InvalidArgument
	case errors.Is(err, ErrNotFound), errors.Is(err, fsm.ErrNotFound):
		code = codes.NotFound
	case errors.Is(err, ErrQuorum):
		code = codes.FailedPrecondition
	case errors.Is(err, ErrNotLeader), errors.Is(err, ErrNoLeader), errors.Is(err, ErrShutdown),
		errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost),
		errors.Is(err, raft.ErrLeadershipTransferInProgress), errors.Is(err, raft.ErrRaftShutdown),
		errors.Is(err, raft.ErrEnqueueTimeout), errors.Is(err, raft.ErrAbortedByRestore):
		code = codes.Unavailable
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	default:
		code = codes.Internal
	}
	return status.Error(code, err.Error())
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
