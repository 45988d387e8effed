package cluster

import "github.com/gridctl/grid/rpc"

// gridService implements rpc.GridMasterServer. Its methods are spread over
// files by concern: registry (service_registry.go), operator
// (service_operator.go), snapshots (service_snapshot.go), events
// (events_rpc.go) and storage nodes (service_nodes.go).
type gridService struct {
	rpc.UnimplementedGridMasterServer
	m *Master
}
