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
// interval the master returns, with jitter. Beats go on one HeartbeatStream
// to the leader; a master without it (UNIMPLEMENTED: an older master) gets
// unary Heartbeat calls, and so does a follower that refuses the stream
// when gossip does not know where its leader is (the follower forwards
// unary beats). On any error it moves to another master and retries with
// backoff; on NOT_FOUND it registers again, reporting the nodes it runs. It
// never gives up while the agent runs.
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
	// stream is the HeartbeatStream beats go on (heartbeat_stream.go).
	stream beatStream
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
	defer h.stream.close()
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
	return h.heartbeatTry(ctx, interval, len(h.pool.Addrs()))
}

// heartbeatTry sends one beat: on the stream when the master takes it, else
// unary. While tries remain, a beat whose stream a follower refused goes
// at once to the leader it named (its address from gossip) or else to the
// next master, and so does a beat whose stream had ended (a deposed leader
// ends its streams); the last try beats unary through a follower (it
// forwards), and that master gets unary beats for unaryRetryAfter.
func (h *Heartbeater) heartbeatTry(ctx context.Context, interval time.Duration, tries int) (time.Duration, error) {
	addr, client, err := h.pool.Current()
	if err != nil {
		return interval, err
	}
	timeout := max(interval, 2*time.Second)
	req := &rpc.HeartbeatRequest{
		AgentId:          h.cfg.AgentID,
		StorageNodeCount: uint32(h.nodes.ActiveCount()),
		Timestamp:        uint64(time.Now().Unix()),
	}
	start := time.Now()
	var resp *rpc.HeartbeatResponse
	unary := !h.stream.useStream(addr)
	if !unary {
		var leader string
		wasOpen := h.stream.s != nil && h.stream.addr == addr
		resp, leader, err = h.stream.send(ctx, addr, client, req, timeout)
		switch code := status.Code(err); {
		case code == codes.Unimplemented:
			h.logger.Info("master has no HeartbeatStream (an older master); heartbeating with unary calls", "master", addr)
			h.stream.refused(addr)
			unary = true
		case code == codes.Unavailable && leader != "":
			if tries > 1 {
				if !h.pool.PreferLeader(leader) {
					h.pool.Failed(addr) // gossip does not place the leader: try the next master
				}
				return h.heartbeatTry(ctx, interval, tries-1)
			}
			h.logger.Info("no master took the heartbeat stream; heartbeating through a follower", "master", addr, "leader_id", leader)
			h.stream.refused(addr) // a follower: it forwards unary beats
			unary = true
		case code == codes.Unavailable && wasOpen && tries > 1 && time.Since(start) < timeout:
			// The stream had ended (a deposed leader ends its streams at
			// once): look for the leader now rather than after a back-off.
			h.logger.Info("heartbeat stream ended; finding the leader", "master", addr, "error", err)
			h.pool.Failed(addr)
			return h.heartbeatTry(ctx, interval, tries-1)
		}
	}
	if unary {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		resp, err = client.Heartbeat(cctx, req)
		cancel()
	}
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
