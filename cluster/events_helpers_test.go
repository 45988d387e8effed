package cluster

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gridctl/grid/cluster/events"
	"github.com/gridctl/grid/eventstore"
	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/waitfor"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// dialMaster opens a gRPC connection to m, closed with the test.
func dialMaster(t *testing.T, m *Master) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(m.Addresses().GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial %s: %v", m.ID(), err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func followerOf(masters []*Master, leader *Master) *Master {
	for _, m := range masters {
		if m != leader {
			return m
		}
	}
	return nil
}

// allEvents lists every event m's replica holds, in seq order.
func allEvents(t *testing.T, m *Master) []*rpc.Event {
	t.Helper()
	var out []*rpc.Event
	var after uint64
	for {
		page, err := m.fsm.Events().Events(eventstore.Filter{After: after, Ascending: true, Limit: 10000})
		if err != nil {
			t.Fatalf("%s: read events: %v", m.ID(), err)
		}
		out = append(out, page...)
		if len(page) < 10000 {
			return out
		}
		after = page[len(page)-1].Seq
	}
}

// sameOrderEverywhere polls until every master's replica holds the same
// events in the same seq order, each of want exactly once.
func sameOrderEverywhere(t *testing.T, masters []*Master, want []string) {
	t.Helper()
	check := func() string {
		ref := idsOf(allEvents(t, masters[0]))
		for _, m := range masters[1:] {
			if got := idsOf(allEvents(t, m)); !slices.Equal(got, ref) {
				return fmt.Sprintf("%s has %d events, %s has %d (or in another order)", masters[0].ID(), len(ref), m.ID(), len(got))
			}
		}
		count := make(map[string]int, len(ref))
		for _, id := range ref {
			count[id]++
		}
		for _, id := range want {
			if count[id] != 1 {
				return fmt.Sprintf("event %s present %d times", id, count[id])
			}
		}
		return ""
	}
	waitfor.Until(t, 30*time.Second, "replicas equal and complete", func() (bool, string) {
		why := check()
		if why == "" {
			return true, ""
		}
		for _, m := range masters {
			why += fmt.Sprintf("; %s: applied index %d, last seq %d", m.ID(), m.fsm.AppliedIndex(), m.fsm.Events().LastSeq())
		}
		return false, why
	})
}

// emitAcked sends req through c until it is acknowledged, like an agent
// that keeps its events until then.
func emitAcked(t *testing.T, c rpc.GridMasterClient, req *rpc.EmitEventsRequest) *rpc.EmitEventsResponse {
	t.Helper()
	var resp *rpc.EmitEventsResponse
	var lastErr error
	waitfor.True(t, 20*time.Second, "emit acknowledged", func() bool {
		resp, lastErr = c.EmitEvents(context.Background(), req)
		if lastErr != nil {
			t.Logf("emit: %v", lastErr)
		}
		return lastErr == nil
	})
	return resp
}

// pruneOnLeader commits the prune command for retention and maxEvents on
// whichever master leads.
func pruneOnLeader(t *testing.T, masters []*Master, retention time.Duration, maxEvents uint64) uint64 {
	t.Helper()
	var removed uint64
	waitfor.True(t, 20*time.Second, "prune committed by the leader", func() bool {
		leader := waitForLeader(t, masters)
		n, err := leader.events.Prune(events.PruneCommand(time.Now(), retention, maxEvents))
		if err != nil {
			t.Logf("prune: %v", err)
			return false
		}
		removed = n
		return true
	})
	return removed
}

func freshEvents(source string, n int, typ rpc.EventType, entity string) []*rpc.Event {
	out := make([]*rpc.Event, n)
	for i := range out {
		out[i] = rpc.NewEvent(source, typ, entity, map[string]string{"i": fmt.Sprint(i)})
	}
	return out
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func idsOf(list []*rpc.Event) []string {
	out := make([]string, len(list))
	for i, e := range list {
		out[i] = e.Id
	}
	return out
}
