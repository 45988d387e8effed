package cluster

import (
	"context"
	"fmt"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/hashicorp/raft"
)

// GetClusterStatus reports agents, nodes, masters, health and failure tolerance.
func (s *gridService) GetClusterStatus(ctx context.Context, _ *rpc.Empty) (*rpc.ClusterStatus, error) {
	m := s.m
	return read(ctx, m, func(ctx context.Context) (*rpc.ClusterStatus, error) {
		return m.clusterStatus()
	}, func(ctx context.Context, c rpc.GridMasterClient) (*rpc.ClusterStatus, error) {
		return c.GetClusterStatus(ctx, &rpc.Empty{})
	})
}

// ListMasters lists the raft configuration with each master's state.
func (s *gridService) ListMasters(ctx context.Context, _ *rpc.Empty) (*rpc.MasterList, error) {
	m := s.m
	return read(ctx, m, func(ctx context.Context) (*rpc.MasterList, error) {
		masters, _, tolerance, err := m.mastersView()
		if err != nil {
			return nil, err
		}
		return &rpc.MasterList{Masters: masters, LeaderId: m.leaderID(), Term: m.consensus.raft.CurrentTerm(), FailureTolerance: tolerance}, nil
	}, func(ctx context.Context, c rpc.GridMasterClient) (*rpc.MasterList, error) {
		return c.ListMasters(ctx, &rpc.Empty{})
	})
}

// ListMembers is this master's gossip view (never forwarded).
func (s *gridService) ListMembers(ctx context.Context, _ *rpc.Empty) (*rpc.MemberList, error) {
	out := &rpc.MemberList{}
	for _, mb := range s.m.members.gossip.allMembers() {
		role := mb.Tags[tagRole]
		out.Members = append(out.Members, &rpc.Member{Name: mb.Name, Addr: mb.Addr, Status: mb.Status, Role: role, Tags: mb.Tags})
	}
	return out, nil
}

// RemovePeer removes a master from the raft configuration and records it in
// the replicated removed set (removed.go), so no leader adds it back.
// Removing a voter that would leave fewer healthy voters than the new
// quorum is refused (FAILED_PRECONDITION) unless force is set. Removing a
// master that is already removed succeeds (a retry); undo clears a removal.
func (s *gridService) RemovePeer(ctx context.Context, in *rpc.RemovePeerRequest) (*rpc.Empty, error) {
	m := s.m
	if err := rpc.ValidateID("id", in.Id); err != nil {
		return nil, toStatus(err)
	}
	return forward(ctx, m, func(ctx context.Context) (*rpc.Empty, error) {
		return idempotent(ctx, m, "RemovePeer", newEmpty, func(ctx context.Context) (*rpc.Empty, error) {
			return m.removePeer(ctx, in)
		})
	}, func(ctx context.Context, c rpc.GridMasterClient) (*rpc.Empty, error) {
		return c.RemovePeer(ctx, in)
	})
}

// removePeer carries out RemovePeer on the leader.
func (m *Master) removePeer(ctx context.Context, in *rpc.RemovePeerRequest) (*rpc.Empty, error) {
	if in.Undo {
		return m.undoRemovePeer(ctx, in.Id)
	}
	masters, _, _, err := m.mastersView()
	if err != nil {
		return nil, err
	}
	var target *rpc.MasterInfo
	voters, healthyOthers := 0, 0
	for _, mi := range masters {
		if mi.Id == in.Id {
			target = mi
		}
		if mi.Suffrage == "voter" {
			voters++
			if mi.Healthy && mi.Id != in.Id {
				healthyOthers++
			}
		}
	}
	if target == nil {
		if _, removed := m.fsm.RemovedMaster(in.Id); removed {
			return &rpc.Empty{}, nil // removed already: a retry
		}
		return nil, fmt.Errorf("%w: peer %q is not in the raft configuration", ErrNotFound, in.Id)
	}
	if target.Suffrage == "voter" && !in.Force {
		newQuorum := (voters-1)/2 + 1
		if voters-1 == 0 || healthyOthers < newQuorum {
			return nil, fmt.Errorf("%w: removing voter %q leaves %d healthy of %d voters, quorum needs %d (use force to remove anyway)",
				ErrQuorum, in.Id, healthyOthers, voters-1, newQuorum)
		}
	}
	if err := m.recordRemoval(in.Id); err != nil {
		return nil, err
	}
	if err := m.consensus.raft.RemoveServer(raft.ServerID(in.Id), 0, 0).Error(); err != nil {
		if uerr := m.clearRemoval(in.Id); uerr != nil {
			m.logger.Warn("remove peer failed and its removal record stays", "id", in.Id, "error", uerr)
		}
		return nil, fmt.Errorf("remove peer %q: %w", in.Id, err)
	}
	m.logger.Info("removed master from raft", "id", in.Id, "force", in.Force)
	m.commitEvents(rpc.NewEvent(m.config.ID, rpc.EventType_MASTER_REMOVED, in.Id, map[string]string{
		"master_id": in.Id, "reason": "operator", "force": fmt.Sprint(in.Force),
	}))
	return &rpc.Empty{}, nil
}

// TransferLeadership hands leadership to the named voter (or one raft picks)
// and waits for the new leader.
func (s *gridService) TransferLeadership(ctx context.Context, in *rpc.TransferLeadershipRequest) (*rpc.TransferLeadershipResponse, error) {
	m := s.m
	if in.Id != "" {
		if err := rpc.ValidateID("id", in.Id); err != nil {
			return nil, toStatus(err)
		}
	}
	return forward(ctx, m, func(ctx context.Context) (*rpc.TransferLeadershipResponse, error) {
		return m.transferOnce(ctx, func(ctx context.Context) (*rpc.TransferLeadershipResponse, error) {
			return m.transferLeadership(ctx, in)
		})
	}, func(ctx context.Context, c rpc.GridMasterClient) (*rpc.TransferLeadershipResponse, error) {
		return c.TransferLeadership(ctx, in)
	})
}

// transferLeadership carries out TransferLeadership on the leader.
func (m *Master) transferLeadership(ctx context.Context, in *rpc.TransferLeadershipRequest) (*rpc.TransferLeadershipResponse, error) {
	transfer := m.consensus.raft.LeadershipTransfer
	if in.Id != "" {
		if in.Id == m.config.ID {
			return &rpc.TransferLeadershipResponse{NewLeaderId: m.config.ID}, nil
		}
		conf, err := m.raftConfiguration()
		if err != nil {
			return nil, err
		}
		var target *raft.Server
		for i := range conf.Servers {
			if string(conf.Servers[i].ID) == in.Id {
				target = &conf.Servers[i]
			}
		}
		if target == nil {
			return nil, fmt.Errorf("%w: peer %q is not in the raft configuration", ErrNotFound, in.Id)
		}
		if target.Suffrage != raft.Voter {
			return nil, fmt.Errorf("%w: peer %q is not a voter", ErrInvalid, in.Id)
		}
		transfer = func() raft.Future { return m.consensus.raft.LeadershipTransferToServer(target.ID, target.Address) }
	}
	// The target is voted for at once: no read lease while it takes over.
	defer m.consensus.lease.suspend()()
	// Leadership moves within milliseconds (TimeoutNow skips the election
	// timeout): both waits below wake on raft's observation of the change.
	changed, unobserve := observeLeadership(m.consensus.raft)
	defer unobserve()
	run := transferRun{
		changed: changed,
		start:   transfer,
		leads:   m.isLeader,
		grace:   m.config.RaftTimings.ElectionTimeout,
		warn: func(attempt int, err error) {
			m.logger.Warn("leadership transfer timed out and this master still leads, retrying", "attempt", attempt, "error", err)
		},
	}
	if err := run.run(ctx); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(m.config.LeaderWait)
	for {
		if id := m.leaderID(); id != "" && id != m.config.ID {
			m.logger.Info("leadership transferred", "new_leader_id", id)
			return &rpc.TransferLeadershipResponse{NewLeaderId: id}, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%w: transfer started but no new leader after %s", ErrNoLeader, m.config.LeaderWait)
		}
		if !waitChange(ctx, changed) {
			return nil, ctx.Err()
		}
	}
}

// Ready is this master's own view (never forwarded): ready once a leader is
// known and this master has applied everything it knows to be committed.
func (s *gridService) Ready(ctx context.Context, _ *rpc.Empty) (*rpc.ReadyResponse, error) {
	m := s.m
	r := &rpc.ReadyResponse{
		Id:            m.config.ID,
		LeaderId:      m.leaderID(),
		AppliedIndex:  m.consensus.raft.AppliedIndex(),
		CommitIndex:   m.consensus.raft.CommitIndex(),
		HasRaftState:  m.hasRaftState(),
		LastLogIndex:  m.consensus.raft.LastIndex(),
		LastContactMs: m.lastContactMs(),
		ClusterId:     m.identity.ClusterID(),
	}
	r.LastLogTerm = lastLogTerm(m.consensus.raft)
	switch {
	case r.LeaderId == "":
		r.Reason = "no leader known"
	case r.AppliedIndex < r.CommitIndex:
		r.Reason = fmt.Sprintf("catching up: applied %d of %d", r.AppliedIndex, r.CommitIndex)
	default:
		r.Ready = true
		r.Reason = "ok"
	}
	return r, nil
}

// lastLogTerm reads the last log term from raft's stats.
func lastLogTerm(r *raft.Raft) uint64 {
	var t uint64
	_, _ = fmt.Sscan(r.Stats()["last_log_term"], &t)
	return t
}

// GetStateHash is this master's FSM summary (never forwarded).
func (s *gridService) GetStateHash(ctx context.Context, _ *rpc.Empty) (*rpc.StateHash, error) {
	h := s.m.fsm.StateHash()
	h.NodeId = s.m.config.ID
	return h, nil
}
