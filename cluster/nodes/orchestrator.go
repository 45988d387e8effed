package nodes

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/gridctl/grid/fsm"
	"github.com/gridctl/grid/rpc"
	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"
	"google.golang.org/protobuf/proto"
)

// Registry is what the orchestrator reads of the replicated registry
// (*fsm.FSM satisfies it).
type Registry interface {
	Node(id string) (*rpc.NodeStatus, bool)
	Nodes() []*rpc.NodeStatus
	NodesOfAgent(agentID string) []*rpc.NodeStatus
	Agent(id string) (*rpc.AgentRecord, bool)
	Agents() []*rpc.AgentRecord
	// AgentBriefs lists every agent's id, status and drain status without
	// copying records (the periodic sweeps read this).
	AgentBriefs() []fsm.AgentBrief
	// AgentMarks appends every agent's id, status, endpoint and
	// registration time to buf[:0], copying no record.
	AgentMarks(buf []fsm.AgentMark) []fsm.AgentMark
	AgentIDs() []string
	AgentIDsWithNodes() []string
	// Version changes whenever the registry does.
	Version() uint64
}

// Applier commits one registry command through Raft (leader only) and
// returns the FSM's response value.
type Applier interface {
	Apply(t fsm.MessageType, msg proto.Message) (any, error)
}

// Emitter emits an event; it never blocks.
type Emitter interface {
	Emit(e *rpc.Event)
}

// Leadership tells whether an error means this master lost (or never had)
// leadership, so that an order already recorded is reported interrupted
// rather than sent again.
type Leadership interface {
	IsNotLeader(err error) bool
}

// Fencing gives every order to an agent the leader's Raft term and checks
// leadership before an action decided from the local replica alone.
// Agents keep the highest term they have seen and refuse an order of an
// older one, so a deposed leader (paused, cut off) cannot undo what its
// successor ordered.
type Fencing interface {
	// LeaderTerm is the Raft term of this master's current leadership (of
	// its last one once it lost it; 0 before it ever led).
	LeaderTerm() uint64
	// VerifyLeader confirms with a quorum that this master still leads.
	VerifyLeader() error
}

// Deps are the parts the orchestrator is built from.
type Deps struct {
	Registry   Registry
	Applier    Applier
	Emitter    Emitter
	Agents     AgentDialer
	Leadership Leadership
	// Fencing: the orders' term and the leadership check before an orphan
	// is stopped. Nil (unit tests) sends term 0, which agents accept
	// unconditionally, and skips the check.
	Fencing Fencing
	// Silence is how long ago the leader last heard from an agent (false:
	// not known yet, e.g. right after a leader change); nil turns
	// rescheduling and agent garbage collection off.
	Silence func(agentID string) (time.Duration, bool)
	// Forget is told of an agent removed from the registry (its heartbeat
	// timer goes); may be nil.
	Forget func(agentID string)
	// NoNodes says whether an agent's last heartbeat to this leader
	// reported no storage node (not one that has not failed): the orphan
	// sweep does not ask such an agent for its nodes, since it can hold no
	// live orphan (its next beat reports one that appears). Nil: the sweep
	// asks every agent.
	NoNodes func(agentID string) bool
	// Source is the master id events are emitted under.
	Source string
	// Logger is the parent logger; the orchestrator names itself "nodes".
	Logger hclog.Logger
	// Metrics registers the orchestrator's collectors; nil disables them.
	Metrics prometheus.Registerer
}

// Orchestrator is the leader's storage-node orchestration: the set of nodes
// with an order in progress, the agents' port ranges, and the reconcile
// trigger of the current leadership term.
type Orchestrator struct {
	cfg     Config
	reg     Registry
	apply   Applier
	emitter Emitter
	agents  AgentDialer
	leader  Leadership
	fence   Fencing
	source  string
	silence func(agentID string) (time.Duration, bool)
	forget  func(agentID string)
	noNodes func(agentID string) bool
	log     hclog.Logger
	metrics *nodeMetrics

	// placeMu serialises admission (place, commit pending) so two orders
	// cannot both take an agent's last slot or the same node id.
	placeMu sync.Mutex

	mu       sync.Mutex
	inflight map[string]struct{} // node ids with an order in progress
	// rescheduled: times this leader rescheduled each failed node (last hour).
	rescheduled map[string][]time.Time
	trigger     chan string // agent ids to reconcile now (nil when not leader)

	// testHookAfterPending, when set, runs after a spawn committed its pending
	// record and before the agent is called; an error aborts the order there
	// (as if the leader died).
	testHookAfterPending func(nodeID string) error
}

// New builds an orchestrator from its parts; zero Config fields take the
// defaults.
func New(cfg Config, d Deps) *Orchestrator {
	log := d.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	if d.Fencing == nil {
		d.Fencing = unfenced{}
	}
	return &Orchestrator{
		cfg:      cfg.withDefaults(),
		reg:      d.Registry,
		apply:    d.Applier,
		emitter:  d.Emitter,
		agents:   d.Agents,
		leader:   d.Leadership,
		fence:    d.Fencing,
		source:   d.Source,
		silence:  d.Silence,
		forget:   d.Forget,
		noNodes:  d.NoNodes,
		log:      log.Named("nodes"),
		metrics:  newNodeMetrics(d.Metrics),
		inflight: make(map[string]struct{}),

		rescheduled: make(map[string][]time.Time),
	}
}

// acquire marks nodeID as having an order in progress; false if it already has one.
func (o *Orchestrator) acquire(nodeID string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, busy := o.inflight[nodeID]; busy {
		return false
	}
	o.inflight[nodeID] = struct{}{}
	return true
}

// release ends nodeID's order.
func (o *Orchestrator) release(nodeID string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.inflight, nodeID)
}

// hookAfterPending returns the test hook, if any.
func (o *Orchestrator) hookAfterPending() func(string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.testHookAfterPending
}

// SetTestHookAfterPending installs a hook run after a spawn committed its
// pending record and before the agent is called; an error aborts the order
// there, as if the leader died (tests only; nil removes it).
func (o *Orchestrator) SetTestHookAfterPending(h func(string) error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.testHookAfterPending = h
}

// RequestReconcile asks the leader's reconciler to look at agentID soon;
// a no-op when not leader or when a request is already queued.
func (o *Orchestrator) RequestReconcile(agentID string) {
	o.mu.Lock()
	ch := o.trigger
	o.mu.Unlock()
	if ch == nil {
		return
	}
	select {
	case ch <- agentID:
	default:
	}
}

// RunLeader runs the leader-only work — the reconciler and the agent
// watcher — until ctx ends, then closes the cached agent connections and
// returns nil. The master's leader loop runs it (under an errgroup) after
// the barrier, and revoking leadership cancels ctx and waits for it.
func (o *Orchestrator) RunLeader(ctx context.Context) error {
	trigger := make(chan string, 64)
	o.mu.Lock()
	o.trigger = trigger
	o.mu.Unlock()
	defer func() {
		o.mu.Lock()
		o.trigger = nil
		o.mu.Unlock()
		o.agents.CloseAll()
	}()
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { o.reconcileLoop(ctx, trigger); return nil })
	g.Go(func() error { o.watchAgents(ctx, trigger); return nil })
	g.Go(func() error { o.operationsLoop(ctx); return nil })
	return g.Wait()
}

// operationsLoop runs the day-two work every OperationsInterval: drains,
// reschedules of lost and failed nodes, garbage collection. Drains and
// garbage collection share one list of agent briefs per pass (a copy and
// sort of every agent: at 10,000 agents each list was ~3 % of a
// heartbeat-loaded leader's CPU).
func (o *Orchestrator) operationsLoop(ctx context.Context) {
	t := time.NewTicker(o.cfg.OperationsInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		o.rescheduleLost(ctx)
		briefs := o.reg.AgentBriefs()
		o.runDrainsOf(ctx, briefs)
		o.collectGarbage(ctx, briefs)
	}
}

// commitNode commits a node record (replacing the old one) together with
// the events the change causes: they are stored exactly when it commits.
func (o *Orchestrator) commitNode(rec *rpc.NodeStatus, events ...*rpc.Event) error {
	if _, err := o.apply.Apply(fsm.UpsertNodeEventsType, &rpc.UpsertNodeCommand{Node: rec, Events: events}); err != nil {
		return fmt.Errorf("commit node %s: %w", rec.NodeId, err)
	}
	return nil
}

// deleteNodeRecord removes a node record together with the events it causes.
func (o *Orchestrator) deleteNodeRecord(nodeID string, events ...*rpc.Event) error {
	if _, err := o.apply.Apply(fsm.DeleteNodeEventsType, &rpc.DeleteNodeCommand{NodeId: nodeID, Events: events}); err != nil {
		return fmt.Errorf("delete node %s: %w", nodeID, err)
	}
	return nil
}

// emitNodeEvent emits a lifecycle event that goes with no registry change
// (an orphan stop, a resumed order); events of a change go in its command.
func (o *Orchestrator) emitNodeEvent(t rpc.EventType, rec *rpc.NodeStatus, extra map[string]string) {
	o.emitter.Emit(o.nodeEvent(t, rec, extra))
}

// nodeEvent is a lifecycle event about rec with the seeds' fields (node_id,
// agent_id, port) plus extra.
func (o *Orchestrator) nodeEvent(t rpc.EventType, rec *rpc.NodeStatus, extra map[string]string) *rpc.Event {
	details := map[string]string{"node_id": rec.NodeId, "agent_id": rec.AgentId}
	if rec.Port != 0 {
		details["port"] = strconv.FormatUint(uint64(rec.Port), 10)
	}
	for k, v := range extra {
		details[k] = v
	}
	return rpc.NewEvent(o.source, t, rec.NodeId, details)
}

// ApplyFunc adapts a function to Applier.
type ApplyFunc func(t fsm.MessageType, msg proto.Message) (any, error)

// Apply calls f.
func (f ApplyFunc) Apply(t fsm.MessageType, msg proto.Message) (any, error) { return f(t, msg) }

// EmitFunc adapts a function to Emitter.
type EmitFunc func(e *rpc.Event)

// Emit calls f.
func (f EmitFunc) Emit(e *rpc.Event) { f(e) }

// leaderTerm is the term every order to an agent carries.
func (o *Orchestrator) leaderTerm() uint64 { return o.fence.LeaderTerm() }

// unfenced is the Fencing of an orchestrator built without one: term 0, no check.
type unfenced struct{}

func (unfenced) LeaderTerm() uint64  { return 0 }
func (unfenced) VerifyLeader() error { return nil }

// FencingFuncs adapts two functions to Fencing.
type FencingFuncs struct {
	Term   func() uint64
	Verify func() error
}

// LeaderTerm calls Term.
func (f FencingFuncs) LeaderTerm() uint64 { return f.Term() }

// VerifyLeader calls Verify.
func (f FencingFuncs) VerifyLeader() error { return f.Verify() }

// NotLeaderFunc adapts a function to Leadership.
type NotLeaderFunc func(err error) bool

// IsNotLeader calls f.
func (f NotLeaderFunc) IsNotLeader(err error) bool { return f(err) }
