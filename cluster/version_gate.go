package cluster

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/gridctl/grid/fsm"
	"github.com/gridctl/grid/rpc"
	"github.com/hashicorp/raft"
)

// ErrVersionGate refuses a Raft command whose type some voter's Grid
// version does not know yet (Consul's "servers meet minimum version"):
// finish the rolling upgrade first.
var ErrVersionGate = rpc.NewSentinel("not every voter runs a version that knows this command", rpc.ErrPrecondition)

// minVersionOf is the version that first knows a command type (fsm's
// table); tests replace it to play a rolling upgrade with a newer type.
var minVersionOf = fsm.MinVersion

// votersKnow checks that every voter reports (in its gossip tags) a version
// that knows command type t. Types every Grid version knows (0.1.0), and
// types without an entry in fsm's version table, pass at once. A pass is
// cached until the Raft configuration's voters or the gossip view change,
// so the hot apply path does not copy and sort the member list per entry.
func (m *Master) votersKnow(t fsm.MessageType) error {
	min, ok := minVersionOf(t)
	if !ok || min == "" || min == "0.1.0" {
		return nil
	}
	conf, err := m.raftConfiguration()
	if err != nil {
		return err
	}
	key := gateKey{voters: votersOf(conf), gossip: m.gossipGen()}
	if m.consensus.gate.passed(key, min) {
		return nil
	}
	versions := m.masterVersions()
	var behind []string
	for _, s := range conf.Servers {
		if s.Suffrage != raft.Voter {
			continue
		}
		v, known := versions[string(s.ID)]
		if !known || !fsm.VersionAtLeast(v, min) {
			if !known {
				v = "unknown"
			}
			behind = append(behind, fmt.Sprintf("%s runs %s", s.ID, v))
		}
	}
	if len(behind) > 0 {
		sort.Strings(behind)
		return fmt.Errorf("%w: %s needs grid %s or newer on every voter; %s", ErrVersionGate, t, min, strings.Join(behind, ", "))
	}
	m.consensus.gate.pass(key, min)
	return nil
}

// versionGateCache remembers the minimum versions every voter was seen to
// meet, for one set of voters and one gossip view; any change to either
// empties it. Only passes are cached: a refusal is checked again each time.
type versionGateCache struct {
	mu     sync.Mutex
	key    gateKey
	passes map[string]struct{} // minimum versions every voter meets
}

// gateKey identifies what a verdict was derived from.
type gateKey struct {
	voters string // the voters' ids and addresses, in configuration order
	gossip uint64 // the gossip view's change count
}

func (c *versionGateCache) passed(k gateKey, min string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.key != k {
		return false
	}
	_, ok := c.passes[min]
	return ok
}

func (c *versionGateCache) pass(k gateKey, min string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.key != k || c.passes == nil {
		c.key, c.passes = k, make(map[string]struct{})
	}
	c.passes[min] = struct{}{}
}

// votersOf is a configuration's voters as one comparable string.
func votersOf(conf raft.Configuration) string {
	var b strings.Builder
	for _, s := range conf.Servers {
		if s.Suffrage == raft.Voter {
			b.WriteString(string(s.ID))
			b.WriteByte('@')
			b.WriteString(string(s.Address))
			b.WriteByte(',')
		}
	}
	return b.String()
}

// gossipGen is the gossip view's change count (0 without gossip).
func (m *Master) gossipGen() uint64 {
	if m.members.gossip == nil {
		return 0
	}
	return m.members.gossip.gen.Load()
}

// masterVersions are the masters' versions by id, from gossip tags (this
// master's own from its config).
func (m *Master) masterVersions() map[string]string {
	out := map[string]string{m.config.ID: m.masterVersion()}
	if m.members.gossip == nil {
		return out
	}
	for _, mb := range m.members.gossip.allMembers() {
		if mb.isMaster() && mb.Tags[tagID] != "" && mb.Tags[tagVersion] != "" {
			out[mb.Tags[tagID]] = mb.Tags[tagVersion]
		}
	}
	return out
}

// newestMasterVersion is the newest version among the known masters.
func (m *Master) newestMasterVersion() string {
	newest := ""
	for _, v := range m.masterVersions() {
		if newest == "" || fsm.CompareVersions(v, newest) > 0 {
			newest = v
		}
	}
	return newest
}
