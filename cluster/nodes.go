package cluster

import (
	"errors"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// ErrNodeExists: a spawn order names a node id a live node already has.
var ErrNodeExists = errors.New("storage node already exists")

// ErrNodeBusy: another order (a spawn, a stop or a reconcile step) for the
// same node is in progress on the leader; retry later.
var ErrNodeBusy = errors.New("another order for this storage node is in progress")

// ErrAgentNotHealthy: the named agent is degraded or offline and takes no new nodes.
var ErrAgentNotHealthy = errors.New("agent is not healthy")

// ErrAgentFull: the named agent has no free storage-node slot.
var ErrAgentFull = errors.New("agent has no free storage-node slot")

// ErrNoAgentAvailable: placement found no healthy agent with a free slot.
var ErrNoAgentAvailable = errors.New("no healthy agent with a free slot")

// ErrWrongAgent: an agent reported a node the registry places on another agent.
var ErrWrongAgent = errors.New("storage node belongs to another agent")

// ErrAgentRefused: the agent answered and refused the order (see AgentRefusal).
var ErrAgentRefused = errors.New("agent refused the order")

// ErrAgentUnreachable: the agent could not be reached or did not answer in
// time; the order stays recorded and the reconciler finishes it.
var ErrAgentUnreachable = errors.New("agent unreachable")

// ErrOrderInterrupted: leadership was lost after the order was recorded;
// the next leader's reconciler finishes it.
var ErrOrderInterrupted = errors.New("order interrupted by a leadership change")

// Storage-node statuses (NodeStatus.status).
const (
	nodePending    = "pending"
	nodeStarting   = "starting"
	nodeRunning    = "running"
	nodeCrashed    = "crashed"
	nodeRestarting = "restarting"
	nodeStopping   = "stopping"
	nodeStopped    = "stopped"
	nodeFailed     = "failed"
	nodeLost       = "lost"
)

// Desired states (NodeStatus.desired_state).
const (
	desiredRunning = "running"
	desiredStopped = "stopped"
)

// unreachablePrefix starts last_error of a node whose spawn failed because
// its agent could not be reached: the reconciler orders it again.
const unreachablePrefix = "agent unreachable: "

// NodeConfig tunes storage-node orchestration on the leader.
type NodeConfig struct {
	// SpawnTimeout bounds one SpawnNode order to an agent, retries included (seed: 30 s).
	SpawnTimeout time.Duration
	// StopTimeout bounds one StopNode order, retries included (seed: 10 s).
	StopTimeout time.Duration
	// StatusTimeout bounds GetNodeStatus and ListNodes calls (seed: 5 s).
	StatusTimeout time.Duration
	// AgentCallAttempts is how many times an agent call is tried when the
	// agent is unreachable (seed: 3).
	AgentCallAttempts int
	// AgentRetryBackoff is the wait after the i-th failed try (seed: 100,
	// 200, 400 ms; the last value repeats).
	AgentRetryBackoff []time.Duration
	// ReconcileInterval is how often the leader compares every healthy
	// agent's nodes with the registry.
	ReconcileInterval time.Duration
	// AgentWatchInterval is how often the leader looks for agents that
	// (re-)registered, recovered or went offline, to reconcile them at once.
	AgentWatchInterval time.Duration
}

// DefaultNodeConfig returns the seeds' timeouts and retries and a 10 s
// reconcile interval.
func DefaultNodeConfig() NodeConfig {
	return NodeConfig{
		SpawnTimeout:       30 * time.Second,
		StopTimeout:        10 * time.Second,
		StatusTimeout:      5 * time.Second,
		AgentCallAttempts:  3,
		AgentRetryBackoff:  []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond},
		ReconcileInterval:  10 * time.Second,
		AgentWatchInterval: 500 * time.Millisecond,
	}
}

// nodeOrchestrator is the leader's storage-node state: the agent client
// pool, the set of nodes with an order in progress, and the reconcile
// trigger of the current leadership term. The zero value is ready: Master
// initialises it on first use (orchestrator()).
type nodeOrchestrator struct {
	initOnce sync.Once
	cfg      NodeConfig
	log      hclog.Logger
	metrics  *nodeMetrics
	agents   agentClients

	// placeMu serialises admission (validate, place, commit pending) so two
	// orders cannot both take an agent's last slot or the same node id.
	placeMu sync.Mutex

	mu       sync.Mutex
	inflight map[string]struct{} // node ids with an order in progress
	term     uint64              // leadership terms started, to pair start and stop
	trigger  chan string         // agent ids to reconcile now (nil when not leader)

	// testHookAfterPending, when set, runs after a spawn committed its pending
	// record and before the agent is called; an error aborts the order there
	// (as if the leader died).
	testHookAfterPending func(nodeID string) error
}

// orchestrator returns the master's node orchestrator, initialised.
func (m *Master) orchestrator() *nodeOrchestrator {
	o := &m.nodes
	o.initOnce.Do(func() {
		if o.cfg.SpawnTimeout == 0 {
			o.cfg = DefaultNodeConfig()
		}
		o.log = m.logger.Named("nodes")
		o.metrics = newNodeMetrics(m.config.Metrics)
		o.agents.dialOpts = m.dialOptions()
	})
	return o
}

// config returns the orchestration settings.
func (o *nodeOrchestrator) config() NodeConfig { return o.cfg }

// logger returns the orchestrator's logger.
func (o *nodeOrchestrator) logger() hclog.Logger {
	if o.log == nil {
		return hclog.NewNullLogger()
	}
	return o.log
}

// acquire marks nodeID as having an order in progress; false if it already has one.
func (o *nodeOrchestrator) acquire(nodeID string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, busy := o.inflight[nodeID]; busy {
		return false
	}
	if o.inflight == nil {
		o.inflight = make(map[string]struct{})
	}
	o.inflight[nodeID] = struct{}{}
	return true
}

// release ends nodeID's order.
func (o *nodeOrchestrator) release(nodeID string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.inflight, nodeID)
}

// hookAfterPending returns the test hook, if any.
func (o *nodeOrchestrator) hookAfterPending() func(string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.testHookAfterPending
}

// setHookAfterPending installs a test hook (nil removes it).
func (o *nodeOrchestrator) setHookAfterPending(h func(string) error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.testHookAfterPending = h
}

// requestReconcile asks the leader's reconciler to look at agentID soon;
// a no-op when not leader or when a request is already queued.
func (o *nodeOrchestrator) requestReconcile(agentID string) {
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

// startNodeLeaderTasks starts the leader's reconciler and agent watcher; it
// returns at once and both stop when stopCh closes. Called by the core after
// the barrier in establishLeadership.
func (m *Master) startNodeLeaderTasks(stopCh <-chan struct{}) {
	o := m.orchestrator()
	trigger := make(chan string, 64)
	o.mu.Lock()
	o.term++
	term := o.term
	o.trigger = trigger
	o.mu.Unlock()

	go m.reconcileLoop(stopCh, trigger)
	go m.watchAgents(stopCh, trigger)
	go func() {
		<-stopCh
		o.mu.Lock()
		current := o.term == term
		if current {
			o.trigger = nil
		}
		o.mu.Unlock()
		if current {
			o.agents.closeAll()
		}
	}()
}
