package agent

import (
	"context"
	"os"
	"sync/atomic"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// NodeLister is what the heartbeat loop needs from the Supervisor.
type NodeLister interface {
	List() []*rpc.NodeStatus
	ActiveCount() int
}

// Heartbeater registers the agent with the masters and heartbeats at the
// interval the master returns, with jitter. On any error it moves to
// another master and retries with backoff; on NOT_FOUND it registers again,
// reporting the nodes it runs. It never gives up while the agent runs.
type Heartbeater struct {
	cfg    Config
	pool   *MasterPool
	nodes  NodeLister
	logger hclog.Logger

	registered atomic.Bool
	beats      atomic.Uint64
	// master is the address of the master last heartbeated, leader the
	// leader id it named (metrics); rtt observes each heartbeat round trip.
	master, leader atomic.Value
	rtt            func(time.Duration)
}

// Master is the address of the master this agent last heartbeated and the
// leader id that master named ("" before the first heartbeat).
func (h *Heartbeater) Master() (addr, leaderID string) {
	a, _ := h.master.Load().(string)
	l, _ := h.leader.Load().(string)
	return a, l
}

// NewHeartbeater builds the loop; Run starts it.
func NewHeartbeater(cfg Config, pool *MasterPool, nodes NodeLister, logger hclog.Logger) *Heartbeater {
	return &Heartbeater{cfg: cfg, pool: pool, nodes: nodes, logger: logger.Named("heartbeat")}
}

// Registered reports whether the last register or heartbeat succeeded.
func (h *Heartbeater) Registered() bool { return h.registered.Load() }

// Heartbeats is the number of acknowledged heartbeats.
func (h *Heartbeater) Heartbeats() uint64 { return h.beats.Load() }

// Run registers and heartbeats until ctx ends.
func (h *Heartbeater) Run(ctx context.Context) {
	backoff := Backoff{Min: 200 * time.Millisecond, Max: 5 * time.Second}
	interval := h.cfg.HeartbeatInterval
	registered := false
	for ctx.Err() == nil {
		var err error
		if !registered {
			interval, err = h.register(ctx, interval)
			registered = err == nil
		} else {
			interval, err = h.heartbeat(ctx, interval)
			if status.Code(err) == codes.NotFound {
				h.logger.Info("master does not know this agent; registering again")
				registered = false
				h.registered.Store(false)
				continue
			}
		}
		if err != nil {
			h.registered.Store(false)
			if !waitCtx(ctx, backoff.Next()) {
				return
			}
			continue
		}
		h.registered.Store(true)
		backoff.Reset()
		if !waitCtx(ctx, jitter(interval, 0.2)) {
			return
		}
	}
}

func (h *Heartbeater) register(ctx context.Context, interval time.Duration) (time.Duration, error) {
	addr, client, err := h.pool.Current()
	if err != nil {
		h.logger.Warn("no master to register with", "error", err)
		return interval, err
	}
	host, _ := os.Hostname()
	info := &rpc.AgentInfo{
		AgentId:         h.cfg.AgentID,
		Hostname:        host,
		Platform:        h.cfg.Platform,
		MaxStorageNodes: uint32(h.cfg.MaxNodes),
		Version:         h.cfg.Version,
		AgentEndpoint:   h.cfg.AdvertiseAddr,
		Nodes:           h.nodes.List(),
		PortRangeStart:  uint32(h.cfg.PortRangeStart),
		PortRangeEnd:    uint32(h.cfg.PortRangeEnd),
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := client.RegisterAgent(cctx, info)
	if err == nil && !resp.GetSuccess() {
		err = status.Errorf(codes.FailedPrecondition, "registration refused: %s", resp.GetErrorMessage())
	}
	if err != nil {
		h.logger.Warn("could not register; trying another master", "master", addr, "error", err)
		h.pool.Failed(addr)
		return interval, err
	}
	if ms := resp.GetHeartbeatIntervalMs(); ms > 0 {
		interval = time.Duration(ms) * time.Millisecond
	}
	h.pool.PreferLeader(resp.GetLeaderId())
	if r, ok := h.nodes.(heldReleaser); ok {
		r.ReleaseHeld(resp.GetStaleNodeIds())
	}
	h.logger.Info("registered with master", "master", addr, "leader_id", resp.GetLeaderId(), "nodes", len(info.Nodes), "interval", interval)
	return interval, nil
}

func (h *Heartbeater) heartbeat(ctx context.Context, interval time.Duration) (time.Duration, error) {
	addr, client, err := h.pool.Current()
	if err != nil {
		return interval, err
	}
	cctx, cancel := context.WithTimeout(ctx, max(interval, 2*time.Second))
	defer cancel()
	start := time.Now()
	resp, err := client.Heartbeat(cctx, &rpc.HeartbeatRequest{
		AgentId:          h.cfg.AgentID,
		StorageNodeCount: uint32(h.nodes.ActiveCount()),
		Timestamp:        uint64(time.Now().Unix()),
	})
	if err == nil && !resp.GetAcknowledged() {
		err = status.Error(codes.NotFound, "heartbeat not acknowledged")
	}
	if err != nil {
		if status.Code(err) != codes.NotFound {
			h.logger.Warn("heartbeat failed; trying another master", "master", addr, "error", err)
			h.pool.Failed(addr)
		}
		return interval, err
	}
	h.beats.Add(1)
	if h.rtt != nil {
		h.rtt(time.Since(start))
	}
	h.master.Store(addr)
	h.leader.Store(resp.GetLeaderId())
	if ms := resp.GetNextIntervalMs(); ms > 0 {
		interval = time.Duration(ms) * time.Millisecond
	}
	h.pool.PreferLeader(resp.GetLeaderId())
	return interval, nil
}

// heldReleaser is a node lister that holds nodes found dead at start-up
// until the first registration says which are stale (*Supervisor).
type heldReleaser interface {
	ReleaseHeld(stale []string)
}
