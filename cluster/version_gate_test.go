package cluster

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gridctl/grid/fsm"
	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/waitfor"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestVersionGateRefusesANewCommandWithAnOldVoter plays a rolling upgrade:
// RegisterAgentType and RegisterAgentEventsType (what a registration
// commits) pretend to be new in 0.3.0, two masters run 0.3.0 and
// one still runs 0.2.5. The leader refuses the command (ErrVersionGate,
// FAILED_PRECONDITION naming the old voter and the version needed) instead
// of committing an entry the old master would die on; once the old master
// is gone from the voters the same command commits.
func TestVersionGateRefusesANewCommandWithAnOldVoter(t *testing.T) {
	orig := minVersionOf
	minVersionOf = func(ty fsm.MessageType) (string, bool) {
		if ty == fsm.RegisterAgentType || ty == fsm.RegisterAgentEventsType {
			return "0.3.0", true
		}
		return orig(ty)
	}
	t.Cleanup(func() { minVersionOf = orig }) // runs after the cluster's shutdown
	tc := startTestCluster(t, 3, func(c *Config) {
		c.Version = "0.3.0"
		if c.ID == "master-3" {
			c.Version = "0.2.5"
		}
	})
	leader := waitForLeader(t, tc.masters)
	waitfor.True(t, 10*time.Second, "the leader knows every master's version from gossip", func() bool {
		return len(leader.masterVersions()) == 3
	})

	info := &rpc.AgentInfo{AgentId: "agent-001", AgentEndpoint: "10.0.0.1:8001", MaxStorageNodes: 4}
	rec := &rpc.AgentRecord{AgentId: info.AgentId, Status: rpc.AgentHealthy, Endpoint: info.AgentEndpoint, RegisteredAt: time.Now().Unix()}
	_, err := leader.raftApply(fsm.RegisterAgentType, rec)
	if !errors.Is(err, ErrVersionGate) {
		t.Fatalf("apply with an old voter: %v, want ErrVersionGate", err)
	}
	// Through gRPC (forwarded from any master): a clear precondition failure.
	_, err = grpcClient(t, followerOfCluster(tc.masters, leader)).RegisterAgent(testCtx(t), info)
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("register with an old voter: %v, want FAILED_PRECONDITION", err)
	}
	for _, want := range []string{"needs grid 0.3.0 or newer on every voter", "master-3 runs 0.2.5"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("the refusal does not say %q: %v", want, err)
		}
	}
	// Commands every version knows still commit during the upgrade.
	for _, ty := range []fsm.MessageType{fsm.AgentStatusType, fsm.UpsertNodeType, fsm.AppendEventsType} {
		if err := leader.votersKnow(ty); err != nil {
			t.Fatalf("%s, known to every version, was gated: %v", ty, err)
		}
	}

	// The old master leaves the voters: the new command commits.
	old := tc.masters[2]
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := old.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	leader = waitForLeader(t, live(tc.masters))
	if _, err := grpcClient(t, leader).RemovePeer(testCtx(t), &rpc.RemovePeerRequest{Id: "master-3"}); err != nil {
		t.Fatalf("remove master-3: %v", err)
	}
	waitfor.Until(t, 10*time.Second, "register commits once every voter runs 0.3.0", func() (bool, string) {
		_, err := grpcClient(t, leader).RegisterAgent(testCtx(t), info)
		if err != nil {
			return false, err.Error()
		}
		return true, ""
	})
}
