package cluster

import (
	"context"

	"github.com/gridctl/grid/cluster/events"
	"github.com/gridctl/grid/eventstore"
	"github.com/gridctl/grid/fsm"
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
	})
}

// eventDeps gives the event pipeline what it needs of the master: apply,
// leadership and the one forwarding path (forward.go).
type eventDeps struct{ m *Master }

func (d eventDeps) Apply(t fsm.MessageType, msg proto.Message) (any, error) {
	return d.m.raftApply(t, msg)
}

func (d eventDeps) VerifyLeader() error { return d.m.verifyLeader() }

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
