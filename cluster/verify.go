package cluster

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gridctl/grid/fsm"
	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/rpc/security"
	"github.com/hashicorp/raft"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Replica verification (DESIGN.md "Verification"). The leader commits a
// verify marker; every master computes its state digest when it applies
// that entry (fsm.applyVerifyMarker), so all digests describe the same
// point of the log; the leader then collects them (GetReplicaDigest) and
// compares. A background run every Config.VerifyInterval sets the
// grid_replica_digest_mismatch gauge and emits replica_diverged when a
// difference appears.

// errDigestTimeout: a master did not apply the marker within digestWait.
var errDigestTimeout = rpc.NewSentinel("marker not applied in time", rpc.ErrUnavailable)

// digestWait bounds how long one master is given to apply the marker.
const digestWait = 10 * time.Second

// VerifyReplicas is forwarded to the leader, which runs one verification.
func (s *gridService) VerifyReplicas(ctx context.Context, _ *rpc.Empty) (*rpc.VerifyResponse, error) {
	m := s.m
	return forward(ctx, m, func(ctx context.Context) (*rpc.VerifyResponse, error) {
		return m.verifyReplicas(ctx)
	}, func(ctx context.Context, c rpc.GridMasterClient) (*rpc.VerifyResponse, error) {
		return c.VerifyReplicas(ctx, &rpc.Empty{})
	})
}

// GetReplicaDigest is this master's digest at a verify marker (never
// forwarded): it waits until this master has applied the marker's index.
func (s *gridService) GetReplicaDigest(ctx context.Context, in *rpc.ReplicaDigestRequest) (*rpc.StateHash, error) {
	m := s.m
	if in.Index == 0 {
		return nil, toStatus(fmt.Errorf("%w: index is 0", ErrInvalid))
	}
	ctx, cancel := context.WithTimeout(ctx, digestWait)
	defer cancel()
	for m.fsm.AppliedIndex() < in.Index {
		select {
		case <-ctx.Done():
			return nil, toStatus(fmt.Errorf("%w: master %s has applied %d of %d: %v",
				errDigestTimeout, m.config.ID, m.fsm.AppliedIndex(), in.Index, ctx.Err()))
		case <-m.lifecycle.shutdownCh:
			return nil, toStatus(ErrShutdown)
		case <-time.After(5 * time.Millisecond):
		}
	}
	h, err := m.fsm.DigestAt(in.Index)
	if err != nil {
		return nil, toStatus(err)
	}
	h.NodeId = m.config.ID
	return h, nil
}

// verifyReplicas commits a verify marker and collects every master's
// digest at it (leader only).
func (m *Master) verifyReplicas(ctx context.Context) (*rpc.VerifyResponse, error) {
	resp, err := m.raftApply(fsm.VerifyMarkerType, &rpc.VerifyMarkerCommand{At: time.Now().UnixMicro()})
	if err != nil {
		return nil, fmt.Errorf("verify marker: %w", err)
	}
	mine, ok := resp.(*rpc.StateHash)
	if !ok {
		return nil, fmt.Errorf("verify marker: unexpected response %T", resp)
	}
	conf, err := m.raftConfiguration()
	if err != nil {
		return nil, err
	}
	index := mine.AppliedIndex
	out := &rpc.VerifyResponse{Index: index, LeaderId: m.config.ID}
	var mu sync.Mutex // guards out.Replicas
	var wg sync.WaitGroup
	for _, srv := range conf.Servers {
		id := string(srv.ID)
		if id == m.config.ID {
			mine.NodeId = id
			mu.Lock()
			out.Replicas = append(out.Replicas, &rpc.ReplicaDigest{Id: id, Reachable: true, Hash: mine})
			mu.Unlock()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			rd := m.remoteDigest(ctx, id, index)
			mu.Lock()
			out.Replicas = append(out.Replicas, rd)
			mu.Unlock()
		}()
	}
	wg.Wait()
	sort.Slice(out.Replicas, func(i, j int) bool { return out.Replicas[i].Id < out.Replicas[j].Id })
	out.Match = true
	for _, r := range out.Replicas {
		if !r.Reachable || r.Hash == nil || r.Hash.Digest != mine.Digest {
			out.Match = false
		}
	}
	return out, nil
}

// remoteDigest asks master id for its digest at index.
func (m *Master) remoteDigest(ctx context.Context, id string, index uint64) *rpc.ReplicaDigest {
	rd := &rpc.ReplicaDigest{Id: id}
	addr, err := m.leaderGRPCAddr(raft.ServerID(id))
	if err != nil {
		rd.Error = err.Error()
		return rd
	}
	conn, err := grpc.NewClient(addr, m.dialOptions()...)
	if err != nil {
		rd.Error = err.Error()
		return rd
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, digestWait+2*time.Second)
	defer cancel()
	// A verification someone asked for presents their token (the other
	// master authorizes them, as on a forward); the background check
	// presents this master's --api-token.
	if tok := security.BearerFrom(ctx); tok != "" {
		ctx = security.WithBearerOverride(ctx, tok)
	}
	h, err := rpc.NewGridMasterClient(conn).GetReplicaDigest(ctx, &rpc.ReplicaDigestRequest{Index: index})
	if err != nil {
		rd.Error = fmt.Sprintf("%s: %s", addr, status.Convert(err).Message())
		// It answered: it is reachable, it just has no digest to give.
		rd.Reachable = status.Code(err) != codes.Unavailable && status.Code(err) != codes.DeadlineExceeded
		return rd
	}
	rd.Reachable, rd.Hash = true, h
	return rd
}

// runReplicaVerify is a leader task: every VerifyInterval it verifies the
// replicas, sets grid_replica_digest_mismatch and emits replica_diverged
// when a difference is found (once per episode).
func (m *Master) runReplicaVerify(ctx context.Context) error {
	if m.config.VerifyInterval <= 0 {
		return nil
	}
	ticker := time.NewTicker(m.config.VerifyInterval)
	defer ticker.Stop()
	diverged := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
		res, err := m.verifyReplicas(ctx)
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, ErrNotLeader) {
				m.logger.Warn("background replica verification failed", "error", err)
			}
			continue
		}
		differ := divergedReplicas(res)
		if len(differ) == 0 {
			m.metrics.digestMismatch.Set(0)
			diverged = false
			continue
		}
		m.metrics.digestMismatch.Set(1)
		m.logger.Error("replica digests differ", "index", res.Index, "masters", strings.Join(differ, ","))
		if !diverged {
			m.emit(rpc.NewEvent(m.config.ID, rpc.EventType_REPLICA_DIVERGED, "cluster", map[string]string{
				"index":     strconv.FormatUint(res.Index, 10),
				"leader_id": m.config.ID,
				"masters":   strings.Join(differ, ","),
			}))
		}
		diverged = true
	}
}

// divergedReplicas lists the masters whose digest differs from the
// leader's (unreachable masters are not counted: they have no digest).
func divergedReplicas(res *rpc.VerifyResponse) []string {
	var leader string
	for _, r := range res.Replicas {
		if r.Id == res.LeaderId && r.Hash != nil {
			leader = r.Hash.Digest
		}
	}
	var out []string
	for _, r := range res.Replicas {
		if r.Hash != nil && r.Hash.Digest != leader {
			out = append(out, r.Id)
		}
	}
	return out
}
