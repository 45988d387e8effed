package test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/harness"
	"github.com/gridctl/grid/test/waitfor"
	"google.golang.org/grpc/metadata"
)

// withRequestID is ctx carrying a request id, as the CLI sends it.
func withRequestID(d time.Duration, id string) (context.Context, func()) {
	ctx, cancel := harness.Ctx(d)
	return metadata.AppendToOutgoingContext(ctx, rpc.RequestIDMetadataKey, id), cancel
}

type verifyJSON struct {
	Index    uint64 `json:"index"`
	Match    bool   `json:"match"`
	LeaderID string `json:"leader_id"`
	Replicas []struct {
		ID        string `json:"id"`
		Reachable bool   `json:"reachable"`
		Error     string `json:"error"`
		Hash      struct {
			Digest       string `json:"digest"`
			AppliedIndex uint64 `json:"applied_index"`
			Events       uint64 `json:"events"`
		} `json:"hash"`
	} `json:"replicas"`
}

func TestOperatorVerify(t *testing.T) {
	c := harness.NewCluster(t, harness.Options{})
	leader := c.WaitLeader(30 * time.Second)
	for i := 0; i < 3; i++ {
		register(t, leader, fmt.Sprintf("agent-v%d", i))
	}
	ctx, cancel := withRequestID(15*time.Second, "req-verify-unreg")
	if _, err := leader.Client().UnregisterAgent(ctx, &rpc.AgentId{AgentId: "agent-v0"}); err != nil {
		t.Fatal(err)
	}
	cancel()

	out := grid(t, c, "operator", "verify", "--json")
	var v verifyJSON
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("verify --json: %v\n%s", err, out)
	}
	if !v.Match || len(v.Replicas) != 3 || v.Index == 0 {
		t.Fatalf("verify: %+v", v)
	}
	for _, r := range v.Replicas {
		if !r.Reachable || r.Hash.AppliedIndex != v.Index || r.Hash.Digest != v.Replicas[0].Hash.Digest || r.Hash.Events == 0 {
			t.Fatalf("replica %s: %+v (index %d)", r.ID, r, v.Index)
		}
	}
	table := grid(t, c, "operator", "verify")
	if !strings.Contains(table, "agree at index") {
		t.Fatalf("verify table:\n%s", table)
	}

	// One master down: verify names it and exits non-zero.
	f := c.Followers(leader)[0]
	if err := f.Kill(); err != nil {
		t.Fatal(err)
	}
	out, err := gridErr(c, "operator", "verify")
	if err == nil || !strings.Contains(out, f.ID) || !strings.Contains(out, "DIFFER or did not answer") {
		t.Fatalf("verify with %s down: err=%v\n%s", f.ID, err, out)
	}
	// Back up and caught up: verify passes again.
	if err := f.Start(); err != nil {
		t.Fatal(err)
	}
	waitfor.Until(t, 60*time.Second, "verify to pass with "+f.ID+" back", func() (bool, string) {
		out, err := gridErr(c, "operator", "verify")
		return err == nil, out
	})
}

func TestRemovedMasterStaysRemovedThroughLeaderKills(t *testing.T) {
	c := harness.NewCluster(t, harness.Options{Masters: 5})
	leader := c.WaitLeader(60 * time.Second)
	removed := c.Master("master-5")
	if leader.ID == removed.ID {
		ctx, cancel := harness.Ctx(15 * time.Second)
		if _, err := leader.Client().TransferLeadership(ctx, &rpc.TransferLeadershipRequest{Id: "master-1"}); err != nil {
			t.Fatal(err)
		}
		cancel()
		leader = c.WaitLeader(30 * time.Second)
	}
	ctx, cancel := withRequestID(15*time.Second, "req-remove-m5")
	if _, err := leader.Client().RemovePeer(ctx, &rpc.RemovePeerRequest{Id: removed.ID}); err != nil {
		t.Fatalf("remove %s: %v", removed.ID, err)
	}
	// A retry of the same request, and a fresh one, both answer success.
	if _, err := leader.Client().RemovePeer(ctx, &rpc.RemovePeerRequest{Id: removed.ID}); err != nil {
		t.Fatalf("retried remove-peer: %v", err)
	}
	cancel()
	grid(t, c, "operator", "raft", "remove-peer", removed.ID)

	inConfig := func(m *harness.Master) (map[string]bool, error) {
		ctx, cancel := harness.Ctx(5 * time.Second)
		defer cancel()
		ml, err := m.Client().ListMasters(ctx, &rpc.Empty{})
		if err != nil {
			return nil, err
		}
		out := map[string]bool{}
		for _, mi := range ml.Masters {
			out[mi.Id] = mi.Suffrage == "voter" && mi.Healthy
		}
		return out, nil
	}
	for kill := 1; kill <= 3; kill++ {
		old := leader
		if err := old.Kill(); err != nil {
			t.Fatal(err)
		}
		leader = leaderAmong(t, c, removed.ID)
		if leader == old {
			t.Fatalf("killed %s still leads", old.ID)
		}
		if err := old.Start(); err != nil {
			t.Fatal(err)
		}
		// The restarted master is back as a healthy voter: the new leader has
		// reconciled gossip with raft since, and the removed master (alive in
		// gossip all along) must still be out.
		waitfor.Until(t, 60*time.Second, old.ID+" back as a healthy voter", func() (bool, string) {
			conf, err := inConfig(leader)
			if err != nil {
				return false, err.Error()
			}
			return conf[old.ID], fmt.Sprint(conf)
		})
		conf, err := inConfig(leader)
		if err != nil {
			t.Fatal(err)
		}
		if _, back := conf[removed.ID]; back {
			t.Fatalf("after leader kill %d, %s is back in the raft configuration: %v", kill, removed.ID, conf)
		}
		if !removed.Running() {
			t.Fatalf("%s exited: %s", removed.ID, removed.Tail(20))
		}
	}

	// Only the operator brings it back.
	grid(t, c, "operator", "raft", "remove-peer", "--undo", removed.ID)
	waitfor.Until(t, 60*time.Second, removed.ID+" re-added after --undo", func() (bool, string) {
		conf, err := inConfig(leader)
		if err != nil {
			return false, err.Error()
		}
		_, ok := conf[removed.ID]
		return ok, fmt.Sprint(conf)
	})
}

// leaderAmong waits for the leader of the live masters other than the
// removed one (which, outside the configuration, knows no leader).
func leaderAmong(t *testing.T, c *harness.Cluster, removed string) *harness.Master {
	t.Helper()
	var members []*harness.Master
	for _, m := range c.Live() {
		if m.ID != removed {
			members = append(members, m)
		}
	}
	views := map[*harness.Master]string{}
	return waitfor.Leader(t, 30*time.Second, members, func(m *harness.Master) string { return m.ID },
		func(m *harness.Master) bool {
			ctx, cancel := harness.Ctx(2 * time.Second)
			defer cancel()
			r, err := m.Client().Ready(ctx, &rpc.Empty{})
			views[m] = ""
			if err == nil {
				views[m] = r.LeaderId
			}
			return views[m] == m.ID
		},
		func(m *harness.Master) (string, bool) { return views[m], true })
}

func TestRetriedTransferLeadershipMovesOnce(t *testing.T) {
	c := harness.NewCluster(t, harness.Options{})
	leader := c.WaitLeader(30 * time.Second)
	ctx, cancel := withRequestID(20*time.Second, "req-transfer-1")
	defer cancel()
	first, err := leader.Client().TransferLeadership(ctx, &rpc.TransferLeadershipRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if first.NewLeaderId == leader.ID {
		t.Fatalf("transfer left leadership on %s", leader.ID)
	}
	newLeader := c.WaitLeader(30 * time.Second)
	ml, err := newLeader.Client().ListMasters(ctx, &rpc.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	// The retry (any master: it is forwarded) answers success and moves nothing.
	again, err := leader.Client().TransferLeadership(ctx, &rpc.TransferLeadershipRequest{})
	if err != nil {
		t.Fatalf("retried transfer: %v", err)
	}
	if again.NewLeaderId != newLeader.ID {
		t.Fatalf("retried transfer answered %s, leader is %s", again.NewLeaderId, newLeader.ID)
	}
	after, err := newLeader.Client().ListMasters(ctx, &rpc.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	if after.LeaderId != newLeader.ID || after.Term != ml.Term {
		t.Fatalf("the retry moved leadership: leader %s term %d, was %s term %d", after.LeaderId, after.Term, newLeader.ID, ml.Term)
	}
	// A retried unregister that had succeeded answers success too.
	register(t, newLeader, "agent-retry")
	uctx, ucancel := withRequestID(15*time.Second, "req-unreg-1")
	defer ucancel()
	for i := 0; i < 2; i++ {
		if _, err := leader.Client().UnregisterAgent(uctx, &rpc.AgentId{AgentId: "agent-retry"}); err != nil {
			t.Fatalf("unregister try %d: %v", i+1, err)
		}
	}
}
