package cluster

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/gridctl/grid/eventstore"
	"github.com/gridctl/grid/fsm"
	"github.com/gridctl/grid/rpc"
	"github.com/hashicorp/raft"
)

// monitorLeadership follows raft's leadership notifications and runs
// leaderLoop while this master leads (consul leader.go). It also starts
// watchLeaderContact.
func (m *Master) monitorLeadership() {
	defer m.lifecycle.wg.Done()
	m.lifecycle.wg.Add(1)
	go m.watchLeaderContact()
	var (
		stopCh chan struct{}
		done   sync.WaitGroup
	)
	stop := func() {
		if stopCh != nil {
			close(stopCh)
			done.Wait()
			stopCh = nil
		}
	}
	defer stop()
	for {
		select {
		case isLeader := <-m.consensus.notifyCh:
			m.consensus.lease.revoke()
			m.metrics.setLeader(isLeader)
			switch {
			case isLeader && stopCh == nil:
				stopCh = make(chan struct{})
				done.Add(1)
				go func(ch chan struct{}) {
					defer done.Done()
					m.leaderLoop(ch)
				}(stopCh)
				m.logger.Info("cluster leadership acquired")
			case !isLeader && stopCh != nil:
				stop()
				m.logger.Info("cluster leadership lost")
			}
		case <-m.lifecycle.shutdownCh:
			return
		}
	}
}

// leaderLoop runs while this master leads: barrier, establish leadership,
// then reconcile gossip membership into raft until stopCh closes.
func (m *Master) leaderLoop(stopCh chan struct{}) {
	established := false
	m.consensus.leaderReady.Store(false)
	var tasks leaderTasks
	defer func() {
		if established {
			m.revokeLeadership(&tasks)
		}
	}()
	// Catch up: every committed entry is applied before we judge anything
	// (leader_catchup.go).
	for !established {
		if err := m.catchUp(stopCh); err != nil {
			if errors.Is(err, errStopped) {
				return
			}
			m.logger.Error("leader catch-up failed", "error", err)
			select {
			case <-stopCh:
				return
			case <-m.lifecycle.shutdownCh:
				return
			case <-time.After(500 * time.Millisecond):
				continue
			}
		}
		elected := m.establishLeadership(&tasks)
		established = true
		m.consensus.leaderReady.Store(true)
		// Autopilot's Start asks every other master for its stats (a
		// dial and a Ready call each) before it returns: a round trip
		// no request needs, so it runs once this leader serves (until
		// its first state, AutopilotHealth asks to retry and status
		// reads gossip alone). Here, not in a goroutine: revokeLeadership
		// (deferred above) then always stops a started autopilot.
		m.autopilot.Start(context.Background())
		// leader_elected is already in the log ahead of anything this
		// leader serves; its commit is waited for here, not before serving.
		elected()
	}
	ticker := time.NewTicker(5 * time.Second)
	defer ticker.Stop()
	m.reconcileMembers()
	for {
		select {
		case <-stopCh:
			return
		case <-m.lifecycle.shutdownCh:
			return
		case <-m.members.reconcileCh:
			m.reconcileMembers()
		case <-ticker.C:
			m.reconcileMembers()
		}
	}
}

// errStopped: leadership or the master ended while waiting.
var errStopped = errors.New("stopped")

// barrier waits until every committed entry is applied. A barrier future
// can stay unanswered when raft shuts down, so the wait also ends on stopCh
// or shutdown (errStopped).
func (m *Master) barrier(stopCh <-chan struct{}) error {
	done := make(chan error, 1)
	go func() { done <- m.consensus.raft.Barrier(m.config.ApplyTimeout).Error() }()
	select {
	case err := <-done:
		return err
	case <-stopCh:
		return errStopped
	case <-m.lifecycle.shutdownCh:
		return errStopped
	}
}

// establishLeadership starts every leader-only part; the loops of the parts
// run in tasks, which revokeLeadership stops and waits for. It hands the
// leader_elected event to raft and returns the wait for its commit.
func (m *Master) establishLeadership(tasks *leaderTasks) (elected func()) {
	// Every agent gets a full offline threshold of grace: the new leader
	// has no idea when each last heartbeated.
	m.heartbeats.RearmAll(m.config.OfflineAfter)
	// The term orders to agents carry. Raft marks a lost leadership
	// (state) before it moves to the next term, so a term read while the
	// state still says leader is this leadership's own, never a successor's.
	term := m.consensus.raft.CurrentTerm()
	if m.isLeader() {
		m.consensus.leaderTerm.Store(term)
	}
	m.autopilot.delegate.NotifyState(nil) // a past leadership's state is not this one's
	tasks.start(m.logger, map[string]func(context.Context) error{
		"event_retention": m.events.RunLeader,
		"node_reconcile":  m.nodes.RunLeader,
		"replica_verify":  m.runReplicaVerify,
	})
	m.health.reset()
	m.metrics.term.Set(float64(term))
	details := map[string]string{
		"term":      strconv.FormatUint(term, 10),
		"leader_id": m.config.ID,
		"grpc_addr": m.advertise.GRPC,
	}
	// leaderless_ms: how long this master heard from no leader before it
	// became one (absent for the first leader of a cluster); the
	// dashboard's failover strip draws it as the gap.
	if lc := m.consensus.raft.LastContact(); !lc.IsZero() {
		details["leaderless_ms"] = strconv.FormatInt(time.Since(lc).Milliseconds(), 10)
	}
	// previous_leader_id: who led before, from the last leader_elected this
	// replica holds (absent for the first leader).
	if prev := m.previousLeader(); prev != "" {
		details["previous_leader_id"] = prev
	}
	elected = m.startEvents(rpc.NewEvent(m.config.ID, rpc.EventType_LEADER_ELECTED, m.config.ID, details))
	m.logger.Info("leadership established", "term", term)
	return elected
}

// startEvents hands master events to raft (their place in the log is then
// fixed: before any entry this leader starts afterwards) and returns the
// wait for their commit, which retries as commitEvents does when this
// first try fails (event ids make a retry of a try that did commit a
// no-op). The caller may serve between the two: a leader's first
// entries no longer wait one commit for its leader_elected, and that
// event still precedes them in every replica's history.
func (m *Master) startEvents(evs ...*rpc.Event) (wait func()) {
	started, err := m.raftApplyStart(fsm.AppendEventsType, &rpc.EmitEventsRequest{Events: evs, Source: m.config.ID})
	return func() {
		if err == nil {
			if _, err = started(); err == nil {
				return
			}
		}
		if !m.isLeader() {
			m.logger.Warn("master events not committed", "type", evs[0].Type.Name(), "entity_id", evs[0].EntityId, "error", err)
			return
		}
		m.commitEvents(evs...)
	}
}

// revokeLeadership stops every leader-only part and waits for the loops
// establishLeadership started.
func (m *Master) revokeLeadership(tasks *leaderTasks) {
	m.consensus.leaderReady.Store(false)
	m.hbStreams.endAll()
	m.heartbeats.Clear()
	tasks.stop()
	<-m.autopilot.Stop()
	m.logger.Info("leadership revoked")
}

// reconcileMembers adds alive gossip masters that are missing from the raft
// configuration as non-voters (autopilot promotes them when stable). A
// member naming a configured server with another Raft address is refused,
// never re-added (gossip_identity.go).
func (m *Master) reconcileMembers() {
	if !m.isLeader() {
		return
	}
	conf, err := m.raftConfiguration()
	if err != nil {
		m.logger.Warn("reconcile: raft configuration", "error", err)
		return
	}
	inConf := make(map[raft.ServerID]raft.ServerAddress, len(conf.Servers))
	for _, s := range conf.Servers {
		inConf[s.ID] = s.Address
	}
	ours := m.identity.ClusterID()
	for _, mb := range m.members.gossip.members() {
		if !mb.isMaster() || mb.Status != "alive" {
			continue
		}
		id, addr := mb.Tags[tagID], mb.Tags[tagRaftAddr]
		if id == "" || addr == "" || rpc.ValidateID("id", id) != nil {
			continue
		}
		if cid := mb.Tags[tagClusterID]; cid != "" && ours != "" && cid != ours {
			continue
		}
		if cur, ok := inConf[raft.ServerID(id)]; ok {
			if cur != raft.ServerAddress(addr) {
				// Never rewrite a server's address from gossip: an impostor
				// (or a moved master) goes through remove-peer and re-join.
				m.refuseImpostor(mb.Addr, addr, m.identityConflict(mb.Name, mb.Addr, mb.Tags))
			}
			continue
		}
		if m.staysRemoved(id, mb.Tags[tagIncarnation]) {
			continue
		}
		m.logger.Info("adding master to raft as non-voter", "id", id, "raft_addr", addr)
		if err := m.consensus.raft.AddNonvoter(raft.ServerID(id), raft.ServerAddress(addr), 0, 0).Error(); err != nil {
			m.logger.Error("add non-voter failed", "id", id, "error", err)
			continue
		}
		m.commitEvents(rpc.NewEvent(m.config.ID, rpc.EventType_MASTER_JOINED, id, map[string]string{
			"master_id": id, "raft_addr": addr, "grpc_addr": mb.Tags[tagGRPCAddr],
		}))
	}
}

// monitorClusterID adopts the cluster id of the leader once this master
// follows one (a master that joined later), and publishes it in gossip.
func (m *Master) monitorClusterID() {
	defer m.lifecycle.wg.Done()
	ticker := time.NewTicker(250 * time.Millisecond)
	defer ticker.Stop()
	for {
		select {
		case <-m.lifecycle.shutdownCh:
			return
		case <-ticker.C:
		}
		if m.identity.ClusterID() != "" {
			m.members.gossip.setTag(tagClusterID, m.identity.ClusterID())
			return
		}
		leader := m.leaderID()
		if leader == "" || leader == m.config.ID {
			continue
		}
		for _, mb := range m.members.gossip.members() {
			if mb.isMaster() && mb.Tags[tagID] == leader && mb.Tags[tagClusterID] != "" {
				if err := m.identity.SetClusterID(mb.Tags[tagClusterID]); err != nil {
					m.logger.Error("adopt cluster id", "error", err)
					continue
				}
				m.logger.Info("joined cluster", "cluster_id", mb.Tags[tagClusterID], "leader_id", leader)
			}
		}
	}
}

// previousLeader is the leader_id of the newest leader_elected event in this
// master's replica ("" when there is none). Called after the barrier, so
// every earlier term's election event is applied here.
func (m *Master) previousLeader() string {
	store := m.fsm.Events()
	if store == nil {
		return ""
	}
	evs, err := store.Events(eventstore.Filter{Types: []rpc.EventType{rpc.EventType_LEADER_ELECTED}, Limit: 1})
	if err != nil || len(evs) == 0 {
		return ""
	}
	return evs[0].Details["leader_id"]
}
