package agent

import (
	"context"
	"strconv"

	"github.com/gridctl/grid/rpc"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/peer"
)

// agentService is the GridAgent gRPC service over a Supervisor. It
// validates at the edge and turns the Supervisor's errors into codes.
type agentService struct {
	rpc.UnimplementedGridAgentServer
	keyring keyringService
	sup     *Supervisor
	fence   *TermFence
	events  EventEmitter
	source  string
	logger  hclog.Logger
	logs    *rpc.LogBroker // Monitor's source; nil: not enabled
	// dial reaches other agents (data migration); nil: migration refused.
	dial []grpc.DialOption
}

// Monitor streams this agent's log lines (`grid monitor --node AGENT_ID`,
// relayed by a master). node_id, when set, must be this agent's id.
func (a *agentService) Monitor(req *rpc.MonitorRequest, stream grpc.ServerStreamingServer[rpc.LogLine]) error {
	return rpc.ToStatus(rpc.ServeMonitor(stream.Context(), a.logs, req, stream.Send))
}

// EventEmitter queues an event for the masters; it never blocks
// (*EventBuffer).
type EventEmitter interface {
	Emit(e *rpc.Event)
}

// NewAgentService returns the GridAgent service of sup. Orders (SpawnNode,
// StopNode) pass fence first; a refused one is logged and recorded as a
// request_refused event through events, under source (the agent id).
func NewAgentService(sup *Supervisor, fence *TermFence, events EventEmitter, source string, logger hclog.Logger) rpc.GridAgentServer {
	return &agentService{sup: sup, fence: fence, events: events, source: source, logger: logger.Named("grpc")}
}

// admit passes an order of leaderTerm through the fence. A refusal is
// logged, recorded as a request_refused event (entity: the node) and
// returned as FAILED_PRECONDITION.
func (a *agentService) admit(ctx context.Context, method, nodeID string, leaderTerm uint64) (release func(), err error) {
	release, highest, err := a.fence.Admit(leaderTerm)
	if err == nil {
		return release, nil
	}
	peerAddr := ""
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		peerAddr = p.Addr.String()
	}
	a.logger.Warn("order refused", "method", method, "node_id", nodeID, "leader_term", leaderTerm,
		"highest_term", highest, "peer", peerAddr, "error", err)
	if highest != 0 { // a stale term, not a failure to persist a new one
		a.events.Emit(rpc.NewEvent(a.source, rpc.EventType_REQUEST_REFUSED, nodeID, map[string]string{
			"method":       method,
			"reason":       err.Error(),
			"peer":         peerAddr,
			"node_id":      nodeID,
			"agent_id":     a.source,
			"leader_term":  strconv.FormatUint(leaderTerm, 10),
			"highest_term": strconv.FormatUint(highest, 10),
		}))
	}
	return nil, rpc.ToStatus(err)
}

func (a *agentService) SpawnNode(ctx context.Context, req *rpc.SpawnNodeRequest) (*rpc.SpawnNodeResponse, error) {
	// The wire contract, as every master checks it (rpc.ValidateSpawn); the
	// supervisor then applies this agent's own port range and data dir.
	if err := rpc.ValidateID("node_id", req.GetNodeId()); err != nil {
		return nil, rpc.ToStatus(err)
	}
	if err := rpc.ValidateSpawn("", req.GetNodeId(), int64(req.GetPort()), req.GetMemoryLimitMb(), req.GetStoragePath()); err != nil {
		return nil, rpc.ToStatus(err)
	}
	release, err := a.admit(ctx, rpc.GridAgent_SpawnNode_FullMethodName, req.GetNodeId(), req.GetLeaderTerm())
	if err != nil {
		return nil, err
	}
	defer release()
	if from := req.GetMigrateFromEndpoint(); from != "" && !a.sup.Runs(req.GetNodeId()) {
		dest, err := ResolveStoragePath(a.sup.cfg.DataDir, req.GetStoragePath(), req.GetNodeId())
		if err != nil {
			return nil, toStatus(err)
		}
		n, err := a.migrateData(ctx, req.GetNodeId(), req.GetMigrateFromAgent(), from, dest, req.GetLeaderTerm())
		if err != nil {
			a.logger.Warn("node data migration failed", "node_id", req.GetNodeId(), "from_agent", req.GetMigrateFromAgent(), "error", err)
			return nil, toStatus(err)
		}
		a.logger.Info("node data migrated", "node_id", req.GetNodeId(), "from_agent", req.GetMigrateFromAgent(), "bytes", n, "dest", dest)
	}
	st, err := a.sup.Spawn(ctx, SpawnSpec{
		NodeID:        req.GetNodeId(),
		Port:          int(req.GetPort()),
		StoragePath:   req.GetStoragePath(),
		MemoryLimitMB: req.GetMemoryLimitMb(),
	})
	if err != nil {
		a.logger.Warn("spawn refused", "node_id", req.GetNodeId(), "port", req.GetPort(), "storage_path", req.GetStoragePath(), "error", err)
		return nil, toStatus(err)
	}
	return &rpc.SpawnNodeResponse{
		Success:     true,
		NodeId:      st.NodeId,
		Pid:         st.Pid,
		Endpoint:    st.Endpoint,
		Port:        st.Port,
		StoragePath: st.StoragePath,
		Node:        st,
	}, nil
}

func (a *agentService) StopNode(ctx context.Context, req *rpc.StopNodeRequest) (*rpc.StopNodeResponse, error) {
	if err := rpc.ValidateID("node_id", req.GetNodeId()); err != nil {
		return nil, rpc.ToStatus(err)
	}
	release, err := a.admit(ctx, rpc.GridAgent_StopNode_FullMethodName, req.GetNodeId(), req.GetLeaderTerm())
	if err != nil {
		return nil, err
	}
	defer release()
	if err := a.sup.Stop(ctx, req.GetNodeId()); err != nil {
		return nil, toStatus(err)
	}
	return &rpc.StopNodeResponse{Success: true}, nil
}

func (a *agentService) GetNodeStatus(ctx context.Context, req *rpc.NodeStatusRequest) (*rpc.NodeStatusResponse, error) {
	if err := rpc.ValidateID("node_id", req.GetNodeId()); err != nil {
		return nil, rpc.ToStatus(err)
	}
	st, err := a.sup.Status(req.GetNodeId())
	if err != nil {
		return nil, toStatus(err)
	}
	return rpc.NewNodeStatusResponse(st), nil
}

func (a *agentService) ListNodes(ctx context.Context, req *rpc.ListNodesRequest) (*rpc.ListNodesResponse, error) {
	// A read is answered whatever its term; a newer term raises the fence.
	if err := a.fence.Observe(req.GetLeaderTerm()); err != nil {
		a.logger.Warn("could not record a newer leader term", "leader_term", req.GetLeaderTerm(), "error", err)
	}
	nodes := a.sup.List()
	resp := &rpc.ListNodesResponse{Nodes: make([]*rpc.NodeStatusResponse, 0, len(nodes))}
	for _, n := range nodes {
		resp.Nodes = append(resp.Nodes, rpc.NewNodeStatusResponse(n))
	}
	return resp, nil
}

// toStatus maps the agent's sentinel errors to gRPC codes with rpc's one
// table (each sentinel is declared with its kind); the message keeps the
// error's context (the value and the allowed range).
func toStatus(err error) error {
	return rpc.ToStatus(err)
}
