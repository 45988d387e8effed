package events

import (
	"context"
	"errors"

	"github.com/gridctl/grid/eventstore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrInvalid: an event, a batch of events or a filter is malformed.
var ErrInvalid = errors.New("invalid argument")

// ErrEventsPruned: a stream cursor points before the oldest retained event,
// so the events just after it no longer exist.
var ErrEventsPruned = errors.New("events pruned")

// ErrStopped: the pipeline has been stopped (the master is shutting down).
var ErrStopped = errors.New("event pipeline stopped: master is shutting down")

// ErrBatcherStopped is returned by EventBatcher.Submit once the batcher has
// been stopped: nothing will commit the events any more.
var ErrBatcherStopped = errors.New("event batcher stopped")

// ErrBatchRejected marks a batch the commit path refused for good (invalid
// content): retrying it could never succeed, so it is dropped and counted.
var ErrBatchRejected = errors.New("event batch rejected")

// ownCode is the gRPC code of this package's sentinels (and of a closed
// event store); ok is false for any other error.
func ownCode(err error) (codes.Code, bool) {
	switch {
	case errors.Is(err, ErrInvalid):
		return codes.InvalidArgument, true
	case errors.Is(err, ErrEventsPruned):
		return codes.OutOfRange, true
	case errors.Is(err, ErrStopped), errors.Is(err, ErrBatcherStopped), errors.Is(err, eventstore.ErrClosed):
		return codes.Unavailable, true
	}
	return codes.OK, false
}

// ownStatus converts this package's sentinels to a gRPC status and leaves
// every other error as it is. Handlers use it inside Forwarder.Forward,
// which must still see "not the leader" errors to find the leader.
func ownStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	if code, ok := ownCode(err); ok {
		return status.Error(code, err.Error())
	}
	return err
}

// toStatus converts any error to a gRPC status at the edge: a status passes
// through, this package's sentinels and context errors map to their codes,
// anything else is INTERNAL.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	code, ok := ownCode(err)
	switch {
	case ok:
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	default:
		code = codes.Internal
	}
	return status.Error(code, err.Error())
}
