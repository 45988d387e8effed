package cluster

import (
	"errors"
	"strings"
	"testing"

	"github.com/gridctl/grid/rpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestValidateSpawnRequest(t *testing.T) {
	cases := []struct {
		name string
		req  *rpc.SpawnRequest
		want string // substring of the error; "" = valid
	}{
		{"empty order", &rpc.SpawnRequest{}, ""},
		{"full order", &rpc.SpawnRequest{AgentId: "agent-001", Port: 50051, StoragePath: "nodes/a", MemoryLimitMb: 256, NodeId: "node-1"}, ""},
		{"port low", &rpc.SpawnRequest{Port: 80}, "port 80 is out of range"},
		{"port high", &rpc.SpawnRequest{Port: 70000}, "port 70000 is out of range"},
		{"memory low", &rpc.SpawnRequest{MemoryLimitMb: 8}, "memory_limit_mb 8 is out of range"},
		{"memory absurd", &rpc.SpawnRequest{MemoryLimitMb: 1 << 40}, "is out of range"},
		{"path parent", &rpc.SpawnRequest{StoragePath: "../../etc"}, "'..' component"},
		{"path inner parent", &rpc.SpawnRequest{StoragePath: "a/../../b"}, "'..' component"},
		{"path absolute", &rpc.SpawnRequest{StoragePath: "/etc"}, "is absolute"},
		{"path NUL", &rpc.SpawnRequest{StoragePath: "a\x00b"}, "NUL"},
		{"path long", &rpc.SpawnRequest{StoragePath: strings.Repeat("a", 1025)}, "1025 bytes"},
		{"dots in name ok", &rpc.SpawnRequest{StoragePath: "a/..b/c.."}, ""},
		{"bad agent id", &rpc.SpawnRequest{AgentId: "agent 1"}, "agent_id"},
		{"bad node id", &rpc.SpawnRequest{NodeId: "node/1"}, "node_id"},
		{"long node id", &rpc.SpawnRequest{NodeId: strings.Repeat("n", 129)}, "node_id"},
		{"nil", nil, "empty request"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := validateSpawnRequest(c.req)
			if c.want == "" {
				if err != nil {
					t.Fatalf("valid order refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one containing %q", err, c.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v is not ErrInvalid", err)
			}
			if code := status.Code(nodeStatusError(err)); code != codes.InvalidArgument {
				t.Fatalf("code = %s, want InvalidArgument", code)
			}
		})
	}
}

func TestValidateNodeReport(t *testing.T) {
	ok := &rpc.NodeStatus{NodeId: "node-1", AgentId: "agent-1", Status: nodeRunning, Pid: 9}
	if err := validateNodeReport(ok); err != nil {
		t.Fatalf("valid report refused: %v", err)
	}
	for _, bad := range []*rpc.NodeStatus{
		nil,
		{AgentId: "agent-1", Status: nodeRunning},
		{NodeId: "node-1", Status: nodeRunning},
		{NodeId: "node-1", AgentId: "agent-1", Status: "exploded"},
	} {
		if err := validateNodeReport(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("report %v: err = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestNodeStatusErrorCodes(t *testing.T) {
	cases := []struct {
		err  error
		want codes.Code
	}{
		{ErrNodeExists, codes.AlreadyExists},
		{ErrAgentNotHealthy, codes.FailedPrecondition},
		{ErrAgentFull, codes.ResourceExhausted},
		{ErrNoAgentAvailable, codes.ResourceExhausted},
		{ErrAgentUnreachable, codes.Unavailable},
		{ErrNodeBusy, codes.Aborted},
		{ErrNotFound, codes.NotFound},
		{&AgentRefusal{AgentID: "agent-001", Code: codes.AlreadyExists, Message: "port 50051 already in use"}, codes.AlreadyExists},
	}
	for _, c := range cases {
		err := nodeStatusError(errors.Join(errors.New("context"), c.err))
		if got := status.Code(err); got != c.want {
			t.Errorf("%v: code %s, want %s", c.err, got, c.want)
		}
	}
	refusal := nodeStatusError(&AgentRefusal{AgentID: "agent-001", Code: codes.InvalidArgument, Message: "port 50051 already in use"})
	if msg := status.Convert(refusal).Message(); msg != "agent agent-001 refused: port 50051 already in use" {
		t.Errorf("refusal message = %q", msg)
	}
}
