package cluster

import "github.com/gridctl/grid/rpc"

// eventPipeline is the master's event batcher state. (Skeleton.)
type eventPipeline struct{}

func (m *Master) emit(e *rpc.Event)                            {}
func (m *Master) startEventPipeline()                          {}
func (m *Master) stopEventPipeline()                           {}
func (m *Master) startEventLeaderTasks(stopCh <-chan struct{}) {}
