package cluster

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/gridctl/grid/fsm"
	"github.com/gridctl/grid/rpc"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/metadata"
)

// EventConfig configures a master's event pipeline: the batcher that turns
// events into Raft entries, and retention of the replicated event graph.
type EventConfig struct {
	// QueueSize bounds the queue of this master's own events waiting for a
	// commit; emitting into a full queue drops the event (counted, and
	// reported later as an events_dropped event).
	QueueSize int
	// BatchSize is the most events put in one Raft entry.
	BatchSize int
	// BatchWait is how long a batch that is not full waits for more events.
	BatchWait time.Duration
	// Retention prunes events older than this; 0 keeps them regardless of age.
	Retention time.Duration
	// MaxEvents keeps at most this many events (the oldest go first); 0 = no limit.
	MaxEvents uint64
	// PruneEvery is how often the leader issues a prune command.
	PruneEvery time.Duration
	// DropReportEvery is how often a master that dropped events emits an
	// events_dropped event saying how many.
	DropReportEvery time.Duration
	// FlushTimeout bounds how long shutdown waits for queued events to commit.
	FlushTimeout time.Duration
}

// DefaultEventConfig: a 65536-event queue, batches of up to 512 events or
// 2 ms, 7 days / 5,000,000 events of retention checked every minute.
func DefaultEventConfig() EventConfig {
	return EventConfig{
		QueueSize:       65536,
		BatchSize:       512,
		BatchWait:       2 * time.Millisecond,
		Retention:       168 * time.Hour,
		MaxEvents:       5_000_000,
		PruneEvery:      time.Minute,
		DropReportEvery: 10 * time.Second,
		FlushTimeout:    2 * time.Second,
	}
}

// eventPipeline is the master's event batcher and its drop reporter. It is
// created on first use (an event emitted before Start is queued, not lost)
// and runs between startEventPipeline and stopEventPipeline.
type eventPipeline struct {
	initOnce sync.Once
	batcher  *EventBatcher
	metrics  *eventMetrics
	logger   hclog.Logger

	stopOnce sync.Once
	stopCh   chan struct{}
	wg       sync.WaitGroup

	reportMu sync.Mutex
	reported uint64 // drops already reported in an events_dropped event
}

// pipeline returns the master's pipeline, creating the batcher on
// first use.
func (m *Master) pipeline() *eventPipeline {
	p := &m.events
	p.initOnce.Do(func() {
		cfg := m.config.Events
		p.logger = m.logger.Named("events")
		p.metrics = newEventMetrics(m.config.Metrics)
		p.stopCh = make(chan struct{})
		p.batcher = NewEventBatcher(EventBatcherConfig{
			QueueSize:     cfg.QueueSize,
			BatchSize:     cfg.BatchSize,
			BatchWait:     cfg.BatchWait,
			CommitTimeout: m.config.ApplyTimeout,
			Logger:        p.logger.Named("batcher"),
			Metrics:       p.metrics,
		}, m.commitEventsLocal, m.commitEvents)
	})
	return p
}

// emit queues one of this master's events for the next Raft entry. It never
// blocks: a full queue drops the event and counts it. Missing id, timestamp
// or source are filled in; an event that could never be stored (no type,
// no entity) is dropped with a warning rather than poisoning a batch.
func (m *Master) emit(e *rpc.Event) {
	if e == nil {
		return
	}
	p := m.pipeline()
	if e.Source == "" {
		e.Source = m.ID()
	}
	if e.Id == "" {
		e.Id = rpc.NewEventID(e.Source)
	}
	if e.Timestamp == 0 {
		e.Timestamp = time.Now().UnixMicro()
	}
	e.Seq = 0
	if err := validateEvent(e); err != nil {
		p.logger.Warn("dropping invalid event", "type", e.Type.Name(), "entity_id", truncate(e.EntityId, 64), "error", err)
		p.batcher.drop(1)
		return
	}
	p.batcher.Emit(e)
}

// startEventPipeline starts the batcher's flusher and the drop reporter.
func (m *Master) startEventPipeline() {
	p := m.pipeline()
	p.batcher.Start()
	every := m.config.Events.DropReportEvery
	if every <= 0 {
		every = DefaultEventConfig().DropReportEvery
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		ticker := time.NewTicker(every)
		defer ticker.Stop()
		for {
			select {
			case <-p.stopCh:
				return
			case <-ticker.C:
				m.reportDrops()
			}
		}
	}()
}

// stopEventPipeline reports drops one last time and commits what is queued,
// waiting at most Events.FlushTimeout. Call it before Raft shuts down.
func (m *Master) stopEventPipeline() {
	p := m.pipeline()
	p.stopOnce.Do(func() {
		close(p.stopCh)
		p.wg.Wait()
		m.reportDrops()
		timeout := m.config.Events.FlushTimeout
		if timeout <= 0 {
			timeout = DefaultEventConfig().FlushTimeout
		}
		p.batcher.Stop(timeout)
		p.logger.Debug("event pipeline stopped", "counters", p.batcher.String())
	})
}

// reportDrops emits an events_dropped event when events were dropped since
// the last report. Every master reports its own drops (entity = its id).
func (m *Master) reportDrops() {
	p := m.pipeline()
	p.reportMu.Lock()
	defer p.reportMu.Unlock()
	dropped := p.batcher.Dropped()
	if dropped <= p.reported {
		return
	}
	n := dropped - p.reported
	p.logger.Warn("events were dropped", "count", n, "total", dropped)
	e := rpc.NewEvent(m.ID(), rpc.EventType_EVENTS_DROPPED, m.ID(), map[string]string{
		"count":  strconv.FormatUint(n, 10),
		"total":  strconv.FormatUint(dropped, 10),
		"master": m.ID(),
	})
	if p.batcher.Emit(e) {
		p.reported = dropped
	}
}

// commitEventsLocal commits one batch as one Raft entry. Leader only: on a
// follower it fails at once with ErrNotLeader, without any network call.
func (m *Master) commitEventsLocal(_ context.Context, batch []*rpc.Event) (*rpc.EmitEventsResponse, error) {
	out, err := m.raftApply(fsm.AppendEventsType, &rpc.EmitEventsRequest{Events: batch, Source: m.ID()})
	if err != nil {
		return nil, err
	}
	resp, ok := out.(*rpc.EmitEventsResponse)
	if !ok {
		return nil, fmt.Errorf("append events: unexpected fsm response %T", out)
	}
	return resp, nil
}

// commitEvents commits one batch: through Raft on the leader, through the
// leader's EmitEvents on a follower (marked forwarded, so it is never
// forwarded again). The response is the Raft entry's result.
func (m *Master) commitEvents(ctx context.Context, batch []*rpc.Event) (*rpc.EmitEventsResponse, error) {
	if m.isLeader() {
		return m.commitEventsLocal(ctx, batch)
	}
	req := &rpc.EmitEventsRequest{Events: batch, Source: m.ID()}
	client, err := m.leaderClient(ctx)
	if err != nil {
		return nil, err
	}
	ctx = metadata.AppendToOutgoingContext(ctx, rpc.ForwardedMetadataKey, m.ID())
	return client.EmitEvents(ctx, req)
}
