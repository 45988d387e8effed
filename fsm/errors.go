package fsm

import (
	"errors"

	"github.com/gridctl/grid/rpc"
)

// ErrNotFound is returned (as an Apply response) when a command names an
// agent or node the registry does not hold.
var ErrNotFound = rpc.NewSentinel("not found", rpc.ErrNotFound)

// ErrInvalid is returned (as an Apply response) when a command's record is
// missing a required field.
var ErrInvalid = rpc.NewSentinel("invalid command", rpc.ErrInvalid)

// ErrStaleStatus is returned (as an Apply response) for an agent status
// change whose expected_status is not the status the registry holds.
var ErrStaleStatus = rpc.NewSentinel("stale status", rpc.ErrPrecondition)

// ErrBadSnapshot is returned by Restore when the snapshot stream is not one
// this package wrote.
var ErrBadSnapshot = errors.New("bad snapshot")

// ErrDuplicateRequest is returned (as an Apply response) by a request
// record whose request id is already recorded: the first record stands.
var ErrDuplicateRequest = rpc.NewSentinel("request id already recorded", rpc.ErrExists)
