package test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/harness"
	"github.com/gridctl/grid/test/waitfor"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// contractCase is one invalid order sent on every path. rest is the JSON
// body of POST /api/grid/{spawn,stop}; spawn or stop is the same order as a
// gRPC request (nil when the wire cannot carry it). sameText is false when
// the gRPC request can only approximate the REST body (a negative number
// sent as an unsigned field), so only the code is compared.
type contractCase struct {
	name     string
	rest     map[string]any
	spawn    *rpc.SpawnRequest
	stop     *rpc.StopRequest
	code     codes.Code
	want     string // substring of the message
	sameText bool
}

// TestContractSameAnswerOnEveryPath is issue 11's acceptance table: the same
// invalid spawn and stop orders, sent through REST (on a follower and on the
// leader) and through gRPC (on a follower and on the leader), each get the
// same gRPC code / HTTP status and the same message, and change nothing:
// the registry is the same before and after, and no spawn or stop event is
// recorded.
//
// The rules under test (package rpc owns them): ids are 1-128 characters of
// [A-Za-z0-9._-], not "." or ".."; an empty node id in a spawn order is not
// an error (the master names the node), in a stop order it is; port 0 and
// memory_limit_mb 0 mean "the agent's choice", otherwise ports are
// 1024-65535 and inside the agent's range, memory 16-65536 MiB; storage
// paths are relative, without "..", at most 1024 bytes.
func TestContractSameAnswerOnEveryPath(t *testing.T) {
	if !agentBuilt(t) {
		t.Skip("the agent is not built")
	}
	c := harness.NewCluster(t, harness.Options{})
	leader := c.WaitLeader(30 * time.Second)
	ag := c.AddAgent("agent-contract", harness.AgentOptions{Ports: 20})
	waitfor.Until(t, 30*time.Second, "agent healthy on the leader", func() (bool, string) {
		ctx, cancel := harness.Ctx(5 * time.Second)
		defer cancel()
		list, err := leader.Client().ListAgents(ctx, &rpc.Empty{})
		if err != nil {
			return false, err.Error()
		}
		for _, a := range list.GetAgents() {
			if a.AgentId == ag.ID && a.Status == rpc.AgentHealthy {
				return true, ""
			}
		}
		return false, fmt.Sprint(list.GetAgents())
	})
	follower := c.Followers(leader)[0]

	outside := uint32(ag.PortFrom + 100) // the agent's range is PortFrom..PortFrom+19
	if outside > rpc.MaxNodePort {
		outside = uint32(ag.PortFrom - 100)
	}
	long := strings.Repeat("n", 300)
	path5k := strings.Repeat("a", 5000)
	const tib2 = 2 << 20 // 2 TiB in MiB

	spawnCase := func(name string, body map[string]any, req *rpc.SpawnRequest, code codes.Code, want string) contractCase {
		return contractCase{name: "spawn " + name, rest: body, spawn: req, code: code, want: want, sameText: true}
	}
	stopCase := func(name string, body map[string]any, req *rpc.StopRequest, code codes.Code, want string) contractCase {
		return contractCase{name: "stop " + name, rest: body, stop: req, code: code, want: want, sameText: true}
	}
	inv := codes.InvalidArgument
	cases := []contractCase{
		spawnCase("node id with ':'", map[string]any{"node_id": "node:1"}, &rpc.SpawnRequest{NodeId: "node:1"}, inv, "outside [A-Za-z0-9._-]"),
		spawnCase("agent id with ':'", map[string]any{"agent_id": "agent:1"}, &rpc.SpawnRequest{AgentId: "agent:1"}, inv, "agent_id"),
		spawnCase("node id with '/'", map[string]any{"node_id": "a/b"}, &rpc.SpawnRequest{NodeId: "a/b"}, inv, "outside [A-Za-z0-9._-]"),
		spawnCase("node id '..'", map[string]any{"node_id": ".."}, &rpc.SpawnRequest{NodeId: ".."}, inv, "is not a name"),
		spawnCase("node id of 300 characters", map[string]any{"node_id": long}, &rpc.SpawnRequest{NodeId: long}, inv, "300 characters"),
		spawnCase("memory 70,000 MiB", map[string]any{"memory_limit_mb": 70000}, &rpc.SpawnRequest{MemoryLimitMb: 70000}, inv, "memory_limit_mb 70000 is out of range"),
		spawnCase("memory 2 TiB", map[string]any{"memory_limit_mb": tib2}, &rpc.SpawnRequest{MemoryLimitMb: tib2}, inv, "is out of range"),
		// Memory 0 is the agent's default, not an error: the port is what is refused.
		spawnCase("memory 0 with port 80", map[string]any{"memory_limit_mb": 0, "port": 80}, &rpc.SpawnRequest{Port: 80}, inv, "port 80 is out of range"),
		spawnCase("port 70,000", map[string]any{"port": 70000}, &rpc.SpawnRequest{Port: 70000}, inv, "port 70000 is out of range"),
		spawnCase("port outside the agent's range", map[string]any{"agent_id": ag.ID, "port": outside},
			&rpc.SpawnRequest{AgentId: ag.ID, Port: outside}, inv, "outside the port range"),
		spawnCase("absolute storage path", map[string]any{"storage_path": "/etc/grid"}, &rpc.SpawnRequest{StoragePath: "/etc/grid"}, inv, "is absolute"),
		spawnCase("storage path with '..'", map[string]any{"storage_path": "a/../../etc"}, &rpc.SpawnRequest{StoragePath: "a/../../etc"}, inv, "'..' component"),
		spawnCase("storage path of 5,000 bytes", map[string]any{"storage_path": path5k}, &rpc.SpawnRequest{StoragePath: path5k}, inv, "5000 bytes long"),
		stopCase("empty node id", map[string]any{"node_id": ""}, &rpc.StopRequest{}, inv, "node_id is empty"),
		stopCase("node id with ':'", map[string]any{"node_id": "node:1"}, &rpc.StopRequest{NodeId: "node:1"}, inv, "outside [A-Za-z0-9._-]"),
		stopCase("node id with '/'", map[string]any{"node_id": "a/b"}, &rpc.StopRequest{NodeId: "a/b"}, inv, "outside [A-Za-z0-9._-]"),
		stopCase("node id '..'", map[string]any{"node_id": ".."}, &rpc.StopRequest{NodeId: ".."}, inv, "is not a name"),
		stopCase("node id of 300 characters", map[string]any{"node_id": long}, &rpc.StopRequest{NodeId: long}, inv, "300 characters"),
		stopCase("agent id with ':'", map[string]any{"node_id": "n1", "agent_id": "agent:1"}, &rpc.StopRequest{NodeId: "n1", AgentId: "agent:1"}, inv, "agent_id"),
		// -5 cannot be written in gRPC's uint64: the closest the wire allows
		// is 2^64-5, refused with the same code (its message names that number).
		{name: "spawn memory -5", rest: map[string]any{"memory_limit_mb": -5}, spawn: &rpc.SpawnRequest{MemoryLimitMb: 1<<64 - 5},
			code: inv, want: "is out of range"},
	}

	nodesBefore, agentsBefore := registryView(t, leader)
	eventsBefore := lifecycleEvents(t, leader)

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var answers []string // "path: code message", to compare
			restPath := "/api/grid/spawn"
			if tc.stop != nil {
				restPath = "/api/grid/stop"
			}
			body, err := json.Marshal(tc.rest)
			if err != nil {
				t.Fatal(err)
			}
			restMsg := ""
			for _, m := range []*harness.Master{follower, leader} {
				code, out := restCall(t, m, "POST", restPath, string(body))
				msg, _ := out["error"].(string)
				if code != rpc.HTTPStatus(tc.code) || out["success"] != false || !strings.Contains(msg, tc.want) {
					t.Fatalf("REST on %s: %d %v, want %d with an error containing %q", m.ID, code, out, rpc.HTTPStatus(tc.code), tc.want)
				}
				if restMsg == "" {
					restMsg = msg
				}
				answers = append(answers, fmt.Sprintf("REST %s: %d %s", m.ID, code, msg))
			}
			for _, m := range []*harness.Master{follower, leader} {
				ctx, cancel := harness.Ctx(20 * time.Second)
				var err error
				if tc.spawn != nil {
					_, err = m.Client().SpawnStorageNode(ctx, tc.spawn)
				} else {
					_, err = m.Client().StopStorageNode(ctx, tc.stop)
				}
				cancel()
				st, _ := status.FromError(err)
				if err == nil || st.Code() != tc.code || !strings.Contains(st.Message(), tc.want) {
					t.Fatalf("gRPC on %s: %v, want %s containing %q", m.ID, err, tc.code, tc.want)
				}
				answers = append(answers, fmt.Sprintf("gRPC %s: %s %s", m.ID, st.Code(), st.Message()))
				if tc.sameText && st.Message() != restMsg {
					t.Errorf("messages differ between paths:\n%s", strings.Join(answers, "\n"))
				}
			}
			t.Logf("answers:\n%s", strings.Join(answers, "\n"))
		})
	}

	nodesAfter, agentsAfter := registryView(t, leader)
	if !proto.Equal(&rpc.NodeList{Nodes: nodesBefore}, &rpc.NodeList{Nodes: nodesAfter}) {
		t.Errorf("storage nodes changed:\nbefore %v\nafter  %v", nodesBefore, nodesAfter)
	}
	if agentsBefore != agentsAfter {
		t.Errorf("agents changed:\nbefore %s\nafter  %s", agentsBefore, agentsAfter)
	}
	// Events travel through the leader's batcher in order: once a marker
	// emitted after the table is recorded, any spawn/stop event the table
	// caused would be too.
	ctx, cancel := harness.Ctx(10 * time.Second)
	defer cancel()
	if _, err := leader.Client().RegisterAgent(ctx, &rpc.AgentInfo{AgentId: "contract-marker", Hostname: "h",
		MaxStorageNodes: 1, AgentEndpoint: "127.0.0.1:1"}); err != nil {
		t.Fatalf("marker: %v", err)
	}
	waitfor.Until(t, 20*time.Second, "marker event recorded", func() (bool, string) {
		ctx, cancel := harness.Ctx(5 * time.Second)
		defer cancel()
		list, err := leader.Client().QueryEvents(ctx, &rpc.EventFilter{EntityIds: []string{"contract-marker"},
			Types: []rpc.EventType{rpc.EventType_AGENT_REGISTERED}, Limit: 1})
		if err != nil {
			return false, err.Error()
		}
		return len(list.GetEvents()) == 1, fmt.Sprint(list.GetEvents())
	})
	if after := lifecycleEvents(t, leader); after != eventsBefore {
		t.Fatalf("invalid orders recorded spawn/stop events: %d before, %d after", eventsBefore, after)
	}
}

// registryView reads the leader's node records and a summary of its agents
// (id and status; heartbeat times move on their own).
func registryView(t *testing.T, m *harness.Master) ([]*rpc.NodeStatus, string) {
	t.Helper()
	ctx, cancel := harness.Ctx(10 * time.Second)
	defer cancel()
	nodes, err := m.Client().ListStorageNodes(ctx, &rpc.Empty{})
	if err != nil {
		t.Fatalf("ListStorageNodes: %v", err)
	}
	agents, err := m.Client().ListAgents(ctx, &rpc.Empty{})
	if err != nil {
		t.Fatalf("ListAgents: %v", err)
	}
	var b strings.Builder
	for _, a := range agents.GetAgents() {
		fmt.Fprintf(&b, "%s=%s/%d/%s ", a.AgentId, a.Status, a.MaxStorageNodes, a.Endpoint)
	}
	return nodes.GetNodes(), b.String()
}

// lifecycleEvents counts the spawn and stop events in the leader's graph.
func lifecycleEvents(t *testing.T, m *harness.Master) int {
	t.Helper()
	ctx, cancel := harness.Ctx(10 * time.Second)
	defer cancel()
	list, err := m.Client().QueryEvents(ctx, &rpc.EventFilter{Limit: 1000, Types: []rpc.EventType{
		rpc.EventType_SPAWN_REQUESTED, rpc.EventType_SPAWN_SUCCEEDED, rpc.EventType_SPAWN_FAILED,
		rpc.EventType_STOP_REQUESTED, rpc.EventType_STOP_SUCCEEDED, rpc.EventType_STOP_FAILED,
	}})
	if err != nil {
		t.Fatalf("QueryEvents: %v", err)
	}
	return len(list.GetEvents())
}
