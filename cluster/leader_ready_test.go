package cluster

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/waitfor"
	"github.com/hashicorp/raft"
)

// TestLeaderReadinessWakesWaiters: a waiter's channel closes when
// readiness is set, not before (not on false), and a ready leader's
// channel is closed at once.
func TestLeaderReadinessWakesWaiters(t *testing.T) {
	var r leaderReadiness
	if r.Load() {
		t.Fatal("zero value is ready")
	}
	ch := r.wait()
	r.Store(false)
	select {
	case <-ch:
		t.Fatal("waiter woken while not ready")
	default:
	}
	r.Store(true)
	select {
	case <-ch:
	default:
		t.Fatal("waiter not woken by ready")
	}
	if !r.Load() {
		t.Fatal("not ready after Store(true)")
	}
	select {
	case <-r.wait():
	default:
		t.Fatal("wait on a ready leader blocks")
	}
	r.Store(false)
	next := r.wait()
	select {
	case <-next:
		t.Fatal("wait after readiness ended is already closed")
	default:
	}
	r.Store(true)
	<-next
}

// TestWaitChange: a raft observation ends the wait before its bound; a
// nil channel waits for the bound; an ended context reports false.
func TestWaitChange(t *testing.T) {
	ch := make(chan raft.Observation, 1)
	ch <- raft.Observation{Data: raft.LeaderObservation{}}
	if !waitChange(context.Background(), ch) {
		t.Fatal("observation: want true")
	}
	if len(ch) != 0 {
		t.Fatal("observation not consumed")
	}
	if !waitChange(context.Background(), nil) {
		t.Fatal("no channel: want true after the bound")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if waitChange(ctx, make(chan raft.Observation)) {
		t.Fatal("ended context: want false")
	}
}

// TestNewLeaderServesAfterItsElectionEntry: a registration sent to the
// transfer's target at once is served by it (held until it is ready), and
// every replica orders the new leader's leader_elected before that
// registration's agent_registered, though the leader no longer waits for
// the election entry's commit before serving.
func TestNewLeaderServesAfterItsElectionEntry(t *testing.T) {
	masters := newTestCluster(t, 3)
	leader := waitForLeader(t, masters)
	target := followerOfCluster(masters, leader)
	resp, err := grpcClient(t, leader).TransferLeadership(testCtx(t), &rpc.TransferLeadershipRequest{Id: target.ID()})
	if err != nil {
		t.Fatal(err)
	}
	if resp.NewLeaderId != target.ID() {
		t.Fatalf("new leader %q, want %q", resp.NewLeaderId, target.ID())
	}
	reg, err := grpcClient(t, target).RegisterAgent(testCtx(t), &rpc.AgentInfo{AgentId: "agent-after-transfer", AgentEndpoint: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	if reg.LeaderId != target.ID() {
		t.Fatalf("registration served by %q, want the new leader %q", reg.LeaderId, target.ID())
	}
	term := strconv.FormatUint(target.consensus.leaderTerm.Load(), 10)
	for _, m := range live(masters) {
		waitfor.Until(t, 10*time.Second, m.ID()+" holds the election and the registration", func() (bool, string) {
			elected, registered := uint64(0), uint64(0)
			for _, e := range allEvents(t, m) {
				switch {
				case e.Type == rpc.EventType_LEADER_ELECTED && e.Details["leader_id"] == target.ID() && e.Details["term"] == term:
					elected = e.Seq
				case e.Type == rpc.EventType_AGENT_REGISTERED && e.EntityId == "agent-after-transfer":
					registered = e.Seq
				}
			}
			if elected == 0 || registered == 0 {
				return false, fmt.Sprintf("leader_elected seq %d, agent_registered seq %d", elected, registered)
			}
			if elected > registered {
				t.Fatalf("%s: leader_elected (seq %d) after the new leader's first registration (seq %d)", m.ID(), elected, registered)
			}
			return true, ""
		})
	}
}
