package api

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Request bodies of the mutating endpoints, and their validation. Every POST
// validates its body here before the backend is called; the backend (and the
// agent) validate again with the knowledge they have (port ranges, data
// directories, memory bounds).

const (
	maxIDLen             = 128
	maxPathLen           = 4096
	maxQueryLen          = 1000
	maxMemoryLimitMB     = 1 << 20 // 1 TiB, a sanity bound; agents enforce their own
	minUserPort          = 1
	maxPort              = 65535
	allowedIDPunctuation = "-_.:"
)

// spawnBody is POST /api/grid/spawn.
type spawnBody struct {
	AgentID       string `json:"agent_id"`
	NodeID        string `json:"node_id"`
	Port          uint32 `json:"port"`
	StoragePath   string `json:"storage_path"`
	MemoryLimitMB uint64 `json:"memory_limit_mb"`
}

func (b *spawnBody) validate() error {
	if b.AgentID != "" {
		if err := validateID("agent_id", b.AgentID); err != nil {
			return err
		}
	}
	if b.NodeID != "" {
		if err := validateID("node_id", b.NodeID); err != nil {
			return err
		}
	}
	if b.Port != 0 && (b.Port < minUserPort || b.Port > maxPort) {
		return invalidf("port %d: must be between %d and %d (or 0 to let the agent pick)", b.Port, minUserPort, maxPort)
	}
	if b.StoragePath != "" {
		if len(b.StoragePath) > maxPathLen {
			return invalidf("storage_path: longer than %d bytes", maxPathLen)
		}
		if !utf8.ValidString(b.StoragePath) || strings.ContainsRune(b.StoragePath, 0) {
			return invalidf("storage_path %q: must be valid UTF-8 without NUL bytes", b.StoragePath)
		}
	}
	if b.MemoryLimitMB > maxMemoryLimitMB {
		return invalidf("memory_limit_mb %d: must be at most %d", b.MemoryLimitMB, maxMemoryLimitMB)
	}
	return nil
}

// stopBody is POST /api/grid/stop.
type stopBody struct {
	NodeID  string `json:"node_id"`
	AgentID string `json:"agent_id"`
}

func (b *stopBody) validate() error {
	if b.NodeID == "" {
		return invalidf("node_id is required")
	}
	if err := validateID("node_id", b.NodeID); err != nil {
		return err
	}
	if b.AgentID != "" {
		return validateID("agent_id", b.AgentID)
	}
	return nil
}

// queryBody is POST /api/grid/query.
type queryBody struct {
	Query string `json:"query"`
}

func (b *queryBody) validate() error {
	b.Query = strings.TrimSpace(b.Query)
	if b.Query == "" {
		return invalidf("query is required, e.g. \"spawn failures today\"")
	}
	if len(b.Query) > maxQueryLen {
		return invalidf("query: longer than %d bytes", maxQueryLen)
	}
	if !utf8.ValidString(b.Query) {
		return invalidf("query: must be valid UTF-8")
	}
	return nil
}

// removePeerBody is POST /api/grid/operator/remove-peer.
type removePeerBody struct {
	ID    string `json:"id"`
	Force bool   `json:"force"`
}

func (b *removePeerBody) validate() error {
	if b.ID == "" {
		return invalidf("id is required: the id of the master to remove")
	}
	return validateID("id", b.ID)
}

// transferLeadershipBody is POST /api/grid/operator/transfer-leadership; the
// body may be empty (let Raft pick the new leader).
type transferLeadershipBody struct {
	ID string `json:"id"`
}

func (b *transferLeadershipBody) validate() error {
	if b.ID == "" {
		return nil
	}
	return validateID("id", b.ID)
}

// validateID checks an agent, node or master id: 1-128 letters, digits and
// "-_.:".
func validateID(field, id string) error {
	if len(id) > maxIDLen {
		return invalidf("%s: longer than %d characters", field, maxIDLen)
	}
	for _, r := range id {
		if r > unicode.MaxASCII || !(unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune(allowedIDPunctuation, r)) {
			return invalidf("%s %q: only letters, digits and %q are allowed", field, id, allowedIDPunctuation)
		}
	}
	return nil
}
