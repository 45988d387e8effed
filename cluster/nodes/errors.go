package nodes

import "github.com/gridctl/grid/rpc"

// ErrNodeExists: a spawn order names a node id a live node already has.
var ErrNodeExists = rpc.NewSentinel("storage node already exists", rpc.ErrExists)

// ErrNodeBusy: another order (a spawn, a stop or a reconcile step) for the
// same node is in progress on the leader; retry later.
var ErrNodeBusy = rpc.NewSentinel("another order for this storage node is in progress", rpc.ErrAborted)

// ErrAgentNotHealthy: the named agent is degraded or offline and takes no new nodes.
var ErrAgentNotHealthy = rpc.NewSentinel("agent is not healthy", rpc.ErrPrecondition)

// ErrAgentIneligible: the named agent is marked ineligible for placement
// (eligibility switch or drain).
var ErrAgentIneligible = rpc.NewSentinel("agent is ineligible for placement", rpc.ErrPrecondition)

// ErrAgentFull: the named agent has no free storage-node slot.
var ErrAgentFull = rpc.NewSentinel("agent has no free storage-node slot", rpc.ErrExhausted)

// ErrNoAgentAvailable: placement found no healthy, eligible agent with a free slot.
var ErrNoAgentAvailable = rpc.NewSentinel("no healthy, eligible agent with a free slot", rpc.ErrExhausted)

// ErrWrongAgent: an agent reported a node the registry places on another agent.
var ErrWrongAgent = rpc.NewSentinel("storage node belongs to another agent", rpc.ErrPrecondition)

// ErrAgentRefused: the agent answered and refused the order (see AgentRefusal).
var ErrAgentRefused = rpc.NewSentinel("agent refused the order", rpc.ErrPrecondition)

// ErrAgentUnreachable: the agent could not be reached or did not answer in
// time; the order stays recorded and the reconciler finishes it. It is
// rpc.ErrAgentUnreachable: FAILED_PRECONDITION, never a leader error.
var ErrAgentUnreachable = rpc.ErrAgentUnreachable

// ErrOrderInterrupted: leadership was lost after the order was recorded;
// the next leader's reconciler finishes it.
var ErrOrderInterrupted = rpc.NewSentinel("order interrupted by a leadership change", rpc.ErrAborted)

// unreachablePrefix starts last_error of a node whose spawn failed because
// its agent could not be reached: the reconciler orders it again.
const unreachablePrefix = "agent unreachable: "
