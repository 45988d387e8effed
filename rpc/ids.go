package rpc

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
)

// MaxIDLen bounds agent, node and master ids.
const MaxIDLen = 128

// ValidateID is the one id rule of Grid, for agent, node and master ids
// alike: 1 to 128 characters, each a letter, digit, '.', '_' or '-'
// ([A-Za-z0-9._-]), and neither "." nor "..". Ids name directories on the
// agent (<data>/nodes/<node_id>), appear in URLs (/api/grid/nodes/{id}) and
// in host:port strings, so ':' and '/' are refused everywhere: the REST API,
// the gRPC API and the agent give the same answer. field names the request
// field in the error, which wraps ErrInvalid.
func ValidateID(field, id string) error {
	if id == "" {
		return fmt.Errorf("%w: %s is empty", ErrInvalid, field)
	}
	if len(id) > MaxIDLen {
		return fmt.Errorf("%w: %s is %d characters long (at most %d)", ErrInvalid, field, len(id), MaxIDLen)
	}
	if id == "." || id == ".." {
		return fmt.Errorf("%w: %s %q is not a name", ErrInvalid, field, id)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' {
			continue
		}
		return fmt.Errorf("%w: %s %q has a character outside [A-Za-z0-9._-] at byte %d", ErrInvalid, field, Truncate(id, 64), i)
	}
	return nil
}

// NewNodeID makes a node id: "node-" followed by 12 random hex digits. The
// master that first receives a spawn order without a node id names the node
// with it, so a retried order stays one node.
func NewNodeID() (string, error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("node id: %w", err)
	}
	return "node-" + hex.EncodeToString(b[:]), nil
}

// Truncate shortens s to n bytes (plus "...") for error messages and logs.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
