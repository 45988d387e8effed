package cluster

import (
	"fmt"
	"sync"

	"github.com/hashicorp/raft"
)

// Gossip identity: a master's id and Raft address are bound together by the
// Raft configuration. A gossip member that claims the id of a server in the
// configuration with another Raft address is refused (the leader would
// otherwise call AddNonvoter, which rewrites that server's address) and
// reported as a REQUEST_REFUSED event. An address changes only through the
// operator: `grid operator raft remove-peer`, then the master re-joins.

// gossipRefusalMethod is the "method" detail of a refused gossip member.
const gossipRefusalMethod = "gossip alive"

// maxRefusedClaims bounds the remembered refused claims (each is reported
// once); past it the memory is cleared and claims are reported again.
const maxRefusedClaims = 1024

// refusedClaims remembers the claims already reported.
type refusedClaims struct {
	mu   sync.Mutex
	seen map[string]bool
}

// first reports whether key is new (and remembers it).
func (r *refusedClaims) first(key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen == nil || len(r.seen) >= maxRefusedClaims {
		r.seen = make(map[string]bool)
	}
	if r.seen[key] {
		return false
	}
	r.seen[key] = true
	return true
}

// identityConflict returns why a master member with these tags must be
// refused: it names a server of the Raft configuration with another Raft
// address. "" when the claim is consistent or the server is unknown.
// raft.GetConfiguration reads a cached copy, so this never blocks gossip.
func (m *Master) identityConflict(name, gossipAddr string, tags map[string]string) string {
	if m.consensus.raft == nil || tags[tagRole] != roleMaster {
		return ""
	}
	id, addr := tags[tagID], tags[tagRaftAddr]
	if id == "" {
		return ""
	}
	conf, err := m.raftConfiguration()
	if err != nil {
		return ""
	}
	for _, s := range conf.Servers {
		if s.ID != raft.ServerID(id) || s.Address == raft.ServerAddress(addr) {
			continue
		}
		return fmt.Sprintf("gossip member %q (%s) claims master id %q with raft address %q, but the raft configuration has %q for it; "+
			"an address changes only by `grid operator raft remove-peer --id %s` and a re-join", name, gossipAddr, id, addr, s.Address, id)
	}
	return ""
}

// refuseImpostor reports a refused claim once (log and REQUEST_REFUSED).
func (m *Master) refuseImpostor(gossipAddr, tagsRaft, reason string) {
	if reason != "" && m.members.refused.first(gossipAddr+"|"+tagsRaft+"|"+reason) {
		m.AuditRefused(gossipAddr, gossipRefusalMethod, reason)
	}
}
