package nodes

import (
	"context"
	"errors"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gridctl/grid/fsm"
	"github.com/gridctl/grid/rpc"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// The fakes below stand for the registry (the FSM), Raft (apply), the event
// pipeline and the agents, so that the orchestrator runs without Raft or a
// network.

// fakeRegistry is an in-memory registry; fakeRegistry.Apply is its Raft.
type fakeRegistry struct {
	mu      sync.Mutex
	agents  map[string]*rpc.AgentRecord
	nodes   map[string]*rpc.NodeStatus
	version uint64
	applies int
	// failApply, when set, fails every Apply (a lost leadership).
	failApply error
	// emitter receives the events of applied commands.
	emitter *fakeEmitter
}

func newFakeRegistry() *fakeRegistry {
	return &fakeRegistry{agents: map[string]*rpc.AgentRecord{}, nodes: map[string]*rpc.NodeStatus{}}
}

func (r *fakeRegistry) addAgent(a *rpc.AgentRecord) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.agents[a.AgentId] = a
	r.version++
}

func (r *fakeRegistry) putNode(n *rpc.NodeStatus) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nodes[n.NodeId] = proto.Clone(n).(*rpc.NodeStatus)
	r.version++
}

func (r *fakeRegistry) Apply(t fsm.MessageType, msg proto.Message) (any, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failApply != nil {
		return nil, r.failApply
	}
	r.applies++
	r.version++
	switch t {
	case fsm.UpsertNodeEventsType:
		cmd := msg.(*rpc.UpsertNodeCommand)
		r.nodes[cmd.Node.NodeId] = proto.Clone(cmd.Node).(*rpc.NodeStatus)
		r.stored(cmd.Events)
	case fsm.DeleteNodeEventsType:
		cmd := msg.(*rpc.DeleteNodeCommand)
		if _, ok := r.nodes[cmd.NodeId]; !ok {
			return nil, fsm.ErrNotFound
		}
		delete(r.nodes, cmd.NodeId)
		r.stored(cmd.Events)
	case fsm.AgentSchedulingType:
		cmd := msg.(*rpc.AgentSchedulingCommand)
		a, ok := r.agents[cmd.AgentId]
		if !ok {
			return nil, fsm.ErrNotFound
		}
		a.Ineligible = cmd.Ineligible
		if cmd.SetDrain {
			a.Drain = cmd.Drain
		}
		r.stored(cmd.Events)
	case fsm.UnregisterAgentEventsType:
		cmd := msg.(*rpc.UnregisterAgentCommand)
		if _, ok := r.agents[cmd.AgentId]; !ok {
			return nil, fsm.ErrNotFound
		}
		delete(r.agents, cmd.AgentId)
		r.stored(cmd.Events)
	default:
		return nil, errors.New("fake registry: unexpected command")
	}
	return nil, nil
}

// stored hands a committed command's events to the emitter the tests read,
// as the FSM stores them with the change.
func (r *fakeRegistry) stored(events []*rpc.Event) {
	if r.emitter != nil {
		for _, e := range events {
			r.emitter.Emit(e)
		}
	}
}

func (r *fakeRegistry) Node(id string) (*rpc.NodeStatus, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, ok := r.nodes[id]
	if !ok {
		return nil, false
	}
	return proto.Clone(n).(*rpc.NodeStatus), true
}

func (r *fakeRegistry) Nodes() []*rpc.NodeStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*rpc.NodeStatus
	for _, n := range r.nodes {
		out = append(out, proto.Clone(n).(*rpc.NodeStatus))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].NodeId < out[j].NodeId })
	return out
}

func (r *fakeRegistry) NodesOfAgent(agentID string) []*rpc.NodeStatus {
	var out []*rpc.NodeStatus
	for _, n := range r.Nodes() {
		if n.AgentId == agentID {
			out = append(out, n)
		}
	}
	return out
}

func (r *fakeRegistry) Agent(id string) (*rpc.AgentRecord, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a, ok := r.agents[id]
	if !ok {
		return nil, false
	}
	return proto.Clone(a).(*rpc.AgentRecord), true
}

func (r *fakeRegistry) Agents() []*rpc.AgentRecord {
	var out []*rpc.AgentRecord
	for _, id := range r.AgentIDs() {
		a, _ := r.Agent(id)
		out = append(out, a)
	}
	return out
}

func (r *fakeRegistry) AgentBriefs() []fsm.AgentBrief {
	var out []fsm.AgentBrief
	for _, a := range r.Agents() {
		out = append(out, fsm.AgentBrief{AgentID: a.AgentId, Status: a.Status, DrainStatus: a.GetDrain().GetStatus()})
	}
	return out
}

func (r *fakeRegistry) AgentMarks(buf []fsm.AgentMark) []fsm.AgentMark {
	out := buf[:0]
	for _, a := range r.Agents() {
		out = append(out, fsm.AgentMark{AgentID: a.AgentId, Status: a.Status, Endpoint: a.Endpoint, RegisteredAt: a.RegisteredAt})
	}
	return out
}

func (r *fakeRegistry) AgentIDs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ids []string
	for id := range r.agents {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func (r *fakeRegistry) AgentIDsWithNodes() []string {
	seen := map[string]bool{}
	var ids []string
	for _, n := range r.Nodes() {
		if !seen[n.AgentId] {
			seen[n.AgentId] = true
			ids = append(ids, n.AgentId)
		}
	}
	sort.Strings(ids)
	return ids
}

func (r *fakeRegistry) Version() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.version
}

// fakeEmitter records emitted events.
type fakeEmitter struct {
	mu     sync.Mutex
	events []*rpc.Event
}

func (e *fakeEmitter) Emit(ev *rpc.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.events = append(e.events, ev)
}

// types lists the emitted event types in order.
func (e *fakeEmitter) types() []rpc.EventType {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []rpc.EventType
	for _, ev := range e.events {
		out = append(out, ev.Type)
	}
	return out
}

// fakeAgent is one agent's GridAgent service, in memory. spawnErrs are
// returned by successive SpawnNode calls (nil entries succeed); after
// them every call succeeds.
type fakeAgent struct {
	mu        sync.Mutex
	id        string
	nodes     map[string]*rpc.NodeStatus
	spawnErrs []error
	stopErr   error
	calls     map[string]int
	terms     map[string][]uint64 // leader_term of each call, by op
	nextPid   uint32
}

func newFakeAgent(id string) *fakeAgent {
	return &fakeAgent{id: id, nodes: map[string]*rpc.NodeStatus{}, calls: map[string]int{}, terms: map[string][]uint64{}, nextPid: 100}
}

// termsOf returns the leader terms op was called with.
func (a *fakeAgent) termsOf(op string) []uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]uint64(nil), a.terms[op]...)
}

func (a *fakeAgent) count(op string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls[op]
}

func (a *fakeAgent) SpawnNode(ctx context.Context, in *rpc.SpawnNodeRequest, _ ...grpc.CallOption) (*rpc.SpawnNodeResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls["spawn"]++
	a.terms["spawn"] = append(a.terms["spawn"], in.LeaderTerm)
	if len(a.spawnErrs) > 0 {
		err := a.spawnErrs[0]
		a.spawnErrs = a.spawnErrs[1:]
		if err != nil {
			return nil, err
		}
	}
	n, ok := a.nodes[in.NodeId]
	if !ok { // idempotent by node id: a second order returns the same process
		a.nextPid++
		port := in.Port
		if port == 0 {
			port = 50051 + uint32(len(a.nodes))
		}
		n = &rpc.NodeStatus{NodeId: in.NodeId, AgentId: a.id, Status: rpc.NodeRunning, Pid: a.nextPid, Port: port,
			StoragePath: "/data/" + in.NodeId, MemoryLimitMb: in.MemoryLimitMb}
		a.nodes[in.NodeId] = n
	}
	return &rpc.SpawnNodeResponse{Success: true, Pid: n.Pid, Port: n.Port, StoragePath: n.StoragePath,
		Node: proto.Clone(n).(*rpc.NodeStatus)}, nil
}

func (a *fakeAgent) StopNode(ctx context.Context, in *rpc.StopNodeRequest, _ ...grpc.CallOption) (*rpc.StopNodeResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls["stop"]++
	a.terms["stop"] = append(a.terms["stop"], in.LeaderTerm)
	if a.stopErr != nil {
		return nil, a.stopErr
	}
	if _, ok := a.nodes[in.NodeId]; !ok {
		return nil, status.Errorf(codes.NotFound, "node %s not found", in.NodeId)
	}
	delete(a.nodes, in.NodeId)
	return &rpc.StopNodeResponse{Success: true}, nil
}

func (a *fakeAgent) GetNodeStatus(ctx context.Context, in *rpc.NodeStatusRequest, _ ...grpc.CallOption) (*rpc.NodeStatusResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls["status"]++
	n, ok := a.nodes[in.NodeId]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "node %s not found", in.NodeId)
	}
	return rpc.NewNodeStatusResponse(proto.Clone(n).(*rpc.NodeStatus)), nil
}

// Monitor is not used by the orchestrator.
func (a *fakeAgent) Monitor(context.Context, *rpc.MonitorRequest, ...grpc.CallOption) (grpc.ServerStreamingClient[rpc.LogLine], error) {
	return nil, status.Error(codes.Unimplemented, "fake agent: no logs")
}

func (a *fakeAgent) FetchNodeData(context.Context, *rpc.FetchNodeDataRequest, ...grpc.CallOption) (grpc.ServerStreamingClient[rpc.NodeDataChunk], error) {
	return nil, status.Error(codes.Unimplemented, "fake agent: no data")
}

func (a *fakeAgent) ListNodes(ctx context.Context, in *rpc.ListNodesRequest, _ ...grpc.CallOption) (*rpc.ListNodesResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls["list"]++
	a.terms["list"] = append(a.terms["list"], in.LeaderTerm)
	out := &rpc.ListNodesResponse{}
	for _, n := range a.nodes {
		out.Nodes = append(out.Nodes, rpc.NewNodeStatusResponse(proto.Clone(n).(*rpc.NodeStatus)))
	}
	return out, nil
}

// fakeDialer hands out the fake agents by id.
type fakeDialer struct {
	mu     sync.Mutex
	agents map[string]*fakeAgent
	drops  int
	closed int
}

func (d *fakeDialer) Client(agentID, endpoint string) (rpc.GridAgentClient, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	a, ok := d.agents[agentID]
	if !ok {
		return nil, errors.New("no such agent")
	}
	return a, nil
}

func (d *fakeDialer) Drop(string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.drops++
}

func (d *fakeDialer) CloseAll() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed++
}

// errNotLeader stands for raft's "not the leader".
var errNotLeader = errors.New("fake: not the leader")

// fakeFencing is Raft's term and leadership check.
type fakeFencing struct {
	term      atomic.Uint64
	mu        sync.Mutex
	verifyErr error
}

func (f *fakeFencing) LeaderTerm() uint64 { return f.term.Load() }

func (f *fakeFencing) VerifyLeader() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.verifyErr
}

func (f *fakeFencing) setVerifyErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.verifyErr = err
}

// harness is an orchestrator over fakes with agents a1 (and more on demand).
type harness struct {
	o      *Orchestrator
	reg    *fakeRegistry
	events *fakeEmitter
	dialer *fakeDialer
	fence  *fakeFencing
}

func newHarness(t *testing.T, agents ...string) *harness {
	t.Helper()
	h := &harness{reg: newFakeRegistry(), events: &fakeEmitter{}, dialer: &fakeDialer{agents: map[string]*fakeAgent{}}, fence: &fakeFencing{}}
	h.reg.emitter = h.events
	h.fence.term.Store(1)
	for _, id := range agents {
		h.addAgent(id, rpc.AgentHealthy, 3)
	}
	cfg := DefaultConfig()
	cfg.AgentRetryBackoff = []time.Duration{time.Millisecond}
	cfg.SpawnTimeout, cfg.StopTimeout, cfg.StatusTimeout = 5*time.Second, 5*time.Second, 5*time.Second
	cfg.ReconcileInterval, cfg.AgentWatchInterval = time.Hour, 5*time.Millisecond
	h.o = New(cfg, Deps{
		Registry: h.reg, Applier: h.reg, Emitter: h.events, Agents: h.dialer,
		Leadership: NotLeaderFunc(func(err error) bool { return errors.Is(err, errNotLeader) }),
		Fencing:    h.fence,
		Source:     "m1",
		Logger:     hclog.New(&hclog.LoggerOptions{Output: testWriter{t}, Level: hclog.Debug}),
	})
	return h
}

func (h *harness) addAgent(id, st string, max uint32) *fakeAgent {
	h.reg.addAgent(&rpc.AgentRecord{AgentId: id, Status: st, MaxStorageNodes: max, Endpoint: "127.0.0.1:1",
		PortRangeStart: 50051, PortRangeEnd: 50150})
	a := newFakeAgent(id)
	h.dialer.mu.Lock()
	h.dialer.agents[id] = a
	h.dialer.mu.Unlock()
	return a
}

func (h *harness) agent(id string) *fakeAgent {
	h.dialer.mu.Lock()
	defer h.dialer.mu.Unlock()
	return h.dialer.agents[id]
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// Keyring is not used by orchestration.
func (a *fakeAgent) Keyring(context.Context, *rpc.KeyringRequest, ...grpc.CallOption) (*rpc.KeyringMember, error) {
	return nil, errors.New("fake agent: no keyring")
}
