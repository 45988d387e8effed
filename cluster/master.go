package cluster

import (
	"context"
	"errors"

	"github.com/gridctl/grid/fsm"
	"github.com/gridctl/grid/rpc"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/protobuf/proto"
)

// ErrNotLeader: this master is not the Raft leader.
var ErrNotLeader = errors.New("not the leader")

// Master is one Grid master. (Skeleton: the core replaces this file.)
type Master struct {
	logger hclog.Logger
	fsm    *fsm.FSM
	events eventPipeline
	nodes  nodeOrchestrator
}

func (m *Master) raftApply(t fsm.MessageType, msg proto.Message) (any, error) {
	return nil, ErrNotLeader
}
func (m *Master) isLeader() bool { return false }
func (m *Master) leaderClient(ctx context.Context) (rpc.GridMasterClient, error) {
	return nil, ErrNotLeader
}
