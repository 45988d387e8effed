package eventstore

import (
	"github.com/gridctl/grid/rpc"
)

// ErrNotFound is returned when a concept an operation needs does not exist
// (for example either end of a new association).
var ErrNotFound = rpc.NewSentinel("not found", rpc.ErrNotFound)

// ErrInvalid is returned for input the store refuses: an empty or oversized
// concept id, an id containing a NUL byte, or oversized content.
var ErrInvalid = rpc.NewSentinel("invalid input", rpc.ErrInvalid)

// ErrClosed is returned by operations on a Store after Close.
var ErrClosed = rpc.NewSentinel("store closed", rpc.ErrUnavailable)
