package cluster

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/waitfor"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// staleCtx marks a read as allowed to be stale.
func staleCtx(t *testing.T) context.Context {
	return metadata.AppendToOutgoingContext(testCtx(t), rpc.StaleMetadataKey, "true")
}

// waitSameState waits until every live master has the same state hash.
func waitSameState(t *testing.T, masters []*Master) {
	t.Helper()
	waitfor.True(t, 10*time.Second, "equal state on every master", func() bool {
		ms := live(masters)
		want := ms[0].fsm.StateHash()
		for _, m := range ms[1:] {
			got := m.fsm.StateHash()
			if got.RegistryHash != want.RegistryHash || got.EventsHash != want.EventsHash {
				return false
			}
		}
		return true
	})
}

func TestClusterFormsAndForwards(t *testing.T) {
	masters := newTestCluster(t, 3)
	leader := waitForLeader(t, masters)
	follower := followerOfCluster(masters, leader)

	// Register through a follower (forwarded) and through the leader.
	fc := grpcClient(t, follower)
	resp, err := fc.RegisterAgent(testCtx(t), &rpc.AgentInfo{AgentId: "agent-001", Hostname: "h1", AgentEndpoint: ":8001", MaxStorageNodes: 4})
	if err != nil {
		t.Fatalf("register via follower: %v", err)
	}
	if !resp.Success || resp.LeaderId != leader.ID() || resp.HeartbeatIntervalMs == 0 {
		t.Errorf("registration response = %v", resp)
	}
	if _, err := grpcClient(t, leader).RegisterAgent(testCtx(t), &rpc.AgentInfo{AgentId: "agent-002", AgentEndpoint: "10.0.0.2:8001"}); err != nil {
		t.Fatalf("register via leader: %v", err)
	}
	// Every master holds both (stale reads answer from the local replica).
	for _, m := range masters {
		c := grpcClient(t, m)
		waitfor.True(t, 5*time.Second, "agents replicated to "+m.ID(), func() bool {
			list, err := c.ListAgents(staleCtx(t), &rpc.Empty{})
			return err == nil && len(list.Agents) == 2
		})
	}
	// A consistent read through a follower is answered by the leader.
	list, err := fc.ListAgents(testCtx(t), &rpc.Empty{})
	if err != nil || len(list.Agents) != 2 {
		t.Fatalf("consistent list via follower = %v, %v", list, err)
	}
	if a := list.Agents[0]; a.AgentId != "agent-001" || a.Status != rpc.AgentHealthy || !strings.HasSuffix(a.Endpoint, ":8001") {
		t.Errorf("agent-001 = %v, want healthy with endpoint derived from the caller", a)
	}
	// The heartbeat through a follower reaches the leader.
	hb, err := fc.Heartbeat(testCtx(t), &rpc.HeartbeatRequest{AgentId: "agent-001"})
	if err != nil || !hb.Acknowledged || hb.NextIntervalMs == 0 || hb.LeaderId != leader.ID() {
		t.Fatalf("heartbeat via follower = %v, %v", hb, err)
	}
	// Status and masters answer from any master. Right after formation the
	// leader may not have heard from every follower yet (status degraded,
	// "unreachable"): wait until it has.
	var st *rpc.ClusterStatus
	waitfor.Until(t, 10*time.Second, "cluster healthy", func() (bool, string) {
		var err error
		st, err = fc.GetClusterStatus(testCtx(t), &rpc.Empty{})
		if err != nil {
			return false, err.Error()
		}
		return st.Status == clusterHealthy, st.Status + ": " + st.Reason
	})
	if st.Status != clusterHealthy || st.Leader.GetId() != leader.ID() || len(st.Masters) != 3 || st.FailureTolerance != 1 || st.TotalAgents != 2 {
		t.Errorf("status = %v", st)
	}
	ml, err := fc.ListMasters(testCtx(t), &rpc.Empty{})
	if err != nil || len(ml.Masters) != 3 || ml.LeaderId != leader.ID() {
		t.Errorf("masters = %v, %v", ml, err)
	}
	members, err := fc.ListMembers(testCtx(t), &rpc.Empty{})
	if err != nil || len(members.Members) != 3 {
		t.Errorf("members = %v, %v", members, err)
	}
	waitfor.True(t, 5*time.Second, "follower adopts the cluster id", func() bool { return follower.identity.ClusterID() != "" })
	ready, err := fc.Ready(testCtx(t), &rpc.Empty{})
	if err != nil || !ready.Ready || ready.LeaderId != leader.ID() || !ready.HasRaftState || ready.ClusterId == "" {
		t.Errorf("ready = %v, %v", ready, err)
	}
	// A forwarded call arriving at a follower is refused, not forwarded again.
	fwd := metadata.AppendToOutgoingContext(testCtx(t), rpc.ForwardedMetadataKey, "someone")
	_, err = fc.UnregisterAgent(fwd, &rpc.AgentId{AgentId: "agent-002"})
	if status.Code(err) != codes.Unavailable || !strings.Contains(status.Convert(err).Message(), leader.ID()) {
		t.Errorf("forwarded call at follower: %v, want UNAVAILABLE naming the leader", err)
	}
	// Unregister through the follower.
	if _, err := fc.UnregisterAgent(testCtx(t), &rpc.AgentId{AgentId: "agent-002"}); err != nil {
		t.Fatal(err)
	}
	waitSameState(t, masters)
	if _, ok := follower.fsm.Agent("agent-002"); ok {
		t.Error("agent-002 still registered")
	}
}

func TestInputValidation(t *testing.T) {
	masters := newTestCluster(t, 3)
	leader := waitForLeader(t, masters)
	c := grpcClient(t, followerOfCluster(masters, leader))
	bad := []string{"", strings.Repeat("a", 129), "agent/1", "agent 1", "ag\x00ent", "агент"}
	for _, id := range bad {
		_, err := c.RegisterAgent(testCtx(t), &rpc.AgentInfo{AgentId: id})
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "agent_id") {
			t.Errorf("register %q: %v, want INVALID_ARGUMENT naming agent_id", id, err)
		}
		_, err = c.Heartbeat(testCtx(t), &rpc.HeartbeatRequest{AgentId: id})
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("heartbeat %q: %v, want INVALID_ARGUMENT", id, err)
		}
		_, err = c.RemovePeer(testCtx(t), &rpc.RemovePeerRequest{Id: id})
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("remove-peer %q: %v, want INVALID_ARGUMENT", id, err)
		}
	}
	_, err := c.RegisterAgent(testCtx(t), &rpc.AgentInfo{AgentId: "ok", AgentEndpoint: "no-port"})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("bad endpoint: %v, want INVALID_ARGUMENT", err)
	}
	_, err = c.Heartbeat(testCtx(t), &rpc.HeartbeatRequest{AgentId: "agent-unknown"})
	if status.Code(err) != codes.NotFound {
		t.Errorf("heartbeat of unknown agent: %v, want NOT_FOUND", err)
	}
	_, err = c.RemovePeer(testCtx(t), &rpc.RemovePeerRequest{Id: "master-99"})
	if status.Code(err) != codes.NotFound || !strings.Contains(err.Error(), "master-99") {
		t.Errorf("remove unknown peer: %v, want NOT_FOUND naming it", err)
	}
	_, err = c.TransferLeadership(testCtx(t), &rpc.TransferLeadershipRequest{Id: "master-99"})
	if status.Code(err) != codes.NotFound {
		t.Errorf("transfer to unknown peer: %v, want NOT_FOUND", err)
	}
}

func TestIdentityMismatchRefused(t *testing.T) {
	cfg := testConfig(t, "master-a")
	cfg.BootstrapExpect = 1
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	waitForLeader(t, []*Master{m})
	if err := m.Shutdown(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	other := testConfig(t, "master-b")
	other.DataDir = cfg.DataDir
	_, err = New(other)
	if !errors.Is(err, ErrIdentity) || !strings.Contains(err.Error(), "master-a") {
		t.Fatalf("start on another master's data dir: %v, want ErrIdentity naming master-a", err)
	}
	// The same id restarts on it with its state, without bootstrap-expect.
	again := testConfig(t, "master-a")
	again.DataDir = cfg.DataDir
	m2, err := New(again)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Shutdown(testCtx(t))
	waitForLeader(t, []*Master{m2})
}

func TestTransferLeadership(t *testing.T) {
	masters := newTestCluster(t, 3)
	leader := waitForLeader(t, masters)
	target := followerOfCluster(masters, leader)
	c := grpcClient(t, followerOfCluster(masters, target))
	resp, err := c.TransferLeadership(testCtx(t), &rpc.TransferLeadershipRequest{Id: target.ID()})
	if err != nil {
		t.Fatal(err)
	}
	if resp.NewLeaderId != target.ID() {
		t.Errorf("new leader %q, want %q", resp.NewLeaderId, target.ID())
	}
	if got := waitForLeader(t, masters); got != target {
		t.Errorf("leader is %s, want %s", got.ID(), target.ID())
	}
}
