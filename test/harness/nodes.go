package harness

import (
	"fmt"
	"net"
	"time"

	"github.com/gridctl/grid/rpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// NodeProcs maps node id to the pids of the live storage-node processes
// under this agent's data dir.
func (a *Agent) NodeProcs() map[string][]int { return StorageNodeProcs(a.DataDir) }

// NodeRecords reads every storage-node record from m's own replica (a stale
// read), keyed by node id.
func (m *Master) NodeRecords() (map[string]*rpc.NodeStatus, error) {
	ctx, cancel := Ctx(3 * time.Second)
	defer cancel()
	l, err := m.Client().ListStorageNodes(Stale(ctx), &rpc.Empty{})
	if err != nil {
		return nil, err
	}
	out := make(map[string]*rpc.NodeStatus, len(l.Nodes))
	for _, n := range l.Nodes {
		out[n.NodeId] = n
	}
	return out, nil
}

// StorageNodeServes reports whether storage node nodeID answers on
// 127.0.0.1:port: a fresh connection (no backoff left over from an earlier
// attempt) and one healthy HealthCheck naming nodeID within timeout.
func StorageNodeServes(nodeID string, port uint32, timeout time.Duration) error {
	return StorageNodeServesAt(nodeID, fmt.Sprintf("127.0.0.1:%d", port), timeout)
}

// StorageNodeServesAt is StorageNodeServes at endpoint (host:port).
func StorageNodeServesAt(nodeID, endpoint string, timeout time.Duration) error {
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := Ctx(timeout)
	defer cancel()
	r, err := rpc.NewStorageServiceClient(conn).HealthCheck(ctx, &rpc.HealthCheckRequest{})
	if err != nil {
		return err
	}
	if !r.Healthy {
		return fmt.Errorf("storage node at %s answers unhealthy: %s", endpoint, r.Status)
	}
	if r.NodeId != nodeID {
		return fmt.Errorf("%s is served by node %q, want %q", endpoint, r.NodeId, nodeID)
	}
	return nil
}

// PortFree reports whether a TCP listener can bind 127.0.0.1:port now.
func PortFree(port uint32) bool {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return false
	}
	l.Close()
	return true
}
