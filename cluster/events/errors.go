package events

import (
	"errors"

	"github.com/gridctl/grid/rpc"
	"google.golang.org/grpc/codes"
)

// ErrInvalid: an event, a batch of events or a filter is malformed.
var ErrInvalid = rpc.ErrInvalid

// ErrEventsPruned: a stream cursor points before the oldest retained event,
// so the events just after it no longer exist.
var ErrEventsPruned = rpc.NewSentinel("events pruned", rpc.ErrOutOfRange)

// ErrStopped: the pipeline has been stopped (the master is shutting down).
var ErrStopped = rpc.NewSentinel("event pipeline stopped: master is shutting down", rpc.ErrUnavailable)

// ErrBatcherStopped is returned by EventBatcher.Submit once the batcher has
// been stopped: nothing will commit the events any more.
var ErrBatcherStopped = rpc.NewSentinel("event batcher stopped", rpc.ErrUnavailable)

// ErrBatchRejected marks a batch the commit path refused for good (invalid
// content): retrying it could never succeed, so it is dropped and counted.
var ErrBatchRejected = errors.New("event batch rejected")

// ownStatus converts the errors Grid declares (rpc's table) to a gRPC status
// and leaves every other error as it is. Handlers use it inside
// Forwarder.Forward, which must still see "not the leader" errors to find
// the leader.
func ownStatus(err error) error {
	if rpc.StatusCode(err) == codes.Internal {
		return err
	}
	return rpc.ToStatus(err)
}

// toStatus converts any error to a gRPC status at the edge (rpc's table).
func toStatus(err error) error { return rpc.ToStatus(err) }
