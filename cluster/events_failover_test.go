package cluster

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gridctl/grid/eventstore"
	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/waitfor"
)

// TestEventsSurviveLeaderChanges sends agent batches and master events
// while leadership moves; every acknowledged event ends up exactly once on
// every master, in the same order.
func TestEventsSurviveLeaderChanges(t *testing.T) {
	masters := newTestCluster(t, 3)
	waitForLeader(t, masters)
	clients := make([]rpc.GridMasterClient, len(masters))
	for i, m := range masters {
		clients[i] = rpc.NewGridMasterClient(dialMaster(t, m))
	}

	stop := make(chan struct{})
	var mu sync.Mutex
	var acked []string
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Add(1)
		go func() { // an agent: resend each batch until acknowledged
			defer wg.Done()
			source := fmt.Sprintf("agent-%d", w)
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				batch := freshEvents(source, 10, rpc.EventType_NODE_CRASHED, fmt.Sprintf("node-%d", w))
				for attempt := 0; ; attempt++ {
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					_, err := clients[(n+attempt)%len(clients)].EmitEvents(ctx, &rpc.EmitEventsRequest{Events: batch, Source: source})
					cancel()
					if err == nil {
						break
					}
					t.Logf("%s: emit attempt %d: %v", source, attempt, err)
					select {
					case <-stop:
						return // never acknowledged: not counted
					case <-time.After(20 * time.Millisecond): // agent back-off between resends
					}
				}
				mu.Lock()
				acked = append(acked, idsOf(batch)...)
				mu.Unlock()
			}
		}()
	}
	ackedCount := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	var own []string
	for round := range 3 {
		before := ackedCount()
		waitfor.True(t, 20*time.Second, "agent batches acknowledged under this leader", func() bool { return ackedCount() >= before+60 })
		leader := waitForLeader(t, masters)
		for _, m := range masters {
			for _, e := range freshEvents(m.ID(), 20, rpc.EventType_CLUSTER_HEALTHY, m.ID()) {
				own = append(own, e.Id)
				m.emit(e)
			}
		}
		if err := leader.Raft().LeadershipTransfer().Error(); err != nil {
			t.Logf("round %d: leadership transfer: %v", round, err)
		}
		waitfor.True(t, 10*time.Second, "a new leader", func() bool {
			for _, m := range masters {
				if m != leader && m.isLeader() {
					return true
				}
			}
			return false
		})
	}
	close(stop)
	wg.Wait()
	mu.Lock()
	want := append(acked, own...)
	mu.Unlock()
	if len(acked) == 0 {
		t.Fatal("no batch was acknowledged")
	}
	t.Logf("%d agent events acknowledged, %d master events emitted", len(acked), len(own))
	sameOrderEverywhere(t, masters, want)
	for _, m := range masters {
		if d := m.events.Dropped(); d != 0 {
			t.Fatalf("%s dropped %d events", m.ID(), d)
		}
	}
}

// TestPruneByAge checks that the leader's prune by age removes old events
// on every replica, and only them.
func TestPruneByAge(t *testing.T) {
	masters := newTestCluster(t, 3)
	leader := waitForLeader(t, masters)
	old := freshEvents(leader.ID(), 5, rpc.EventType_NODE_CRASHED, "node-old")
	for _, e := range old {
		e.Timestamp = time.Now().Add(-2 * time.Hour).UnixMicro()
	}
	recent := freshEvents(leader.ID(), 1, rpc.EventType_NODE_CRASHED, "node-new")
	c := rpc.NewGridMasterClient(dialMaster(t, followerOf(masters, leader)))
	emitAcked(t, c, &rpc.EmitEventsRequest{Events: append(old, recent...)})
	if removed := pruneOnLeader(t, masters, time.Hour, 0); removed != 5 {
		t.Fatalf("prune by age removed %d, want 5", removed)
	}
	for _, m := range masters {
		waitfor.True(t, 10*time.Second, m.ID()+" pruned the old events", func() bool {
			store := m.fsm.Events()
			n, err := store.CountEvents(eventstore.Filter{Entities: []string{"node-old"}})
			kept, err2 := store.CountEvents(eventstore.Filter{Entities: []string{"node-new"}})
			return err == nil && err2 == nil && n == 0 && kept == 1
		})
	}
}
