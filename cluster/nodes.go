package cluster

// nodeOrchestrator is the master's storage-node orchestration state. (Skeleton.)
type nodeOrchestrator struct{}

func (m *Master) startNodeLeaderTasks(stopCh <-chan struct{}) {}
