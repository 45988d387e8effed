package fsm

import (
	"fmt"
	"strconv"
	"strings"
)

// typeVersions is the Grid version that first knows each MessageType. A
// new type gets the release that adds it; the leader proposes it only once
// every voter reports that version or newer (cluster's version gate), so an
// older master never meets it during a rolling upgrade.
var typeVersions = map[MessageType]string{
	RegisterAgentType:   "0.1.0",
	UnregisterAgentType: "0.1.0",
	AgentStatusType:     "0.1.0",
	UpsertNodeType:      "0.1.0",
	DeleteNodeType:      "0.1.0",
	AppendEventsType:    "0.1.0",
	PruneEventsType:     "0.1.0",
	// 0.2.0: events inside registry commands, replica verification,
	// replicated removed masters and request records.
	RegisterAgentEventsType:   "0.2.0",
	UnregisterAgentEventsType: "0.2.0",
	AgentStatusBatchType:      "0.2.0",
	UpsertNodeEventsType:      "0.2.0",
	DeleteNodeEventsType:      "0.2.0",
	VerifyMarkerType:          "0.2.0",
	MasterRemovalType:         "0.2.0",
	RecordRequestType:         "0.2.0",
	WebhookAckType:            "0.2.0",
	// 0.2.0: day-two operations (agent scheduling, autopilot config).
	AgentSchedulingType: "0.2.0",
	AutopilotConfigType: "0.2.0",
	// 0.2.0: access control (ACL tokens and policies).
	ACLBootstrapType:    "0.2.0",
	ACLTokenUpsertType:  "0.2.0",
	ACLTokenRevokeType:  "0.2.0",
	ACLPolicyUpsertType: "0.2.0",
	ACLPolicyDeleteType: "0.2.0",
}

// MinVersion is the Grid version that first knows t ("" and false when this
// build does not know t).
func MinVersion(t MessageType) (string, bool) {
	v, ok := typeVersions[t]
	return v, ok
}

// unknownTypeError is the fatal message for an entry this build cannot
// apply. Skipping it would make this replica diverge, so Apply panics.
func (f *FSM) unknownTypeError(t MessageType, index uint64) string {
	need := "the version the other masters run"
	if f.newest != nil {
		if v := f.newest(); v != "" && v != f.gridVersion {
			need = "grid " + v + " (the newest version among the masters)"
		}
	}
	own := f.gridVersion
	if own == "" {
		own = "unknown"
	}
	return fmt.Sprintf("fsm: unknown message type %d at index %d: this master (grid %s) does not know it, a newer master proposed it. "+
		"Upgrade this master to %s and start it again; it must not skip the entry (its state would diverge). "+
		"`grid operator raft list-peers` shows each master's version", uint8(t), index, own, need)
}

// VersionAtLeast reports whether version v is at least min. Versions are
// semantic ("1.2.3", "v1.2.3-rc1": pre-release and build suffixes are
// ignored); a version that is not semantic (a development build such as
// "dev" or a commit id) is assumed to be current and meets any minimum.
func VersionAtLeast(v, min string) bool {
	have, ok := parseVersion(v)
	if !ok {
		return true
	}
	want, ok := parseVersion(min)
	if !ok {
		return true
	}
	for i := range have {
		if have[i] != want[i] {
			return have[i] > want[i]
		}
	}
	return true
}

// CompareVersions orders two versions for "newest" (non-semantic versions
// sort after semantic ones, as development builds).
func CompareVersions(a, b string) int {
	va, oka := parseVersion(a)
	vb, okb := parseVersion(b)
	switch {
	case !oka && !okb:
		return strings.Compare(a, b)
	case !oka:
		return 1
	case !okb:
		return -1
	}
	for i := range va {
		if va[i] != vb[i] {
			if va[i] > vb[i] {
				return 1
			}
			return -1
		}
	}
	return 0
}

func parseVersion(s string) ([3]int, bool) {
	var out [3]int
	s = strings.TrimPrefix(strings.TrimSpace(s), "v")
	if i := strings.IndexAny(s, "-+"); i >= 0 {
		s = s[:i]
	}
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return out, false
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return out, false
		}
		out[i] = n
	}
	return out, true
}
