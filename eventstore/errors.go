package eventstore

import "errors"

// ErrNotFound is returned when a concept an operation needs does not exist
// (for example either end of a new association).
var ErrNotFound = errors.New("not found")

// ErrInvalid is returned for input the store refuses: an empty or oversized
// concept id, an id containing a NUL byte, or oversized content.
var ErrInvalid = errors.New("invalid input")

// ErrClosed is returned by operations on a Store after Close.
var ErrClosed = errors.New("store closed")
