package api

import (
	"github.com/gridctl/grid/rpc"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Request bodies of the mutating endpoints, and their validation. Every POST
// validates its body here before the backend is called; the backend (and the
// agent) validate again with the knowledge they have (port ranges, data
// directories, memory bounds).

const (
	// maxEntityIDLen bounds an entity id in an event filter.
	maxEntityIDLen       = 128
	maxQueryLen          = 1000
	allowedIDPunctuation = "-_.:"
)

// spawnBody is POST /api/grid/spawn. The numbers are signed so that a
// negative value is refused with the same message as any other value out of
// range (rpc.ValidateSpawn), not as a JSON type error.
type spawnBody struct {
	AgentID       string `json:"agent_id"`
	NodeID        string `json:"node_id"`
	Port          int64  `json:"port"`
	StoragePath   string `json:"storage_path"`
	MemoryLimitMB int64  `json:"memory_limit_mb"`
	RequestID     string `json:"request_id"`
}

// validate applies the spawn contract of package rpc, the same check the
// gRPC API makes, so that REST and gRPC give one answer to one bad order.
func (b *spawnBody) validate() error {
	return rpc.ValidateSpawn(b.AgentID, b.NodeID, b.Port, b.MemoryLimitMB, b.StoragePath)
}

// request is the validated body as a gRPC request.
func (b *spawnBody) request() *rpc.SpawnRequest {
	return &rpc.SpawnRequest{
		AgentId: b.AgentID, NodeId: b.NodeID, Port: uint32(b.Port),
		StoragePath: b.StoragePath, MemoryLimitMb: uint64(b.MemoryLimitMB),
	}
}

// stopBody is POST /api/grid/stop.
type stopBody struct {
	NodeID    string `json:"node_id"`
	AgentID   string `json:"agent_id"`
	RequestID string `json:"request_id"`
}

func (b *stopBody) validate() error {
	return rpc.ValidateStop(b.NodeID, b.AgentID)
}

// queryBody is POST /api/grid/query. TimeZone (an IANA name, as the
// browser's Intl.DateTimeFormat().resolvedOptions().timeZone) and
// UTCOffsetS (seconds east of UTC) make "today" the caller's day; the master
// checks them (an unknown zone without an offset is a 400).
type queryBody struct {
	Query      string `json:"query"`
	TimeZone   string `json:"time_zone"`
	UTCOffsetS *int32 `json:"utc_offset_s"`
}

// request is the body as the backend's request.
func (b *queryBody) request() *rpc.NaturalQueryRequest {
	req := &rpc.NaturalQueryRequest{Query: b.Query, TimeZone: strings.TrimSpace(b.TimeZone)}
	if b.UTCOffsetS != nil {
		req.UtcOffsetS, req.HasUtcOffset = *b.UTCOffsetS, true
	}
	return req
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
	ID        string `json:"id"`
	Force     bool   `json:"force"`
	Undo      bool   `json:"undo"`
	RequestID string `json:"request_id"`
}

func (b *removePeerBody) validate() error {
	if b.ID == "" {
		return invalidf("id is required: the id of the master to remove")
	}
	return rpc.ValidateID("id", b.ID)
}

// transferLeadershipBody is POST /api/grid/operator/transfer-leadership; the
// body may be empty (let Raft pick the new leader).
type transferLeadershipBody struct {
	ID        string `json:"id"`
	RequestID string `json:"request_id"`
}

func (b *transferLeadershipBody) validate() error {
	if b.ID == "" {
		return nil
	}
	return rpc.ValidateID("id", b.ID)
}

// validateEntityID checks an entity id of an event filter: 1-128 letters,
// digits and "-_.:". Entities are wider than agent and node ids (which
// follow rpc.ValidateID): a master id, "cluster", a peer address.
func validateEntityID(field, id string) error {
	if len(id) > maxEntityIDLen {
		return invalidf("%s: longer than %d characters", field, maxEntityIDLen)
	}
	for _, r := range id {
		if r > unicode.MaxASCII || !(unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune(allowedIDPunctuation, r)) {
			return invalidf("%s %q: only letters, digits and %q are allowed", field, id, allowedIDPunctuation)
		}
	}
	return nil
}
