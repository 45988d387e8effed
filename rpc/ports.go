package rpc

import (
	"fmt"
	"strconv"
	"strings"
)

// AgentPortsMetadataKey carries an agent's storage-node port range
// ("50051-50150") on RegisterAgent and Heartbeat, so that the leader refuses
// a spawn order for a port outside it before recording anything.
const AgentPortsMetadataKey = "x-grid-agent-ports"

// FormatPortRange is the AgentPortsMetadataKey value for lo-hi.
func FormatPortRange(lo, hi uint32) string {
	return strconv.FormatUint(uint64(lo), 10) + "-" + strconv.FormatUint(uint64(hi), 10)
}

// ParsePortRange parses a FormatPortRange value.
func ParsePortRange(s string) (lo, hi uint32, err error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, fmt.Errorf("%w: port range %q: want LO-HI", ErrInvalid, Truncate(s, 32))
	}
	l, err1 := strconv.ParseUint(a, 10, 16)
	h, err2 := strconv.ParseUint(b, 10, 16)
	if err1 != nil || err2 != nil || l == 0 || l > h {
		return 0, 0, fmt.Errorf("%w: port range %q: want LO-HI with 1 <= LO <= HI <= 65535", ErrInvalid, Truncate(s, 32))
	}
	return uint32(l), uint32(h), nil
}
