package agent

import "errors"

// ErrInvalidConfig is returned when the configuration file or flags hold an
// unknown key or a value outside its allowed range.
var ErrInvalidConfig = errors.New("invalid agent configuration")

// ErrInvalidNodeID is returned for a node id that is empty, longer than 128
// characters or holds characters other than [A-Za-z0-9._-].
var ErrInvalidNodeID = errors.New("invalid node id")

// ErrInvalidPort is returned for a requested port outside the agent's range.
var ErrInvalidPort = errors.New("invalid port")

// ErrPortInUse is returned when the requested port is taken, by another node
// of this agent or by any other process.
var ErrPortInUse = errors.New("port already in use")

// ErrNoFreePort is returned when every port of the agent's range is taken.
var ErrNoFreePort = errors.New("no free port in range")

// ErrInvalidStoragePath is returned for a storage path that does not resolve
// inside the agent's data directory.
var ErrInvalidStoragePath = errors.New("invalid storage path")

// ErrInvalidMemoryLimit is returned for a memory limit outside 16..65536 MiB.
var ErrInvalidMemoryLimit = errors.New("invalid memory limit")

// ErrAgentFull is returned when the agent already runs max_storage_nodes nodes.
var ErrAgentFull = errors.New("agent is full")

// ErrNodeNotFound is returned for a node id the agent does not know.
var ErrNodeNotFound = errors.New("node not found")

// ErrNodeConflict is returned when a node id already runs with settings other
// than the ones requested.
var ErrNodeConflict = errors.New("node id already runs with other settings")

// ErrNodeStartFailed is returned when a storage node process could not be
// started or exited before it began serving.
var ErrNodeStartFailed = errors.New("storage node failed to start")

// ErrSupervisorClosed is returned by a Supervisor that has been closed.
var ErrSupervisorClosed = errors.New("supervisor closed")

// ErrNoMasters is returned when no master address is known yet.
var ErrNoMasters = errors.New("no master address known")
