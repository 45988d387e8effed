package events

import (
	"strconv"
	"sync"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/hashicorp/go-hclog"
)

// Pipeline is one master's event pipeline: its batcher, its drop reporter,
// retention on the leader and the event RPC handlers. Build it with New at
// start-up; Emit may be called before Start (events wait in the queue).
type Pipeline struct {
	cfg     Config
	deps    Deps
	logger  hclog.Logger
	batcher *EventBatcher
	metrics *eventMetrics

	startOnce sync.Once
	stopOnce  sync.Once
	stopCh    chan struct{} // closed by Stop: the reporter and streams end
	wg        sync.WaitGroup

	reportMu sync.Mutex
	reported uint64 // drops already reported in an events_dropped event

	hooks webhookStates // the leader's delivery view per webhook
}

// New builds a master's pipeline from cfg (zero tunables take their
// defaults) and the parts it depends on. It starts nothing.
func New(cfg Config, deps Deps) (*Pipeline, error) {
	if err := deps.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	p := &Pipeline{
		cfg:     cfg,
		deps:    deps,
		logger:  cfg.Logger,
		metrics: newEventMetrics(cfg.Metrics),
		stopCh:  make(chan struct{}),
	}
	bc := EventBatcherConfig{
		QueueSize:     cfg.QueueSize,
		BatchSize:     cfg.BatchSize,
		BatchWait:     cfg.BatchWait,
		CommitTimeout: cfg.CommitTimeout,
		Logger:        p.logger.Named("batcher"),
		Metrics:       p.metrics,
	}
	if _, ok := deps.Applier.(AsyncApplier); ok {
		bc.Start = p.startLocal // several entries in flight
	}
	p.batcher = NewEventBatcher(bc, p.commitLocal, p.resend)
	return p, nil
}

// Start starts the batcher's flusher and resender and the drop reporter,
// which run on every master until Stop. Calling it again does nothing.
func (p *Pipeline) Start() {
	p.startOnce.Do(func() {
		p.batcher.Start()
		p.wg.Go(p.runDropReporter)
	})
}

// Stop reports drops one last time and commits what is queued, waiting at
// most FlushTimeout; open streams end with ErrStopped. Call it before Raft
// shuts down. It is idempotent and safe without Start.
func (p *Pipeline) Stop() {
	p.stopOnce.Do(func() {
		close(p.stopCh)
		p.wg.Wait()
		p.reportDrops()
		p.batcher.Stop(p.cfg.FlushTimeout)
		p.logger.Debug("event pipeline stopped", "counters", p.batcher.String())
	})
}

// Emit queues one of this master's events for the next Raft entry. It never
// blocks: a full queue drops the event and counts it. Missing id, timestamp
// or source are filled in; an event that could never be stored (no type,
// no entity) is dropped with a warning rather than poisoning a batch.
func (p *Pipeline) Emit(e *rpc.Event) {
	if e == nil {
		return
	}
	if e.Source == "" {
		e.Source = p.cfg.MasterID
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

// Dropped is how many of this master's events were dropped so far.
func (p *Pipeline) Dropped() uint64 { return p.batcher.Dropped() }

// Committed is how many events this master saw acknowledged so far.
func (p *Pipeline) Committed() uint64 { return p.batcher.Committed() }

// runDropReporter emits an events_dropped event every DropReportEvery when
// events were dropped since the last report, until Stop.
func (p *Pipeline) runDropReporter() {
	ticker := time.NewTicker(p.cfg.DropReportEvery)
	defer ticker.Stop()
	for {
		select {
		case <-p.stopCh:
			return
		case <-ticker.C:
			p.reportDrops()
		}
	}
}

// reportDrops emits an events_dropped event when events were dropped since
// the last report. Every master reports its own drops (entity = its id).
func (p *Pipeline) reportDrops() {
	p.reportMu.Lock()
	defer p.reportMu.Unlock()
	dropped := p.batcher.Dropped()
	if dropped <= p.reported {
		return
	}
	n := dropped - p.reported
	p.logger.Warn("events were dropped", "count", n, "total", dropped)
	id := p.cfg.MasterID
	e := rpc.NewEvent(id, rpc.EventType_EVENTS_DROPPED, id, map[string]string{
		"count":  strconv.FormatUint(n, 10),
		"total":  strconv.FormatUint(dropped, 10),
		"master": id,
	})
	if p.batcher.Emit(e) {
		p.reported = dropped
	}
}
