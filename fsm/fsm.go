package fsm

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/gridctl/grid/eventstore"
	"github.com/gridctl/grid/rpc"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"
)

// Config configures an FSM.
type Config struct {
	// DataDir is the master's data directory; the event graph lives in
	// DataDir/events and is rebuilt from snapshot + log replay at start.
	DataDir string
	// Logger is the parent logger; the FSM logs as "fsm". Nil discards.
	Logger hclog.Logger
	// OnStoreFailure is called, from raft's FSM goroutine, when the event
	// store fails to write an entry (I/O error): it should stop the process
	// (the Master's exits non-zero). Nil, or a hook that returns, panics.
	OnStoreFailure func(err error)
	// Version is this master's Grid version, named when an entry has a
	// command type this build does not know.
	Version string
	// NewestPeerVersion, when set, returns the newest Grid version among the
	// masters, named as the version to upgrade to in that error.
	NewestPeerVersion func() string
}

// FSM is the replicated state machine: the registry of agents and storage
// nodes plus the event graph. It implements raft.FSM. Reads are safe from any
// goroutine; Apply, Snapshot and Restore are called by raft's FSM goroutine.
type FSM struct {
	logger         hclog.Logger
	eventDir       string
	onStoreFailure func(err error)
	gridVersion    string
	newest         func() string

	mu     sync.RWMutex
	agents map[string]*rpc.AgentRecord // storage_nodes left empty; filled on read
	nodes  map[string]*rpc.NodeStatus
	// countsCache memoises Counts per Version (registry_view.go).
	countsCache countsCache
	// briefsCache memoises AgentBriefs per Version (registry_view.go).
	briefsCache briefsCache
	// removed is the replicated set of masters an operator removed, by id.
	removed map[string]*rpc.RemovedMaster
	// requests is the replicated request-dedupe table, by request id.
	requests map[string]*rpc.RequestRecord
	// autopilot is the operator's autopilot configuration (nil: the flags).
	autopilot *rpc.AutopilotConfig
	store     *eventstore.Store
	// storeGen numbers the event store files so a restore never opens the
	// file the current store holds.
	storeGen int
	closed   bool

	applied atomic.Uint64
	// appliedWait wakes WaitApplied callers (applied_wait.go).
	appliedWait appliedWaiters
	// digests holds the digests recorded at the last verify markers.
	digests digestRing
	// version counts registry changes (agents and nodes); see Version.
	version atomic.Uint64
	// acl is the replicated ACL state (acl.go).
	acl aclState
	// stage, set under mu while ApplyBatch applies a group of entries,
	// collects their events for one store transaction (apply_group.go).
	stage *groupStage
	// pacing paces snapshot writes until StopPacing (snapshot_pace.go).
	pacing pacingState
}

var _ raft.FSM = (*FSM)(nil)

// New makes an empty FSM. It wipes and recreates DataDir/events: the event
// graph is rebuilt by snapshot restore and log replay.
func New(cfg Config) (*FSM, error) {
	if cfg.DataDir == "" {
		return nil, fmt.Errorf("fsm: %w: empty data dir", ErrInvalid)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	f := &FSM{
		logger:         logger.Named("fsm"),
		eventDir:       filepath.Join(cfg.DataDir, "events"),
		onStoreFailure: cfg.OnStoreFailure,
		gridVersion:    cfg.Version,
		newest:         cfg.NewestPeerVersion,
		agents:         make(map[string]*rpc.AgentRecord),
		nodes:          make(map[string]*rpc.NodeStatus),
		removed:        make(map[string]*rpc.RemovedMaster),
		requests:       make(map[string]*rpc.RequestRecord),
	}
	f.acl.resetLocked()
	// Empty the directory but keep it: it may be a mount point of its own.
	if err := os.MkdirAll(f.eventDir, 0o755); err != nil {
		return nil, fmt.Errorf("fsm: create event dir: %w", err)
	}
	old, err := os.ReadDir(f.eventDir)
	if err != nil {
		return nil, fmt.Errorf("fsm: read event dir: %w", err)
	}
	for _, e := range old {
		if err := os.RemoveAll(filepath.Join(f.eventDir, e.Name())); err != nil {
			return nil, fmt.Errorf("fsm: wipe event store: %w", err)
		}
	}
	store, err := eventstore.Open(f.nextStorePath(), eventstore.Options{NoSync: true, Logger: f.logger})
	if err != nil {
		return nil, fmt.Errorf("fsm: open event store: %w", err)
	}
	f.store = store
	return f, nil
}

// nextStorePath advances storeGen and names the next store file.
func (f *FSM) nextStorePath() string {
	f.storeGen++
	return filepath.Join(f.eventDir, fmt.Sprintf("events-%d.db", f.storeGen))
}

// Events is the current event store (swapped on Restore: fetch it for each use).
func (f *FSM) Events() *eventstore.Store {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.store
}

// AppliedIndex is the Raft index of the last entry applied (or restored).
func (f *FSM) AppliedIndex() uint64 { return f.applied.Load() }

// Agent returns a copy of one agent's record with its storage nodes filled.
func (f *FSM) Agent(id string) (*rpc.AgentRecord, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	a, ok := f.agents[id]
	if !ok {
		return nil, false
	}
	return f.agentViewLocked(a), true
}

// AgentMark is what changes when an agent appears, registers again,
// recovers or goes offline (the nodes orchestrator watches it).
type AgentMark struct {
	AgentID, Status, Endpoint string
	RegisteredAt              int64
}

// AgentMarks appends every agent's mark to buf[:0] (in no order) and
// returns it: no record is copied, so the read lock is held briefly and a
// caller that reuses buf allocates nothing.
func (f *FSM) AgentMarks(buf []AgentMark) []AgentMark {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := buf[:0]
	for id, a := range f.agents {
		out = append(out, AgentMark{AgentID: id, Status: a.Status, Endpoint: a.Endpoint, RegisteredAt: a.RegisteredAt})
	}
	return out
}

// Agents returns copies of every agent record, sorted by id, nodes filled.
func (f *FSM) Agents() []*rpc.AgentRecord {
	f.mu.RLock()
	defer f.mu.RUnlock()
	byAgent := f.nodesByAgentLocked()
	out := make([]*rpc.AgentRecord, 0, len(f.agents))
	for _, a := range f.agents {
		c := proto.Clone(a).(*rpc.AgentRecord)
		c.StorageNodes = byAgent[a.AgentId]
		c.CurrentStorageNodes = uint32(len(c.StorageNodes))
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].AgentId < out[j].AgentId })
	return out
}

// agentViewLocked clones a and fills storage_nodes and current_storage_nodes.
func (f *FSM) agentViewLocked(a *rpc.AgentRecord) *rpc.AgentRecord {
	c := proto.Clone(a).(*rpc.AgentRecord)
	c.StorageNodes = f.nodesOfAgentLocked(a.AgentId)
	c.CurrentStorageNodes = uint32(len(c.StorageNodes))
	return c
}

// Node returns a copy of one storage node record.
func (f *FSM) Node(id string) (*rpc.NodeStatus, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	n, ok := f.nodes[id]
	if !ok {
		return nil, false
	}
	return proto.Clone(n).(*rpc.NodeStatus), true
}

// Nodes returns copies of every storage node record, sorted by id.
func (f *FSM) Nodes() []*rpc.NodeStatus {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]*rpc.NodeStatus, 0, len(f.nodes))
	for _, n := range f.nodes {
		out = append(out, proto.Clone(n).(*rpc.NodeStatus))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].NodeId < out[j].NodeId })
	return out
}

// NodesOfAgent returns copies of the agent's storage node records, sorted by id.
func (f *FSM) NodesOfAgent(agentID string) []*rpc.NodeStatus {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.nodesOfAgentLocked(agentID)
}

func (f *FSM) nodesOfAgentLocked(agentID string) []*rpc.NodeStatus {
	var out []*rpc.NodeStatus
	for _, n := range f.nodes {
		if n.AgentId == agentID {
			out = append(out, proto.Clone(n).(*rpc.NodeStatus))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].NodeId < out[j].NodeId })
	return out
}

// Close closes the event store. Events() keeps returning the closed store
// (never nil), whose methods then fail, so late readers get an error rather
// than a nil dereference.
func (f *FSM) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed || f.store == nil {
		return nil
	}
	f.closed = true
	return f.store.Close()
}
