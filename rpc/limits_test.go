package rpc

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestValidateSpawnRequest(t *testing.T) {
	cases := []struct {
		name string
		req  *SpawnRequest
		want string // substring of the error; "" = valid
	}{
		{"empty order", &SpawnRequest{}, ""},
		{"full order", &SpawnRequest{AgentId: "agent-001", Port: 50051, StoragePath: "nodes/a", MemoryLimitMb: 256, NodeId: "node-1"}, ""},
		{"port low", &SpawnRequest{Port: 80}, "port 80 is out of range"},
		{"port high", &SpawnRequest{Port: 70000}, "port 70000 is out of range"},
		{"memory low", &SpawnRequest{MemoryLimitMb: 8}, "memory_limit_mb 8 is out of range"},
		{"memory absurd", &SpawnRequest{MemoryLimitMb: 1 << 40}, "is out of range"},
		{"path parent", &SpawnRequest{StoragePath: "../../etc"}, "'..' component"},
		{"path inner parent", &SpawnRequest{StoragePath: "a/../../b"}, "'..' component"},
		{"path absolute", &SpawnRequest{StoragePath: "/etc"}, "is absolute"},
		{"path NUL", &SpawnRequest{StoragePath: "a\x00b"}, "NUL"},
		{"path long", &SpawnRequest{StoragePath: strings.Repeat("a", 1025)}, "1025 bytes"},
		{"dots in name ok", &SpawnRequest{StoragePath: "a/..b/c.."}, ""},
		{"bad agent id", &SpawnRequest{AgentId: "agent 1"}, "agent_id"},
		{"bad node id", &SpawnRequest{NodeId: "node/1"}, "node_id"},
		{"long node id", &SpawnRequest{NodeId: strings.Repeat("n", 129)}, "node_id"},
		{"nil", nil, "empty request"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := ValidateSpawnRequest(c.req)
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
			if code := status.Code(ToStatus(err)); code != codes.InvalidArgument {
				t.Fatalf("code = %s, want InvalidArgument", code)
			}
		})
	}
}

func TestValidateNodeReport(t *testing.T) {
	ok := &NodeStatus{NodeId: "node-1", AgentId: "agent-1", Status: NodeRunning, Pid: 9}
	if err := ValidateNodeReport(ok); err != nil {
		t.Fatalf("valid report refused: %v", err)
	}
	for _, bad := range []*NodeStatus{
		nil,
		{AgentId: "agent-1", Status: NodeRunning},
		{NodeId: "node-1", Status: NodeRunning},
		{NodeId: "node-1", AgentId: "agent-1", Status: "exploded"},
	} {
		if err := ValidateNodeReport(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("report %v: err = %v, want ErrInvalid", bad, err)
		}
	}
}

// TestValidateSpawnSignedFromREST checks that the REST API's signed numbers
// get the same rule and message as gRPC's unsigned ones.
func TestValidateSpawnSignedFromREST(t *testing.T) {
	if err := ValidateSpawn("", "", 0, int64(-5), ""); err == nil || !strings.Contains(err.Error(), "memory_limit_mb -5 is out of range") {
		t.Fatalf("memory -5: %v", err)
	}
	if err := ValidateSpawn("", "", -1, int64(0), ""); err == nil || !strings.Contains(err.Error(), "port -1 is out of range") {
		t.Fatalf("port -1: %v", err)
	}
	grpcErr := ValidateSpawnRequest(&SpawnRequest{MemoryLimitMb: 70000})
	restErr := ValidateSpawn("", "", 0, int64(70000), "")
	if grpcErr == nil || restErr == nil || grpcErr.Error() != restErr.Error() {
		t.Fatalf("gRPC %v and REST %v differ", grpcErr, restErr)
	}
}
