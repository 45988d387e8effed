package cluster

import (
	"context"
	"errors"
	"io"
	"sync"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/rpc/security"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// heartbeatStreams lets the leader end every open HeartbeatStream at once
// when it loses leadership: each stream watches the channel that was
// current when it opened; endAll closes it and installs a fresh one. It
// holds nothing per stream.
type heartbeatStreams struct {
	mu  sync.Mutex
	end chan struct{}
}

// current is the channel closed at the next endAll.
func (h *heartbeatStreams) current() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.end == nil {
		h.end = make(chan struct{})
	}
	return h.end
}

// endAll ends every stream opened so far.
func (h *heartbeatStreams) endAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.end != nil {
		close(h.end)
	}
	h.end = make(chan struct{})
}

// errLeadershipEnded ends the open streams of a master that stopped
// leading: UNAVAILABLE, as every not-leader answer, so agents look for the
// new leader.
func (m *Master) errLeadershipEnded() error {
	return status.Errorf(codes.Unavailable, "master %s is no longer the leader; heartbeat stream ended (find the new leader)", m.config.ID)
}

// HeartbeatStream carries one agent's heartbeats on one stream (rpc/grid.proto).
// Only a ready leader serves it: a follower refuses it UNAVAILABLE with the
// leader's id in the x-grid-leader-id trailer (agents go there, or beat
// unary, which followers forward). Every message gets the checks and
// effects of a unary Heartbeat: validation, the token (resolved again per
// message, so a revoked ACL token stops being accepted on an open stream),
// the agent-bound token and certificate role checks, the per-agent rate
// limit, then heartbeatLocal. A refused message ends the stream with the
// status the unary call would have failed with. When this master stops
// leading, every open stream ends UNAVAILABLE at once.
func (s *gridService) HeartbeatStream(stream rpc.GridMaster_HeartbeatStreamServer) error {
	m := s.m
	ctx := stream.Context()
	ended := m.hbStreams.current() // before the leader check: an endAll after it ends this stream
	if !m.isLeader() || !m.consensus.leaderReady.Load() {
		if leader := m.leaderID(); leader != "" && leader != m.config.ID {
			stream.SetTrailer(metadata.Pairs(rpc.LeaderIDTrailerKey, leader))
		}
		return m.notLeaderStatus()
	}
	m.metrics.heartbeatStreams.Inc()
	defer m.metrics.heartbeatStreams.Dec()
	// The beats are received, checked and answered on one goroutine, so a
	// beat costs one wake-up; this one only waits for it to end or for
	// leadership to end, since a Recv cannot be interrupted otherwise. mu
	// and over keep that goroutine from sending once this one returned.
	var (
		mu   sync.Mutex
		over bool
	)
	done := make(chan error, 1)
	go func() { done <- m.serveBeats(ctx, stream, &mu, &over) }()
	select {
	case err := <-done:
		return err
	case <-ended:
	case <-ctx.Done():
	}
	mu.Lock()
	over = true
	mu.Unlock()
	if ctx.Err() != nil {
		return status.FromContextError(ctx.Err()).Err()
	}
	return m.errLeadershipEnded()
}

// serveBeats answers a stream's beats until it ends, a beat is refused,
// or *over is set (under mu) by HeartbeatStream returning.
func (m *Master) serveBeats(ctx context.Context, stream rpc.GridMaster_HeartbeatStreamServer, mu *sync.Mutex, over *bool) error {
	secret := security.BearerFrom(ctx)
	// One request and one answer, reused for every beat: RecvMsg resets the
	// request, and Send has encoded the answer when it returns.
	in, resp := &rpc.HeartbeatRequest{}, &rpc.HeartbeatResponse{}
	for {
		err := stream.RecvMsg(in)
		if errors.Is(err, io.EOF) {
			return nil // the agent closed its side
		}
		if err != nil {
			return err
		}
		mu.Lock()
		if *over {
			mu.Unlock()
			return nil
		}
		err = m.streamBeat(ctx, secret, in, resp)
		if err == nil {
			err = stream.Send(resp)
		}
		mu.Unlock()
		if err != nil {
			return err
		}
	}
}

// streamBeat answers one beat of a stream into resp, after the unary
// call's checks.
func (m *Master) streamBeat(ctx context.Context, secret string, in *rpc.HeartbeatRequest, resp *rpc.HeartbeatResponse) error {
	const method = rpc.GridMaster_HeartbeatStream_FullMethodName
	if err := rpc.ValidateID("agent_id", in.AgentId); err != nil {
		return toStatus(err)
	}
	id, ref := m.endpoint.auth.Authorize(secret, secret != "", security.MethodCapability(method))
	if ref == nil {
		ref = m.checkCall(ctx, method, id, in)
	}
	if ref != nil {
		m.auditRefused(ctx, method, ref.Reason)
		return ref.Err()
	}
	if m.endpoint.limits != nil {
		if err := m.endpoint.limits.check(ctx, method, in); err != nil {
			return err
		}
	}
	if !m.isLeader() || !m.consensus.leaderReady.Load() {
		return m.errLeadershipEnded()
	}
	return toStatus(m.heartbeatInto(in, resp))
}
