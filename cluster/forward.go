package cluster

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/rpc/security"
	"github.com/hashicorp/raft"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// leaderConnCache keeps one gRPC connection to the current leader.
type leaderConnCache struct {
	mu       sync.Mutex
	addr     string
	conn     *grpc.ClientConn
	dialOpts []grpc.DialOption
}

func newLeaderConnCache(dialOpts []grpc.DialOption) *leaderConnCache {
	return &leaderConnCache{dialOpts: dialOpts}
}

// get returns a connection to addr, replacing the cached one if it points elsewhere.
func (c *leaderConnCache) get(addr string) (*grpc.ClientConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil && c.addr == addr {
		return c.conn, nil
	}
	if c.conn != nil {
		_ = c.conn.Close()
		c.conn = nil
	}
	conn, err := grpc.NewClient(addr, c.dialOpts...)
	if err != nil {
		return nil, fmt.Errorf("dial leader %s: %w", addr, err)
	}
	c.addr, c.conn = addr, conn
	return conn, nil
}

func (c *leaderConnCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil {
		_ = c.conn.Close()
		c.conn = nil
	}
}

// leaderWait paces the retries of a call that needs the leader: while no
// leader is known or reachable (an election is under way) the call tries
// again after a short jittered pause, for at most LeaderWait. It is the one
// "hold the request while no leader is known" loop of the master (nomad's
// getLeaderForRPC); forward, leaderClient and the snapshot relays use it.
type leaderWait struct {
	m        *Master
	deadline time.Time
}

// errLeaderWaitOver: LeaderWait passed without success.
var errLeaderWaitOver = errors.New("leader wait over")

func (m *Master) newLeaderWait() leaderWait {
	return leaderWait{m: m, deadline: time.Now().Add(m.config.LeaderWait)}
}

// pause waits before the next try: briefly when soon (the leader is this
// master, establishing), else 10-40 ms with jitter so that many waiting
// callers spread out (a try is a local look at raft's leader and at most
// one dial, so a short pause costs little and the call reaches a new
// leader within a few tens of milliseconds of its election). It returns
// errLeaderWaitOver once LeaderWait has passed, ctx's error when ctx ends,
// ErrShutdown when the master stops.
func (w leaderWait) pause(ctx context.Context, soon bool) error {
	if time.Now().After(w.deadline) {
		return errLeaderWaitOver
	}
	d := 10*time.Millisecond + rand.N(30*time.Millisecond)
	var ready <-chan struct{}
	if soon {
		// Woken the moment leadership is established (leader_ready.go);
		// the short pause still bounds the wait when leadership ends
		// before that.
		d = 2 * time.Millisecond
		if !w.m.consensus.leaderReady.Load() {
			ready = w.m.consensus.leaderReady.wait()
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-w.m.lifecycle.shutdownCh:
		return ErrShutdown
	case <-ready:
		return nil
	case <-t.C:
		return nil
	}
}

// waitForLeader returns the leader's raft address and id, waiting (leaderWait)
// while none is known.
func (m *Master) waitForLeader(ctx context.Context) (raft.ServerAddress, raft.ServerID, error) {
	w := m.newLeaderWait()
	for {
		addr, id := m.consensus.raft.LeaderWithID()
		if id != "" {
			return addr, id, nil
		}
		switch err := w.pause(ctx, false); {
		case errors.Is(err, errLeaderWaitOver):
			return "", "", fmt.Errorf("%w: none elected after %s (is a quorum of masters up?)", ErrNoLeader, m.config.LeaderWait)
		case errors.Is(err, ErrShutdown):
			return "", "", err
		case err != nil:
			return "", "", fmt.Errorf("%w: waiting for a leader: %w", ErrNoLeader, err)
		}
	}
}

// leaderGRPCAddr maps a raft server id to its gRPC address through gossip.
func (m *Master) leaderGRPCAddr(id raft.ServerID) (string, error) {
	if string(id) == m.config.ID {
		return m.advertise.GRPC, nil
	}
	// Prefer a live member's address; a master that restarted may still be
	// marked dead until gossip refutes it, but its address rarely changes,
	// so the last one seen is the best guess (a wrong guess fails
	// UNAVAILABLE and forward looks again).
	var lastSeen string
	for _, mb := range m.members.gossip.allMembers() {
		if !mb.isMaster() || mb.Tags[tagID] != string(id) || mb.Tags[tagGRPCAddr] == "" {
			continue
		}
		if mb.Status == "alive" || mb.Status == "suspect" {
			return mb.Tags[tagGRPCAddr], nil
		}
		lastSeen = mb.Tags[tagGRPCAddr]
	}
	if lastSeen != "" {
		return lastSeen, nil
	}
	return "", fmt.Errorf("%w: leader %q is not in the gossip view yet", ErrNoLeader, id)
}

// leaderClient returns a client (over a cached connection) to the leader's
// gRPC address, waiting briefly (with jitter) while no leader is known;
// ErrNoLeader when none appears in time.
func (m *Master) leaderClient(ctx context.Context) (rpc.GridMasterClient, error) {
	w := m.newLeaderWait()
	for {
		_, id, err := m.waitForLeader(ctx)
		if err != nil {
			return nil, err
		}
		addr, err := m.leaderGRPCAddr(id)
		if err == nil {
			conn, err := m.endpoint.leaderConn.get(addr)
			if err != nil {
				return nil, err
			}
			return rpc.NewGridMasterClient(conn), nil
		}
		switch perr := w.pause(ctx, false); {
		case errors.Is(perr, errLeaderWaitOver):
			return nil, err
		case errors.Is(perr, ErrShutdown):
			return nil, perr
		case perr != nil:
			return nil, fmt.Errorf("%w: %w", ErrNoLeader, perr)
		}
	}
}

// isForwarded reports whether the call was forwarded by another master.
func isForwarded(ctx context.Context) bool {
	md, ok := metadata.FromIncomingContext(ctx)
	return ok && len(md.Get(rpc.ForwardedMetadataKey)) > 0
}

// allowStale reports whether the caller accepts a stale read: x-grid-stale=true
// on a gRPC call, withStaleRead on an in-process one (Backend).
func (m *Master) allowStale(ctx context.Context) bool {
	if isStaleRead(ctx) {
		return true
	}
	md, ok := metadata.FromIncomingContext(ctx)
	if !ok {
		return false
	}
	for _, v := range md.Get(rpc.StaleMetadataKey) {
		if v == "true" || v == "1" {
			return true
		}
	}
	return false
}

// forwardContext makes the outgoing context for a forwarded call: the
// caller's metadata (stale) plus x-grid-forwarded. The caller's own token
// rides along (forwardBearer) so the leader authorizes the caller, not
// this master; without one the call carries this master's token.
func (m *Master) forwardContext(ctx context.Context) context.Context {
	md, _ := metadata.FromIncomingContext(ctx)
	md = md.Copy()
	md.Delete(rpc.AuthorizationMetadataKey)
	md.Set(rpc.ForwardedMetadataKey, m.config.ID)
	if id := rpc.RequestIDFromContext(ctx); id != "" {
		md.Set(rpc.RequestIDMetadataKey, id)
	}
	out := metadata.NewOutgoingContext(ctx, md)
	if tok := security.BearerFrom(ctx); tok != "" {
		out = context.WithValue(out, forwardedBearerKey{}, tok)
	}
	return out
}

// forwardedBearerKey carries the caller's token of a forwarded call.
type forwardedBearerKey struct{}

// forwardBearer replaces this master's own token with the caller's on a
// forwarded call (a client interceptor on every dial).
func forwardBearer(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	return invoker(withForwardedBearer(ctx), method, req, reply, cc, opts...)
}

// forwardBearerStream is forwardBearer for streams.
func forwardBearerStream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	return streamer(withForwardedBearer(ctx), desc, cc, method, opts...)
}

func withForwardedBearer(ctx context.Context) context.Context {
	tok, ok := ctx.Value(forwardedBearerKey{}).(string)
	if !ok {
		return ctx
	}
	return security.WithBearerOverride(ctx, tok)
}

// notLeaderStatus refuses a forwarded call that reached a non-leader.
func (m *Master) notLeaderStatus() error {
	leader := m.leaderID()
	if leader == "" {
		return status.Errorf(codes.Unavailable, "master %s is not the leader and no leader is known; retry shortly", m.config.ID)
	}
	addr, _ := m.leaderGRPCAddr(raft.ServerID(leader))
	return status.Errorf(codes.Unavailable, "master %s is not the leader; leader is %s (%s)", m.config.ID, leader, addr)
}

// forward runs local on the leader; on a follower it calls remote with a
// leader client and x-grid-forwarded set. A forwarded call that arrives at
// a non-leader is refused UNAVAILABLE with a hint, never forwarded again.
// While the leader is unknown or unreachable (an election is under way) the
// call is retried with jitter for up to LeaderWait, then fails UNAVAILABLE
// with the last reason. Errors from local are converted with toStatus;
// other errors from remote pass through: only leader errors (leaderFailed)
// make it close the leader connection and look again.
func forward[T any](ctx context.Context, m *Master, local func(ctx context.Context) (T, error),
	remote func(ctx context.Context, c rpc.GridMasterClient) (T, error)) (T, error) {
	var zero T
	w := m.newLeaderWait()
	var lastErr error
	for {
		if m.isLeader() && !m.consensus.leaderReady.Load() {
			// Elected but the barrier has not applied every committed entry
			// yet: answering now could miss acknowledged writes. Wait.
			lastErr = fmt.Errorf("%w: leadership of %s not yet established (catching up)", ErrNoLeader, m.config.ID)
		} else if m.isLeader() {
			out, err := local(ctx)
			if err == nil {
				return out, nil
			}
			if !isNotLeaderErr(err) || isForwarded(ctx) {
				return zero, toStatus(err)
			}
			lastErr = err // lost leadership mid-call: find the new leader
		} else if isForwarded(ctx) {
			return zero, m.notLeaderStatus()
		} else if c, err := m.leaderClient(ctx); err != nil {
			return zero, toStatus(err)
		} else if !m.isLeader() {
			out, err := remote(m.forwardContext(ctx), c)
			if err == nil || !leaderFailed(err) {
				return out, err
			}
			// The leader we dialed died or stepped down; look again.
			m.endpoint.leaderConn.close()
			lastErr = err
		}
		// Elected, establishing: that takes a barrier commit, so look
		// again soon rather than after an election-sized back-off.
		switch err := w.pause(ctx, m.isLeader()); {
		case errors.Is(err, ErrShutdown):
			return zero, toStatus(ErrShutdown)
		case err != nil:
			return zero, status.Errorf(codes.Unavailable, "no reachable leader after %s (is a quorum of masters up?): %v",
				m.config.LeaderWait, status.Convert(lastErr).Message())
		}
	}
}

// leaderFailed reports whether a forwarded call's error is a leader error:
// the leader could not be reached, or the master reached is no longer the
// leader or is shutting down. Those (and only those) are UNAVAILABLE: every
// other answer, an unreachable agent (rpc.ErrAgentUnreachable,
// FAILED_PRECONDITION) included, is the leader's answer to the call and goes
// back to the caller as is — the shared leader connection stays open and
// other forwarded calls on it are not disturbed.
func leaderFailed(err error) bool {
	return status.Code(err) == codes.Unavailable
}

// isNotLeaderErr reports whether err means this master lost leadership.
func isNotLeaderErr(err error) bool {
	return errorsIs(err, ErrNotLeader, raft.ErrNotLeader, raft.ErrLeadershipLost, raft.ErrLeadershipTransferInProgress)
}

// verifyLeader checks that this master is the leader and still has quorum
// contact, with a VerifyLeader round every call: the fence of leader-only
// actions (nodes' Fencing). Consistent reads use verifyLeaderRead (lease.go).
func (m *Master) verifyLeader() error {
	if err := m.consensus.raft.VerifyLeader().Error(); err != nil {
		return fmt.Errorf("%w: %v", ErrNotLeader, err)
	}
	return nil
}
