package cluster

import (
	"testing"

	"github.com/gridctl/grid/rpc"
)

// TestRegisterAgentEventSaysReregistered: the agent_registered event of a
// first registration says reregistered=false, of the next one true.
func TestRegisterAgentEventSaysReregistered(t *testing.T) {
	masters := newTestCluster(t, 3)
	c := grpcClient(t, waitForLeader(t, masters))
	for range 2 {
		if _, err := c.RegisterAgent(testCtx(t), &rpc.AgentInfo{AgentId: "agent-rr", AgentEndpoint: "127.0.0.1:1"}); err != nil {
			t.Fatal(err)
		}
	}
	l, err := c.QueryEvents(testCtx(t), &rpc.EventFilter{EntityIds: []string{"agent-rr"},
		Types: []rpc.EventType{rpc.EventType_AGENT_REGISTERED}, Limit: 10, Ascending: true})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range l.Events {
		got = append(got, e.Details["reregistered"])
	}
	if len(got) != 2 || got[0] != "false" || got[1] != "true" {
		t.Fatalf("reregistered of the two agent_registered events = %v, want [false true]", got)
	}
}
