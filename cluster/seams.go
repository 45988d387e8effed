package cluster

import "github.com/gridctl/grid/rpc"

// This file lists the seams between the parts of the master that are built
// side by side. Each method below is implemented in the file named beside it.
//
//   core (master.go, raft.go, gossip.go, forward.go, ...):
//     (m *Master) raftApply(t fsm.MessageType, msg proto.Message) (any, error)
//         commit one command; leader only (ErrNotLeader otherwise); returns the FSM's response value
//     (m *Master) isLeader() bool
//     (m *Master) leaderClient(ctx context.Context) (rpc.GridMasterClient, error)
//         a client to the current leader's gRPC address, waiting briefly while no leader is known
//     (m *Master) forwardIfFollower(ctx) ... see forward.go
//
//   events (package cluster/events, wired in events.go):
//     (m *Master) emit(e *rpc.Event)                 never blocks (events.Pipeline.Emit)
//     m.events.Start() / Stop()                      in start / shutdown
//     m.events.RunLeader(ctx)                        retention, under leaderTasks (leader_tasks.go)
//
//   nodes (nodes*.go, reconcile.go):
//     (m *Master) startNodeLeaderTasks(stopCh <-chan struct{})    reconcile desired vs actual nodes

// gridService implements rpc.GridMasterServer. Its methods are spread over
// files by concern: registry and operator RPCs (core), event RPCs
// (events.go, answered by package cluster/events), storage-node RPCs (nodes_rpc.go).
type gridService struct {
	rpc.UnimplementedGridMasterServer
	m *Master
}
