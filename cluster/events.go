package cluster

import (
	"context"
	"os"
	"time"

	"github.com/gridctl/grid/cluster/events"
	"github.com/gridctl/grid/eventstore"
	"github.com/gridctl/grid/fsm"
	"github.com/gridctl/grid/fsm/faults"
	"github.com/gridctl/grid/rpc"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// newEventPipeline builds the master's event pipeline (package events) and
// wires it to this master's Raft apply, forwarding path and FSM.
func (m *Master) newEventPipeline() (*events.Pipeline, error) {
	cfg := m.config.Events
	cfg.MasterID = m.config.ID
	cfg.CommitTimeout = m.config.ApplyTimeout
	cfg.Logger = m.logger.Named("events")
	cfg.Metrics = m.config.Metrics
	deps := eventDeps{m}
	return events.New(cfg, events.Deps{
		Applier:    deps,
		Leadership: deps,
		Forwarder:  deps,
		Store:      m.fsm,
		MasterIDs:  m.masterIDs,
		FailureTolerance: func() (int32, error) {
			_, _, tolerance, err := m.mastersView()
			return tolerance, err
		},
	})
}

// eventDeps gives the event pipeline what it needs of the master: apply,
// leadership and the one forwarding path (forward.go).
type eventDeps struct{ m *Master }

func (d eventDeps) Apply(t fsm.MessageType, msg proto.Message) (any, error) {
	return d.m.raftApply(t, msg)
}

// ApplyStart is events.AsyncApplier: the batcher keeps several entries in flight.
func (d eventDeps) ApplyStart(t fsm.MessageType, msg proto.Message) (func() (any, error), error) {
	return d.m.raftApplyStart(t, msg)
}

// VerifyLeader guards the pipeline's consistent reads: the read lease (lease.go).
func (d eventDeps) VerifyLeader() error { return d.m.verifyLeaderRead() }

func (d eventDeps) Forward(ctx context.Context, local func(context.Context) (any, error),
	remote func(context.Context, rpc.GridMasterClient) (any, error)) (any, error) {
	return forward(ctx, d.m, local, remote)
}

func (d eventDeps) AllowStale(ctx context.Context) bool { return d.m.allowStale(ctx) }

// emit queues one of this master's events (events.Pipeline.Emit: never blocks).
func (m *Master) emit(e *rpc.Event) {
	if m.events != nil {
		m.events.Emit(e)
	}
}

// commitEvents commits this master's own events (leader elected, master
// joined or removed, cluster status) in an entry of their own and waits for
// it, instead of queueing them: they follow a change that is not an FSM
// command (a Raft configuration or leadership change). An entry that did
// not commit is sent again while this master leads; the ids stay the same,
// so an entry that committed after all stores nothing twice.
func (m *Master) commitEvents(evs ...*rpc.Event) {
	wait := 50 * time.Millisecond
	for try := 1; ; try++ {
		_, err := m.raftApply(fsm.AppendEventsType, &rpc.EmitEventsRequest{Events: evs, Source: m.config.ID})
		if err == nil {
			return
		}
		if !m.isLeader() || try == 5 {
			m.logger.Warn("master events not committed", "type", evs[0].Type.Name(), "entity_id", evs[0].EntityId, "error", err)
			return
		}
		select {
		case <-m.lifecycle.shutdownCh:
			return
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// commitAgentStatuses commits status changes of many agents in one entry
// (liveness.Committer); the response holds one verdict per change.
func (m *Master) commitAgentStatuses(changes []*rpc.AgentStatusCommand) ([]error, error) {
	resp, err := m.raftApply(fsm.AgentStatusBatchType, &rpc.AgentStatusBatch{Changes: changes})
	if err != nil {
		return nil, err
	}
	faults.Hit(faults.StatusCommitted)
	results, _ := resp.([]error)
	return results, nil
}

// storeFailed is the FSM's OnStoreFailure: the event store could not write
// an entry (disk full, I/O error), so this master stops at once, non-zero,
// without applying past it. Restarted once the cause is fixed, it rebuilds
// its event graph from the snapshot and the log and catches up.
func (m *Master) storeFailed(err error) {
	m.logger.Error("stopping this master: its event store cannot apply the replicated log; fix the cause (free disk space, replace the disk) and restart it to catch up",
		"data_dir", m.config.DataDir, "error", err)
	os.Exit(1)
}

// masterIDs lists the masters in the Raft configuration (none on error).
func (m *Master) masterIDs() []string {
	conf, err := m.raftConfiguration()
	if err != nil {
		return nil
	}
	ids := make([]string, 0, len(conf.Servers))
	for _, srv := range conf.Servers {
		ids = append(ids, string(srv.ID))
	}
	return ids
}

// storageService is the seeds' StorageService over this master's replicated
// event graph, read-only (writes go through Raft, never through it).
func (m *Master) storageService() rpc.StorageServiceServer {
	return eventstore.NewStorageServer(func() *eventstore.Store { return m.fsm.Events() }, m.ID(), true, m.logger.Named("storage_service"))
}

// The event RPCs are answered by the event pipeline.

func (s *gridService) EmitEvents(ctx context.Context, req *rpc.EmitEventsRequest) (*rpc.EmitEventsResponse, error) {
	return s.m.events.EmitEvents(ctx, req)
}

func (s *gridService) QueryEvents(ctx context.Context, f *rpc.EventFilter) (*rpc.EventList, error) {
	return s.m.events.QueryEvents(ctx, f)
}

func (s *gridService) StreamEvents(req *rpc.StreamEventsRequest, stream grpc.ServerStreamingServer[rpc.Event]) error {
	return s.m.events.StreamEvents(req, stream)
}

func (s *gridService) AskQuery(ctx context.Context, req *rpc.NaturalQueryRequest) (*rpc.NaturalQueryResponse, error) {
	return s.m.events.AskQuery(ctx, req)
}

// ListAlerts lists alert episodes (cluster/events alerts_rpc.go).
func (s *gridService) ListAlerts(ctx context.Context, req *rpc.ListAlertsRequest) (*rpc.AlertList, error) {
	return s.m.events.ListAlerts(ctx, req)
}

// WebhookStatus shows each webhook's position and delivery (on the leader).
func (s *gridService) WebhookStatus(ctx context.Context, req *rpc.Empty) (*rpc.WebhookStatusList, error) {
	return s.m.events.WebhookStatus(ctx, req)
}
