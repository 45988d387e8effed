package agent

import (
	"errors"

	"github.com/gridctl/grid/rpc"
)

// ErrInvalidConfig is returned when the configuration file or flags hold an
// unknown key or a value outside its allowed range.
var ErrInvalidConfig = errors.New("invalid agent configuration")

// ErrInvalidNodeID is returned for a node id that breaks the one id rule
// (rpc.ValidateID): empty, longer than 128 characters, "." or "..", or
// holding characters other than [A-Za-z0-9._-].
var ErrInvalidNodeID = rpc.NewSentinel("invalid node id", rpc.ErrInvalid)

// ErrInvalidPort is returned for a requested port outside the agent's range.
var ErrInvalidPort = rpc.NewSentinel("invalid port", rpc.ErrInvalid)

// ErrPortInUse is returned when the requested port is taken, by another node
// of this agent or by any other process.
var ErrPortInUse = rpc.NewSentinel("port already in use", rpc.ErrExists)

// ErrNoFreePort is returned when every port of the agent's range is taken.
var ErrNoFreePort = rpc.NewSentinel("no free port in range", rpc.ErrExhausted)

// ErrInvalidStoragePath is returned for a storage path that does not resolve
// inside the agent's data directory.
var ErrInvalidStoragePath = rpc.NewSentinel("invalid storage path", rpc.ErrInvalid)

// ErrInvalidMemoryLimit is returned for a memory limit outside 16..65536 MiB.
var ErrInvalidMemoryLimit = rpc.NewSentinel("invalid memory limit", rpc.ErrInvalid)

// ErrAgentFull is returned when the agent already runs max_storage_nodes nodes.
var ErrAgentFull = rpc.NewSentinel("agent is full", rpc.ErrExhausted)

// ErrNodeNotFound is returned for a node id the agent does not know.
var ErrNodeNotFound = rpc.NewSentinel("node not found", rpc.ErrNotFound)

// ErrNodeConflict is returned when a node id already runs with settings other
// than the ones requested.
var ErrNodeConflict = rpc.NewSentinel("node id already runs with other settings", rpc.ErrExists)

// ErrNodeStartFailed is returned when a storage node process could not be
// started or exited before it began serving.
var ErrNodeStartFailed = errors.New("storage node failed to start")

// ErrSupervisorClosed is returned by a Supervisor that has been closed.
var ErrSupervisorClosed = rpc.NewSentinel("supervisor closed", rpc.ErrUnavailable)

// ErrNoMasters is returned when no master address is known yet.
var ErrNoMasters = errors.New("no master address known")
