package cluster

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/hashicorp/raft"
)

// Cluster health levels.
const (
	clusterHealthy  = "healthy"
	clusterDegraded = "degraded"
	clusterCritical = "critical"
)

// mastersView builds the MasterInfo list from the raft configuration,
// gossip and (on the leader) autopilot's health. It also returns the
// failure tolerance: voters - quorum - unhealthy voters, floor 0 (how many
// more voting masters may fail before writes stop).
func (m *Master) mastersView() ([]*rpc.MasterInfo, *rpc.MasterInfo, int32, error) {
	conf, err := m.raftConfiguration()
	if err != nil {
		return nil, nil, 0, err
	}
	gossipByID := map[string]member{}
	for _, mb := range m.members.gossip.allMembers() {
		if mb.isMaster() && mb.Tags[tagID] != "" {
			gossipByID[mb.Tags[tagID]] = mb
		}
	}
	leaderID := m.leaderID()
	ap := m.autopilot.delegate.lastState()
	if !m.isLeader() {
		ap = nil
	}
	var out []*rpc.MasterInfo
	var leader *rpc.MasterInfo
	voters, unhealthyVoters := 0, 0
	for _, s := range conf.Servers {
		id := string(s.ID)
		mi := &rpc.MasterInfo{Id: id, RaftAddr: string(s.Address), LastContactMs: -1, State: "follower", Suffrage: "voter"}
		if s.Suffrage != raft.Voter {
			mi.Suffrage = "nonvoter"
		}
		mb, inGossip := gossipByID[id]
		if inGossip {
			mi.GrpcAddr, mi.HttpAddr, mi.GossipAddr = mb.Tags[tagGRPCAddr], mb.Tags[tagHTTPAddr], mb.Addr
			mi.Version = mb.Tags[tagVersion]
		}
		alive := inGossip && (mb.Status == "alive" || mb.Status == "suspect")
		switch {
		case id == leaderID:
			mi.State = "leader"
			mi.LastContactMs = 0
		case !alive:
			mi.State = "unknown"
		}
		mi.Healthy = alive
		if id == m.config.ID {
			mi.Healthy = true
			mi.LastContactMs = m.lastContactMs()
			if id == leaderID {
				mi.LastContactMs = 0
			}
		}
		if ap != nil && alive && id != leaderID {
			// Raft contact as the follower reports it (autopilot polls each
			// master's Ready): gossip-alive but cut off from the leader is unhealthy.
			if ss, ok := ap.Servers[s.ID]; ok {
				mi.LastContactMs = ss.Stats.LastContact.Milliseconds()
				if ss.Stats.LastContact < 0 || ss.Stats.LastContact > m.config.LastContactThreshold {
					mi.Healthy = false
					mi.LastContactMs = -1
				}
			}
		}
		if leaderID == "" {
			mi.Healthy = false
		}
		if s.Suffrage == raft.Voter {
			voters++
			if !mi.Healthy {
				unhealthyVoters++
			}
		}
		if id == leaderID {
			leader = mi
		}
		out = append(out, mi)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Id < out[j].Id })
	tolerance := int32(voters - (voters/2 + 1) - unhealthyVoters)
	if tolerance < 0 || leaderID == "" {
		tolerance = 0
	}
	return out, leader, tolerance, nil
}

// lastContactMs is this master's time since leader contact (-1 never, 0 leader).
func (m *Master) lastContactMs() int64 {
	if m.isLeader() {
		return 0
	}
	lc := m.consensus.raft.LastContact()
	if lc.IsZero() {
		return -1
	}
	return time.Since(lc).Milliseconds()
}

// clusterStatus computes the cluster's status from this master's view.
func (m *Master) clusterStatus() (*rpc.ClusterStatus, error) {
	masters, leader, tolerance, err := m.mastersView()
	if err != nil {
		return nil, err
	}
	cs := &rpc.ClusterStatus{Masters: masters, Leader: leader, FailureTolerance: tolerance,
		Timestamp: time.Now().Unix(), CommitIndex: m.consensus.raft.CommitIndex()}
	if st := m.fsm.Events(); st != nil {
		cs.LastEventSeq = st.LastSeq()
	}
	// Counts, not copies: this runs every HealthInterval on the leader.
	counts := m.fsm.Counts()
	cs.TotalAgents = uint32(counts.Agents)
	cs.HealthyAgents = uint32(counts.AgentsByStatus[rpc.AgentHealthy])
	offline, degraded := counts.AgentsByStatus[rpc.AgentOffline], counts.AgentsByStatus[rpc.AgentDegraded]
	cs.TotalStorageNodes = uint32(counts.Nodes)
	cs.RunningStorageNodes = uint32(counts.NodesByStatus["running"])
	var voters, unhealthy int
	for _, mi := range masters {
		if mi.Suffrage == "voter" {
			voters++
			if !mi.Healthy {
				unhealthy++
			}
		}
	}
	var reasons []string
	cs.Status = clusterHealthy
	switch {
	case leader == nil:
		cs.Status = clusterCritical
		reasons = append(reasons, "no leader")
	case voters-unhealthy < voters/2+1:
		cs.Status = clusterCritical
	case unhealthy > 0:
		cs.Status = clusterDegraded
	}
	if unhealthy > 0 && leader != nil {
		reasons = append(reasons, fmt.Sprintf("%d of %d masters unreachable", unhealthy, voters))
	}
	if offline > 0 {
		reasons = append(reasons, fmt.Sprintf("%d of %d agents offline", offline, cs.TotalAgents))
		if cs.Status == clusterHealthy {
			cs.Status = clusterDegraded
		}
		if offline == int(cs.TotalAgents) && cs.Status == clusterDegraded {
			cs.Status = clusterCritical
		}
	}
	if degraded > 0 {
		reasons = append(reasons, fmt.Sprintf("%d of %d agents degraded", degraded, cs.TotalAgents))
		if cs.Status == clusterHealthy {
			cs.Status = clusterDegraded
		}
	}
	if len(reasons) == 0 {
		reasons = append(reasons, fmt.Sprintf("%d masters, %d agents healthy", voters, cs.HealthyAgents))
	}
	cs.Reason = strings.Join(reasons, "; ")
	return cs, nil
}

// healthMonitor updates metrics every HealthInterval and, on the leader,
// emits cluster_healthy/degraded/critical when the status changes.
type healthMonitor struct {
	m *Master

	mu   sync.Mutex
	last string
}

func newHealthMonitor(m *Master) *healthMonitor { return &healthMonitor{m: m} }

// reset forgets the last status (new leadership).
func (h *healthMonitor) reset() {
	h.mu.Lock()
	h.last = ""
	h.mu.Unlock()
}

func (h *healthMonitor) run() {
	defer h.m.lifecycle.wg.Done()
	interval := h.m.config.HealthInterval
	if interval <= 0 {
		interval = time.Second
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-h.m.lifecycle.shutdownCh:
			return
		case <-ticker.C:
		}
		h.tick()
	}
}

func (h *healthMonitor) tick() {
	m := h.m
	m.updateGRPCHealth()
	m.metrics.observe(m)
	if !m.isLeader() {
		return
	}
	cs, err := m.clusterStatus()
	if err != nil {
		return
	}
	m.metrics.failureTolerance.Set(float64(cs.FailureTolerance))
	h.mu.Lock()
	prev := h.last
	h.last = cs.Status
	h.mu.Unlock()
	if prev == cs.Status || (prev == "" && cs.Status == clusterHealthy) {
		return
	}
	typ := rpc.EventType_CLUSTER_HEALTHY
	switch cs.Status {
	case clusterDegraded:
		typ = rpc.EventType_CLUSTER_DEGRADED
	case clusterCritical:
		typ = rpc.EventType_CLUSTER_CRITICAL
	}
	m.logger.Info("cluster status changed", "from", prev, "to", cs.Status, "reason", cs.Reason)
	m.commitEvents(rpc.NewEvent(m.config.ID, typ, "cluster", map[string]string{
		"status": cs.Status, "previous_status": prev, "reason": cs.Reason,
		"failure_tolerance": strconv.Itoa(int(cs.FailureTolerance)),
		"total_agents":      strconv.Itoa(int(cs.TotalAgents)), "healthy_agents": strconv.Itoa(int(cs.HealthyAgents)),
	}))
}

// PeerHTTPAddrs are the HTTP addresses the cluster's masters advertise in
// gossip (this one included); the REST API lets pages served by them call
// it (the dashboard moves between masters). A master that failed (gossip
// status dead) is kept: a page it served carries on through the others
// after it died, which is the point of moving. One that left the cluster is
// dropped.
func (m *Master) PeerHTTPAddrs() []string {
	out := []string{m.advertise.HTTP}
	for _, mb := range m.members.gossip.allMembers() {
		if mb.Status == "left" || !mb.isMaster() {
			continue
		}
		if mb.Tags[tagHTTPAddr] != "" && mb.Tags[tagID] != m.config.ID {
			out = append(out, mb.Tags[tagHTTPAddr])
		}
	}
	return out
}
