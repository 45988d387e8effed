package fsm

import "errors"

// ErrNotFound is returned (as an Apply response) when a command names an
// agent or node the registry does not hold.
var ErrNotFound = errors.New("not found")

// ErrInvalid is returned (as an Apply response) when a command's record is
// missing a required field.
var ErrInvalid = errors.New("invalid command")

// ErrBadSnapshot is returned by Restore when the snapshot stream is not one
// this package wrote.
var ErrBadSnapshot = errors.New("bad snapshot")
