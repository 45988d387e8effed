package cluster

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/waitfor"
	"github.com/hashicorp/raft"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// voters returns the voter ids of m's raft configuration.
func voters(t *testing.T, m *Master) []string {
	t.Helper()
	conf, err := m.raftConfiguration()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range conf.Servers {
		if s.Suffrage == raft.Voter {
			out = append(out, string(s.ID))
		}
	}
	return out
}

func TestBootstrapExpectConcurrentStarts(t *testing.T) {
	for round := range 3 {
		t.Run("round", func(t *testing.T) {
			masters := newTestCluster(t, 3)
			leader := waitForLeader(t, masters)
			waitfor.True(t, 5*time.Second, "every master in one 3-voter configuration", func() bool {
				for _, m := range masters {
					conf, err := m.raftConfiguration()
					if err != nil || len(conf.Servers) != 3 {
						return false
					}
				}
				return true
			})
			cid := leader.identity.ClusterID()
			if cid == "" {
				t.Fatal("leader has no cluster id")
			}
			waitfor.True(t, 5*time.Second, "same cluster id everywhere", func() bool {
				for _, m := range masters {
					if m.identity.ClusterID() != cid || m.leaderID() != leader.ID() {
						return false
					}
				}
				return true
			})
			t.Logf("round %d: leader %s, cluster %s", round, leader.ID(), cid)
		})
	}
}

func TestJoinPromoteAndRemove(t *testing.T) {
	tc := startTestCluster(t, 3, nil)
	leader := waitForLeader(t, tc.masters)
	m4 := tc.add("master-4")
	waitfor.True(t, 15*time.Second, "master-4 promoted to voter", func() bool {
		return len(voters(t, leader)) == 4
	})
	// The newcomer has the cluster's state and id.
	c := grpcClient(t, m4)
	if _, err := c.RegisterAgent(testCtx(t), &rpc.AgentInfo{AgentId: "agent-j", AgentEndpoint: "127.0.0.1:1"}); err != nil {
		t.Fatal(err)
	}
	waitSameState(t, tc.masters)
	waitfor.True(t, 5*time.Second, "master-4 adopts the cluster id", func() bool {
		return m4.identity.ClusterID() == leader.identity.ClusterID()
	})
	// Operator removal after it stops.
	m4.Kill()
	if _, err := grpcClient(t, leader).RemovePeer(testCtx(t), &rpc.RemovePeerRequest{Id: "master-4"}); err != nil {
		t.Fatalf("remove master-4: %v", err)
	}
	waitfor.True(t, 5*time.Second, "master-4 gone from the configuration", func() bool {
		conf, err := leader.raftConfiguration()
		return err == nil && len(conf.Servers) == 3
	})
	// Autopilot removes a dead master (cleanup on, min quorum 3).
	m5 := tc.add("master-5")
	waitfor.True(t, 15*time.Second, "master-5 promoted", func() bool { return len(voters(t, leader)) == 4 })
	m5.Kill()
	waitfor.True(t, 20*time.Second, "autopilot removes dead master-5", func() bool {
		conf, err := leader.raftConfiguration()
		return err == nil && len(conf.Servers) == 3
	})
}

func TestRemovePeerQuorumRefusal(t *testing.T) {
	tc := startTestCluster(t, 3, nil)
	leader := waitForLeader(t, tc.masters)
	var down, up *Master
	for _, m := range tc.masters {
		if m == leader {
			continue
		}
		if down == nil {
			down = m
		} else {
			up = m
		}
	}
	c := grpcClient(t, leader)
	// A master that was still campaigning when the leader won is unhealthy
	// in the leader's view until it reports the leader's contact (autopilot
	// polls each master): start from a cluster the leader sees as healthy.
	waitfor.True(t, 10*time.Second, "the leader sees every master healthy", func() bool {
		ml, err := c.ListMasters(testCtx(t), &rpc.Empty{})
		if err != nil || len(ml.Masters) != 3 {
			return false
		}
		for _, mi := range ml.Masters {
			if !mi.Healthy {
				return false
			}
		}
		return true
	})
	down.Kill()
	waitfor.True(t, 10*time.Second, "the leader sees the dead master as unhealthy", func() bool {
		ml, err := c.ListMasters(testCtx(t), &rpc.Empty{})
		if err != nil {
			return false
		}
		for _, mi := range ml.Masters {
			if mi.Id == down.ID() {
				return !mi.Healthy
			}
		}
		return false
	})
	// Removing the other live voter would leave only the leader healthy.
	_, err := c.RemovePeer(testCtx(t), &rpc.RemovePeerRequest{Id: up.ID()})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "quorum") {
		t.Fatalf("remove live voter with one master down: %v, want FAILED_PRECONDITION about quorum", err)
	}
	// Removing the dead one is fine.
	if _, err := c.RemovePeer(testCtx(t), &rpc.RemovePeerRequest{Id: down.ID()}); err != nil {
		t.Fatalf("remove dead voter: %v", err)
	}
}

func TestWriteWithoutQuorumFails(t *testing.T) {
	tc := startTestCluster(t, 3, nil)
	leader := waitForLeader(t, tc.masters)
	var survivor *Master
	for _, m := range tc.masters {
		if m == leader {
			m.Kill()
		} else if survivor == nil {
			survivor = m
		} else {
			m.Kill()
		}
	}
	start := time.Now()
	_, err := grpcClient(t, survivor).RegisterAgent(testCtx(t), &rpc.AgentInfo{AgentId: "agent-nq", AgentEndpoint: "127.0.0.1:1"})
	// UNAVAILABLE comes from the server giving up (LeaderWait); a hang would
	// end in the client's own deadline instead (DEADLINE_EXCEEDED).
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("write without quorum: %v, want UNAVAILABLE", err)
	}
	t.Logf("failed after %s: %v", time.Since(start).Round(time.Millisecond), err)
	// A stale read still answers.
	if _, err := grpcClient(t, survivor).ListAgents(staleCtx(t), &rpc.Empty{}); err != nil {
		t.Errorf("stale read without quorum: %v", err)
	}
}

func TestRestartedMasterKeepsData(t *testing.T) {
	tc := startTestCluster(t, 3, nil)
	leader := waitForLeader(t, tc.masters)
	idx := 0
	for i, m := range tc.masters {
		if m != leader {
			idx = i
		}
	}
	c := grpcClient(t, leader)
	for _, id := range []string{"agent-r1", "agent-r2"} {
		if _, err := c.RegisterAgent(testCtx(t), &rpc.AgentInfo{AgentId: id, AgentEndpoint: "127.0.0.1:1"}); err != nil {
			t.Fatal(err)
		}
	}
	waitSameState(t, tc.masters)
	old := tc.masters[idx]
	addrs := old.Addresses()
	if err := old.Shutdown(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	// Written while it is down.
	if _, err := c.RegisterAgent(testCtx(t), &rpc.AgentInfo{AgentId: "agent-r3", AgentEndpoint: "127.0.0.1:1"}); err != nil {
		t.Fatal(err)
	}
	cfg := tc.configs[idx]
	cfg.BootstrapExpect = 0
	cfg.RaftAddr, cfg.GossipAddr = addrs.Raft, addrs.Gossip
	cfg.Join = []string{leader.Addresses().Gossip}
	m, err := New(cfg)
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	tc.masters[idx] = m
	waitSameState(t, tc.masters)
	if _, ok := m.fsm.Agent("agent-r3"); !ok {
		t.Error("restarted master misses the write made while it was down")
	}
}

func TestSnapshotSaveRestore(t *testing.T) {
	tc := startTestCluster(t, 3, nil)
	leader := waitForLeader(t, tc.masters)
	fc := grpcClient(t, followerOfCluster(tc.masters, leader))
	for _, id := range []string{"agent-s1", "agent-s2"} {
		if _, err := fc.RegisterAgent(testCtx(t), &rpc.AgentInfo{AgentId: id, AgentEndpoint: "127.0.0.1:1"}); err != nil {
			t.Fatal(err)
		}
	}
	// Save through a follower (relayed from the leader).
	stream, err := fc.SaveSnapshot(testCtx(t), &rpc.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	var snap []byte
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		snap = append(snap, chunk.Data...)
	}
	if !strings.HasPrefix(string(snap), snapshotFileMagic) {
		t.Fatalf("snapshot has no header (%d bytes)", len(snap))
	}
	saved := leader.fsm.StateHash()
	// Change state, then restore.
	if _, err := fc.RegisterAgent(testCtx(t), &rpc.AgentInfo{AgentId: "agent-s3", AgentEndpoint: "127.0.0.1:1"}); err != nil {
		t.Fatal(err)
	}
	up, err := fc.RestoreSnapshot(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off < len(snap); off += 1000 {
		if err := up.Send(&rpc.SnapshotChunk{Data: snap[off:min(off+1000, len(snap))]}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := up.CloseAndRecv(); err != nil {
		t.Fatalf("restore: %v", err)
	}
	waitSameState(t, tc.masters)
	for _, m := range tc.masters {
		if _, ok := m.fsm.Agent("agent-s3"); ok {
			t.Errorf("%s still has agent-s3 after restore", m.ID())
		}
		if h := m.fsm.StateHash(); h.RegistryHash != saved.RegistryHash {
			t.Errorf("%s registry hash %s, want the saved %s", m.ID(), h.RegistryHash, saved.RegistryHash)
		}
	}
	// A garbage upload is refused with a clear error.
	up, err = fc.RestoreSnapshot(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	_ = up.Send(&rpc.SnapshotChunk{Data: []byte("not a snapshot")})
	if _, err := up.CloseAndRecv(); status.Code(err) != codes.InvalidArgument {
		t.Errorf("garbage restore: %v, want INVALID_ARGUMENT", err)
	}
}
