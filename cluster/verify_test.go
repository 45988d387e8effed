package cluster

import (
	"testing"
	"time"

	"github.com/gridctl/grid/fsm"
	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/waitfor"
	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestVerifyReplicasAgreeThenCatchADivergedReplica(t *testing.T) {
	tc := startTestCluster(t, 3, func(c *Config) { c.VerifyInterval = 100 * time.Millisecond })
	leader := waitForLeader(t, tc.masters)
	c := grpcClient(t, followerOfCluster(tc.masters, leader))
	if _, err := c.RegisterAgent(testCtx(t), &rpc.AgentInfo{AgentId: "agent-1", Hostname: "h", Platform: "linux", MaxStorageNodes: 2, AgentEndpoint: "127.0.0.1:1"}); err != nil {
		t.Fatal(err)
	}
	// Forwarded from a follower, run by the leader: every master agrees.
	res, err := c.VerifyReplicas(testCtx(t), &rpc.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Match || len(res.Replicas) != 3 || res.LeaderId != leader.ID() {
		t.Fatalf("verify on a healthy cluster: %v", res)
	}
	for _, r := range res.Replicas {
		if r.Hash == nil || r.Hash.AppliedIndex != res.Index || r.Hash.Agents != 1 {
			t.Fatalf("replica %s: %v", r.Id, r)
		}
	}
	if testutil.ToFloat64(leader.metrics.digestMismatch) != 0 {
		t.Fatal("mismatch gauge set on a healthy cluster")
	}

	// Diverge one follower behind raft's back: it now holds an agent the
	// others do not.
	victim := followerOfCluster(tc.masters, leader)
	buf, err := fsm.Encode(fsm.RegisterAgentType, &rpc.AgentRecord{AgentId: "ghost", Status: "healthy"})
	if err != nil {
		t.Fatal(err)
	}
	victim.fsm.Apply(&raft.Log{Index: victim.fsm.AppliedIndex(), Type: raft.LogCommand, Data: buf})

	res, err = c.VerifyReplicas(testCtx(t), &rpc.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Match {
		t.Fatalf("verify missed the diverged replica %s: %v", victim.ID(), res)
	}
	if got := divergedReplicas(res); len(got) != 1 || got[0] != victim.ID() {
		t.Fatalf("diverged replicas = %v, want [%s]", got, victim.ID())
	}
	waitfor.True(t, 10*time.Second, "grid_replica_digest_mismatch = 1 on the leader", func() bool {
		return testutil.ToFloat64(leader.metrics.digestMismatch) == 1
	})
	waitfor.Until(t, 10*time.Second, "one replica_diverged event naming "+victim.ID(), func() (bool, string) {
		l, err := grpcClient(t, leader).QueryEvents(testCtx(t), &rpc.EventFilter{Types: []rpc.EventType{rpc.EventType_REPLICA_DIVERGED}, Limit: 10})
		if err != nil {
			return false, err.Error()
		}
		if len(l.Events) != 1 {
			return false, "events: " + l.String()
		}
		return l.Events[0].Details["masters"] == victim.ID(), l.Events[0].String()
	})
}
