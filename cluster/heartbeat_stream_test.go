package cluster

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/rpc/security"
	"github.com/gridctl/grid/test/waitfor"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// beatOn sends one beat on s and returns its answer.
func beatOn(s rpc.GridMaster_HeartbeatStreamClient, agentID string) (*rpc.HeartbeatResponse, error) {
	if err := s.Send(&rpc.HeartbeatRequest{AgentId: agentID, Timestamp: uint64(time.Now().Unix())}); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return s.Recv() // a stream the master ended gives its status here (Send says only io.EOF)
}

func openBeatStream(t *testing.T, c rpc.GridMasterClient) rpc.GridMaster_HeartbeatStreamClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s, err := c.HeartbeatStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestHeartbeatStream: beats on one stream keep an agent healthy, each answered with the next interval and the
// leader's id; bad input and unknown agents end the stream with the unary
// call's codes; a follower refuses the stream UNAVAILABLE naming the leader.
func TestHeartbeatStream(t *testing.T) {
	tc := startTestCluster(t, 3, func(c *Config) {
		c.HeartbeatInterval = 100 * time.Millisecond
		c.DegradedAfter = time.Second // tolerant of a loaded machine's stalls
		c.OfflineAfter = 2 * time.Second
	})
	leader := waitForLeader(t, tc.masters)
	c := grpcClient(t, leader)
	if _, err := c.RegisterAgent(testCtx(t), &rpc.AgentInfo{AgentId: "agent-st", AgentEndpoint: "127.0.0.1:1"}); err != nil {
		t.Fatal(err)
	}
	s := openBeatStream(t, c)
	// 25 beats 100 ms apart: 2.5 s, past OfflineAfter; the agent stays healthy.
	for range 25 {
		resp, err := beatOn(s, "agent-st")
		if err != nil {
			t.Fatal(err)
		}
		if !resp.Acknowledged || resp.NextIntervalMs == 0 || resp.LeaderId != leader.ID() {
			t.Fatalf("answer %+v: want acknowledged, an interval and leader %s", resp, leader.ID())
		}
		if st := agentStatus(leader, "agent-st"); st != rpc.AgentHealthy {
			t.Fatalf("agent %s while beating on a stream", st)
		}
		time.Sleep(100 * time.Millisecond) // the beat interval: the load under test, not a wait for a condition
	}
	// Silence: offline, as with unary beats.
	waitfor.True(t, 5*time.Second, "agent offline", func() bool { return agentStatus(leader, "agent-st") == rpc.AgentOffline })
	if _, err := beatOn(s, "agent-st"); err != nil {
		t.Fatal(err)
	}
	waitfor.True(t, 5*time.Second, "agent recovered", func() bool { return agentStatus(leader, "agent-st") == rpc.AgentHealthy })

	// Bad input: INVALID_ARGUMENT ends the stream.
	if _, err := beatOn(openBeatStream(t, c), "bad id with spaces"); status.Code(err) != codes.InvalidArgument {
		t.Errorf("bad agent id: %v, want INVALID_ARGUMENT", err)
	}
	// Unknown agent: NOT_FOUND (the agent registers again).
	if _, err := beatOn(openBeatStream(t, c), "agent-nobody"); status.Code(err) != codes.NotFound {
		t.Errorf("unknown agent: %v, want NOT_FOUND", err)
	}
	// A follower refuses the stream, naming the leader in the trailer.
	f := openBeatStream(t, grpcClient(t, followerOfCluster(tc.masters, leader)))
	_, err := beatOn(f, "agent-st")
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("stream on a follower: %v, want UNAVAILABLE", err)
	}
	if got := f.Trailer().Get(rpc.LeaderIDTrailerKey); len(got) != 1 || got[0] != leader.ID() {
		t.Errorf("follower's trailer %s = %v, want [%s]", rpc.LeaderIDTrailerKey, got, leader.ID())
	}
}

// TestHeartbeatStreamEndsOnLeaderChange: a leader that loses leadership
// ends every open stream at once (no beat needed), UNAVAILABLE; the new
// leader serves the agent's next stream.
func TestHeartbeatStreamEndsOnLeaderChange(t *testing.T) {
	tc := startTestCluster(t, 3, nil)
	leader := waitForLeader(t, tc.masters)
	c := grpcClient(t, leader)
	if _, err := c.RegisterAgent(testCtx(t), &rpc.AgentInfo{AgentId: "agent-move", AgentEndpoint: "127.0.0.1:1"}); err != nil {
		t.Fatal(err)
	}
	s := openBeatStream(t, c)
	if _, err := beatOn(s, "agent-move"); err != nil {
		t.Fatal(err)
	}
	ended := make(chan error, 1)
	go func() { _, err := s.Recv(); ended <- err }() // no beat in flight: only the leader can end it
	if err := leader.Raft().LeadershipTransfer().Error(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-ended:
		if status.Code(err) != codes.Unavailable {
			t.Fatalf("stream of a deposed leader ended with %v, want UNAVAILABLE", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the deposed leader kept the stream open")
	}
	next := waitfor.Leader(t, 15*time.Second, live(tc.masters), (*Master).ID,
		func(m *Master) bool { return m != leader && m.isLeader() && m.consensus.leaderReady.Load() },
		func(m *Master) (string, bool) { return m.leaderID(), !isDone(m) })
	waitfor.True(t, 10*time.Second, "a beat on the new leader's stream", func() bool {
		_, err := beatOn(openBeatStream(t, grpcClient(t, next)), "agent-move")
		return err == nil
	})
}

// TestHeartbeatStreamLimitsAndACL: the per-agent rate limit counts stream
// beats; an agent-bound token beats only for its own agent; a token revoked
// while its stream is open is refused on the next beat.
func TestHeartbeatStreamLimitsAndACL(t *testing.T) {
	tc := startTestCluster(t, 1, func(c *Config) {
		c.ACL = true
		c.RateLimits.HeartbeatsPerSecond = 1
		c.RateLimits.HeartbeatBurst = 5
	})
	leader := waitForLeader(t, tc.masters)
	dial := func(token string) rpc.GridMasterClient {
		conn, err := grpc.NewClient(leader.Addresses().GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithPerRPCCredentials(security.TokenCredentials(token)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return rpc.NewGridMasterClient(conn)
	}
	boot, err := dial("").ACLBootstrap(testCtx(t), &rpc.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	mgmt := dial(boot.SecretId)
	tok, err := mgmt.ACLTokenCreate(testCtx(t), &rpc.ACLTokenCreateRequest{Name: "a1", Policies: []string{security.PolicyAgent}, AgentId: "agent-a1"})
	if err != nil {
		t.Fatal(err)
	}
	agent := dial(tok.SecretId)
	for _, id := range []string{"agent-a1", "agent-a2"} {
		if _, err := mgmt.RegisterAgent(testCtx(t), &rpc.AgentInfo{AgentId: id, AgentEndpoint: "127.0.0.1:1"}); err != nil {
			t.Fatal(err)
		}
	}
	// No token: refused at the stream's open.
	if _, err := beatOn(openBeatStream(t, dial("")), "agent-a1"); status.Code(err) != codes.Unauthenticated {
		t.Errorf("stream without a token: %v, want UNAUTHENTICATED", err)
	}
	// Bound to agent-a1: beats for agent-a2 are refused.
	if _, err := beatOn(openBeatStream(t, agent), "agent-a2"); status.Code(err) != codes.PermissionDenied {
		t.Errorf("agent-a1's token beating for agent-a2: %v, want PERMISSION_DENIED", err)
	}
	// The burst passes, then the limit ends the stream.
	s := openBeatStream(t, mgmt)
	var limited error
	for range 10 {
		if _, limited = beatOn(s, "agent-a2"); limited != nil {
			break
		}
	}
	if status.Code(limited) != codes.ResourceExhausted {
		t.Errorf("10 beats at once with burst 5: %v, want RESOURCE_EXHAUSTED", limited)
	}
	// Revoked while open: the next beat is refused.
	s = openBeatStream(t, agent)
	if _, err := beatOn(s, "agent-a1"); err != nil {
		t.Fatal(err)
	}
	if _, err := mgmt.ACLTokenRevoke(testCtx(t), &rpc.ACLAccessor{AccessorId: tok.Token.AccessorId}); err != nil {
		t.Fatal(err)
	}
	if _, err := beatOn(s, "agent-a1"); status.Code(err) != codes.Unauthenticated {
		t.Errorf("beat with a token revoked while the stream was open: %v, want UNAUTHENTICATED", err)
	}
}
