package cluster

import (
	"context"
	"sync"
	"time"

	"github.com/gridctl/grid/rpc"
	metrics "github.com/hashicorp/go-metrics/compat"
	"github.com/hashicorp/raft"
	autopilot "github.com/hashicorp/raft-autopilot"
)

// autopilotDelegate is raft-autopilot's view of Grid (nomad autopilot.go):
// known servers come from gossip, stats from each master's Ready RPC.
// autopilotPart is raft-autopilot (promotion, dead-master cleanup) and the
// delegate that answers its questions about this cluster.
type autopilotPart struct {
	*autopilot.Autopilot
	delegate *autopilotDelegate
}

type autopilotDelegate struct {
	m *Master

	mu    sync.Mutex
	state *autopilot.State
}

// setupAutopilot builds the autopilot; it runs only on the leader.
func (m *Master) setupAutopilot() {
	d := &autopilotDelegate{m: m}
	m.autopilot.delegate = d
	m.autopilot.Autopilot = autopilot.New(m.consensus.raft, d,
		autopilot.WithLogger(m.logger.Named("autopilot")),
		autopilot.WithUpdateInterval(time.Second),
		autopilot.WithReconcileInterval(time.Second),
		autopilot.WithPromoter(&livePromoter{Promoter: autopilot.DefaultPromoter(), m: m}),
	)
}

// livePromoter is autopilot's stable promoter, except that it promotes only
// servers that are non-voters in the live raft configuration and alive in
// gossip: autopilot's state can be a second old, and promoting from it
// would re-add a master an operator just removed.
type livePromoter struct {
	autopilot.Promoter
	m *Master
}

// CalculatePromotionsAndDemotions filters the stable promoter's promotions.
func (p *livePromoter) CalculatePromotionsAndDemotions(c *autopilot.Config, s *autopilot.State) autopilot.RaftChanges {
	ch := p.Promoter.CalculatePromotionsAndDemotions(c, s)
	if len(ch.Promotions) == 0 {
		return ch
	}
	conf, err := p.m.raftConfiguration()
	if err != nil {
		ch.Promotions = nil
		return ch
	}
	nonvoters := map[raft.ServerID]bool{}
	for _, srv := range conf.Servers {
		if srv.Suffrage == raft.Nonvoter {
			nonvoters[srv.ID] = true
		}
	}
	alive := map[string]bool{}
	for _, mb := range p.m.members.gossip.members() {
		if mb.isMaster() && mb.Status == "alive" {
			alive[mb.Tags[tagID]] = true
		}
	}
	var keep []raft.ServerID
	for _, id := range ch.Promotions {
		if nonvoters[id] && alive[string(id)] {
			keep = append(keep, id)
		}
	}
	ch.Promotions = keep
	return ch
}

// AutopilotConfig is autopilot.ApplicationIntegration: the operator's
// configuration from Raft (grid operator autopilot set-config), else the
// master's flags.
func (d *autopilotDelegate) AutopilotConfig() *autopilot.Config {
	return toAutopilot(d.m.autopilotConfig())
}

// NotifyState is autopilot.ApplicationIntegration: keep the latest state.
// It also reports autopilot.healthy and autopilot.failure_tolerance
// through go-metrics, under the names Consul and Nomad use.
func (d *autopilotDelegate) NotifyState(s *autopilot.State) {
	d.mu.Lock()
	d.state = s
	d.mu.Unlock()
	if s == nil {
		return
	}
	healthy := float32(0)
	if s.Healthy {
		healthy = 1
	}
	metrics.SetGauge([]string{"autopilot", "healthy"}, healthy)
	metrics.SetGauge([]string{"autopilot", "failure_tolerance"}, float32(s.FailureTolerance))
}

// lastState is the latest autopilot state (nil before the first one).
func (d *autopilotDelegate) lastState() *autopilot.State {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.state
}

// FetchServerStats is autopilot.ApplicationIntegration: the leader's own
// stats from raft, every other master's from its Ready RPC.
func (d *autopilotDelegate) FetchServerStats(ctx context.Context, servers map[raft.ServerID]*autopilot.Server) map[raft.ServerID]*autopilot.ServerStats {
	out := make(map[raft.ServerID]*autopilot.ServerStats, len(servers))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for id, srv := range servers {
		if string(id) == d.m.config.ID {
			mu.Lock()
			out[id] = &autopilot.ServerStats{LastContact: 0, LastTerm: d.m.consensus.raft.CurrentTerm(), LastIndex: d.m.consensus.raft.LastIndex()}
			mu.Unlock()
			continue
		}
		addr := srv.Meta[tagGRPCAddr]
		if addr == "" || srv.NodeStatus != autopilot.NodeAlive {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := d.m.askReadyCtx(ctx, addr)
			if err != nil {
				// Unreachable over gRPC: report "no contact" so it counts as unhealthy.
				d.m.logger.Debug("autopilot stats", "id", id, "error", err)
				mu.Lock()
				out[id] = &autopilot.ServerStats{LastContact: -1}
				mu.Unlock()
				return
			}
			mu.Lock()
			out[id] = &autopilot.ServerStats{
				LastContact: time.Duration(r.LastContactMs) * time.Millisecond,
				LastTerm:    r.LastLogTerm,
				LastIndex:   r.LastLogIndex,
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// KnownServers is autopilot.ApplicationIntegration: masters from gossip,
// plus raft members gossip does not know (status unknown, so autopilot
// never prunes them as stale while gossip converges).
func (d *autopilotDelegate) KnownServers() map[raft.ServerID]*autopilot.Server {
	out := make(map[raft.ServerID]*autopilot.Server)
	leader := d.m.leaderID()
	for _, mb := range d.m.members.gossip.allMembers() {
		if !mb.isMaster() || mb.Tags[tagID] == "" {
			continue
		}
		id := mb.Tags[tagID]
		st := autopilot.NodeUnknown
		switch mb.Status {
		case "alive", "suspect":
			st = autopilot.NodeAlive
		case "dead":
			st = autopilot.NodeFailed
		case "left":
			st = autopilot.NodeLeft
		}
		out[raft.ServerID(id)] = &autopilot.Server{
			ID: raft.ServerID(id), Name: mb.Name, Address: raft.ServerAddress(mb.Tags[tagRaftAddr]),
			NodeStatus: st, Meta: mb.Tags, RaftVersion: raft.ProtocolVersionMax, IsLeader: id == leader,
			NodeType: autopilot.NodeVoter,
		}
	}
	if conf, err := d.m.raftConfiguration(); err == nil {
		for _, s := range conf.Servers {
			if _, ok := out[s.ID]; !ok {
				out[s.ID] = &autopilot.Server{ID: s.ID, Name: string(s.ID), Address: s.Address,
					NodeStatus: autopilot.NodeUnknown, RaftVersion: raft.ProtocolVersionMax, NodeType: autopilot.NodeVoter}
			}
		}
	}
	return out
}

// RemoveFailedServer is autopilot.ApplicationIntegration: remove a master
// gossip reports dead or left from the raft configuration. Never blocks.
func (d *autopilotDelegate) RemoveFailedServer(srv *autopilot.Server) {
	if srv.NodeStatus != autopilot.NodeFailed && srv.NodeStatus != autopilot.NodeLeft {
		return
	}
	go func() {
		if err := d.m.consensus.raft.RemoveServer(srv.ID, 0, 0).Error(); err != nil {
			d.m.logger.Warn("autopilot: remove failed master", "id", srv.ID, "error", err)
			return
		}
		d.m.logger.Info("autopilot removed failed master", "id", srv.ID, "status", srv.NodeStatus)
		d.m.commitEvents(rpc.NewEvent(d.m.config.ID, rpc.EventType_MASTER_REMOVED, string(srv.ID), map[string]string{
			"master_id": string(srv.ID), "reason": "autopilot: " + string(srv.NodeStatus),
		}))
	}()
}
