package fsm

import (
	"maps"
	"sort"
	"sync"

	"github.com/gridctl/grid/rpc"
	"google.golang.org/protobuf/proto"
)

// Version is a counter bumped by every applied registry command (register,
// unregister, status, node upsert and delete, whether or not it succeeded)
// and by Restore. Pollers compare it with the value they last saw and skip
// their work when it has not moved. It is local to this replica (not part
// of the replicated state) and only ever grows.
func (f *FSM) Version() uint64 { return f.version.Load() }

// AgentStatus returns one agent's registry status without copying its
// record; ok is false when the agent is not registered.
func (f *FSM) AgentStatus(id string) (status string, ok bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	a, ok := f.agents[id]
	if !ok {
		return "", false
	}
	return a.Status, true
}

// RegistryCounts are the registry's sizes by status.
type RegistryCounts struct {
	// Agents is the number of registered agents.
	Agents int
	// AgentsByStatus counts agents per registry status (healthy, degraded, offline...).
	AgentsByStatus map[string]int
	// Nodes is the number of storage node records.
	Nodes int
	// NodesByStatus counts storage nodes per status (running, stopped...).
	NodesByStatus map[string]int
}

// countsCache is the last Counts and the Version it was taken at: the
// health monitor and the metrics ask every tick, and walking 10,000 agents
// each time was 18 % of an idle leader's CPU, while the registry changes
// rarely. Every registry change bumps Version under f.mu's write lock, so
// a count taken under the read lock belongs to the version read with it.
type countsCache struct {
	mu      sync.Mutex
	valid   bool
	version uint64
	counts  RegistryCounts
}

// Counts counts agents and nodes by status without copying any record; it
// walks the registry only when it changed since the last call (Version).
func (f *FSM) Counts() RegistryCounts {
	f.mu.RLock()
	defer f.mu.RUnlock()
	v := f.version.Load()
	cc := &f.countsCache
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if !cc.valid || cc.version != v {
		c := RegistryCounts{
			Agents: len(f.agents), AgentsByStatus: make(map[string]int),
			Nodes: len(f.nodes), NodesByStatus: make(map[string]int),
		}
		for _, a := range f.agents {
			c.AgentsByStatus[a.Status]++
		}
		for _, n := range f.nodes {
			c.NodesByStatus[n.Status]++
		}
		cc.valid, cc.version, cc.counts = true, v, c
	}
	return RegistryCounts{Agents: cc.counts.Agents, AgentsByStatus: maps.Clone(cc.counts.AgentsByStatus),
		Nodes: cc.counts.Nodes, NodesByStatus: maps.Clone(cc.counts.NodesByStatus)}
}

// AgentIDsWithNodes lists, sorted, the ids of agents that have at least one
// storage node record (whether or not the agent is still registered).
func (f *FSM) AgentIDsWithNodes() []string {
	f.mu.RLock()
	seen := make(map[string]struct{})
	for _, n := range f.nodes {
		seen[n.AgentId] = struct{}{}
	}
	f.mu.RUnlock()
	out := make([]string, 0, len(seen))
	for id := range seen {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// AgentIDs lists the ids of every registered agent, sorted.
func (f *FSM) AgentIDs() []string {
	f.mu.RLock()
	out := make([]string, 0, len(f.agents))
	for id := range f.agents {
		out = append(out, id)
	}
	f.mu.RUnlock()
	sort.Strings(out)
	return out
}

// nodesByAgentLocked groups copies of every node record by agent id, each
// group sorted by node id. One pass over the nodes.
func (f *FSM) nodesByAgentLocked() map[string][]*rpc.NodeStatus {
	out := make(map[string][]*rpc.NodeStatus)
	for _, n := range f.nodes {
		out[n.AgentId] = append(out[n.AgentId], proto.Clone(n).(*rpc.NodeStatus))
	}
	for _, list := range out {
		sort.Slice(list, func(i, j int) bool { return list[i].NodeId < list[j].NodeId })
	}
	return out
}

// AgentBrief is what the leader's periodic sweeps (reschedule, drains,
// garbage collection) read of an agent: a few fields, no copy of its record,
// so a sweep over a large fleet costs little when nothing is due.
type AgentBrief struct {
	AgentID string
	Status  string
	// DrainStatus is the agent's drain status ("" when it was never drained).
	DrainStatus string
}

// AgentBriefs lists every registered agent's brief, sorted by id. The
// list is shared: callers must not modify it. It is rebuilt only when the
// registry changed since the last call (Version): the leader's operations
// loop asks every second, and copying and sorting 10,000 agents each time
// was ~3.5 % of a heartbeat-loaded leader's CPU. The cache holds one brief
// per agent (~48 bytes: the strings are the records').
func (f *FSM) AgentBriefs() []AgentBrief {
	bc := &f.briefsCache
	f.mu.RLock()
	v := f.version.Load()
	bc.mu.Lock()
	if bc.valid && bc.version == v {
		out := bc.briefs
		bc.mu.Unlock()
		f.mu.RUnlock()
		return out
	}
	bc.mu.Unlock()
	out := make([]AgentBrief, 0, len(f.agents))
	for id, a := range f.agents {
		out = append(out, AgentBrief{AgentID: id, Status: a.Status, DrainStatus: a.GetDrain().GetStatus()})
	}
	f.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].AgentID < out[j].AgentID })
	bc.mu.Lock()
	if !bc.valid || v >= bc.version {
		bc.valid, bc.version, bc.briefs = true, v, out
	}
	bc.mu.Unlock()
	return out
}

// briefsCache is the last AgentBriefs and the Version it was taken at (a
// list taken under the read lock belongs to the version read with it).
type briefsCache struct {
	mu      sync.Mutex
	valid   bool
	version uint64
	briefs  []AgentBrief
}
