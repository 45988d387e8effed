package events

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/hashicorp/go-hclog"
)

// EventCommitFunc commits one batch of events as one Raft entry and returns
// that entry's result. Each func is called by one goroutine at a time.
// (Pipelined first commits go through EventStartFunc instead.)
type EventCommitFunc func(ctx context.Context, batch []*rpc.Event) (*rpc.EmitEventsResponse, error)

// EventStartFunc starts committing one batch as one Raft entry and returns
// once the entry's place in the log order is fixed; wait then returns the
// entry's result. With it the flusher keeps up to MaxInFlight entries in
// flight, committed in the order they were started.
type EventStartFunc func(batch []*rpc.Event) (wait func() (*rpc.EmitEventsResponse, error), err error)

// EventBatcherConfig tunes an EventBatcher.
type EventBatcherConfig struct {
	// QueueSize bounds the queue Emit writes to; an event emitted while it is
	// full is dropped and counted, never waited for.
	QueueSize int
	// BatchSize is the most events put in one commit (one Raft entry). A
	// submitted request larger than this is committed whole, alone.
	BatchSize int
	// BatchWait is how long the flusher waits for more events after the
	// first one before it commits a batch that is not full.
	BatchWait time.Duration
	// RetryMin is the first back-off after a failed commit of emitted events.
	RetryMin time.Duration
	// RetryMax caps the back-off between retries.
	RetryMax time.Duration
	// CommitTimeout bounds one commit attempt.
	CommitTimeout time.Duration
	// Start, when set, lets the flusher pipeline its commits (see
	// EventStartFunc) instead of waiting for each before the next; nil
	// commits one batch at a time with the commit func.
	Start EventStartFunc
	// MaxInFlight is the most batches Start keeps in flight at once.
	MaxInFlight int
	// Logger receives the batcher's logs; nil means no logs.
	Logger hclog.Logger
	// Metrics receives counters; nil means none.
	Metrics *eventMetrics
}

// DefaultEventBatcherConfig is the configuration a master uses unless told
// otherwise (see Config).
func DefaultEventBatcherConfig() EventBatcherConfig {
	return EventBatcherConfig{
		QueueSize:     65536,
		BatchSize:     512,
		BatchWait:     2 * time.Millisecond,
		RetryMin:      20 * time.Millisecond,
		RetryMax:      time.Second,
		CommitTimeout: 10 * time.Second,
		MaxInFlight:   4,
	}
}

// EventBatcher turns many events into few commits, in two stages.
//
// The flusher collects the master's own events (Emit: a bounded queue, never
// blocks, drops counted) and submitted events (Submit: the EmitEvents RPC on
// the leader, callers wait) into batches of up to BatchSize, and commits each
// batch once with commit (on the leader a Raft apply; elsewhere it fails at
// once). Submitters get that commit's result: acknowledged means committed,
// and on failure they resend (they keep their events until acknowledged).
//
// Own events whose first commit failed move to the resender, which batches
// them again and calls resend (the leader's Raft apply, or the leader's
// EmitEvents from a follower) with back-off until acknowledged. Event ids are
// made by the producer and deduplicated on apply, so a retry cannot
// duplicate. The resender has its own bounded queue (QueueSize; overflow is
// dropped and counted), and the flusher never waits on another master, so
// two masters forwarding to each other across a leader change cannot block
// one another.
type EventBatcher struct {
	cfg    EventBatcherConfig
	commit EventCommitFunc
	resend EventCommitFunc
	logger hclog.Logger

	queue   chan *rpc.Event
	submit  chan *submitRequest
	retries chan *rpc.Event // own events waiting for the resender

	startOnce   sync.Once
	stopOnce    sync.Once
	stopCh      chan struct{} // closed by Stop
	flusherDone chan struct{} // closed when the flusher has returned
	doneCh      chan struct{} // closed when both goroutines have returned
	stopped     atomic.Bool
	drainBy     atomic.Int64 // unix nanos: retries give up after this once stopping

	emitted   atomic.Uint64
	committed atomic.Uint64
	dropped   atomic.Uint64

	carry *submitRequest // a request that did not fit the previous batch (flusher only)

	slots    chan struct{}  // one token per pipelined batch in flight
	inflight sync.WaitGroup // pipelined batches not yet finished
}

// submitRequest is one caller's group-commit request.
type submitRequest struct {
	events []*rpc.Event
	done   chan submitResult // buffered (1)
}

type submitResult struct {
	resp *rpc.EmitEventsResponse
	err  error
}

// NewEventBatcher makes a batcher whose batches are committed once with
// commit, and whose own events that failed are retried with resend. Zero
// fields of cfg take their defaults. Call Start to begin flushing.
func NewEventBatcher(cfg EventBatcherConfig, commit, resend EventCommitFunc) *EventBatcher {
	def := DefaultEventBatcherConfig()
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = def.QueueSize
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = def.BatchSize
	}
	if cfg.BatchWait <= 0 {
		cfg.BatchWait = def.BatchWait
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = def.RetryMin
	}
	if cfg.RetryMax < cfg.RetryMin {
		cfg.RetryMax = max(def.RetryMax, cfg.RetryMin)
	}
	if cfg.CommitTimeout <= 0 {
		cfg.CommitTimeout = def.CommitTimeout
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = def.MaxInFlight
	}
	logger := cfg.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	return &EventBatcher{
		cfg:         cfg,
		commit:      commit,
		resend:      resend,
		logger:      logger,
		queue:       make(chan *rpc.Event, cfg.QueueSize),
		submit:      make(chan *submitRequest),
		retries:     make(chan *rpc.Event, cfg.QueueSize),
		stopCh:      make(chan struct{}),
		flusherDone: make(chan struct{}),
		doneCh:      make(chan struct{}),
		slots:       make(chan struct{}, cfg.MaxInFlight),
	}
}

// Start starts the flusher and the resender. Calling it again does nothing.
func (b *EventBatcher) Start() {
	b.startOnce.Do(func() {
		go b.runFlusher()
		go b.runResender()
	})
}

// Emit queues e for the next commit. It never blocks: when the queue is full
// or the batcher is stopped, e is dropped, counted, and false is returned.
func (b *EventBatcher) Emit(e *rpc.Event) bool {
	if e == nil {
		return false
	}
	if b.stopped.Load() {
		b.drop(1)
		return false
	}
	select {
	case b.queue <- e:
		b.emitted.Add(1)
		b.cfg.Metrics.addEmitted(1)
		return true
	default:
		b.drop(1)
		return false
	}
}

// Submit adds events to the next commit and waits for that commit's result
// (group commit). It returns once the entry holding them is committed, with
// that entry's last_seq, or with the commit error. Canceling ctx stops the
// wait, not the commit.
func (b *EventBatcher) Submit(ctx context.Context, events []*rpc.Event) (*rpc.EmitEventsResponse, error) {
	if len(events) == 0 {
		return &rpc.EmitEventsResponse{}, nil
	}
	if b.stopped.Load() {
		return nil, ErrBatcherStopped
	}
	req := &submitRequest{events: events, done: make(chan submitResult, 1)}
	select {
	case b.submit <- req:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-b.stopCh:
		return nil, ErrBatcherStopped
	}
	b.emitted.Add(uint64(len(events)))
	b.cfg.Metrics.addEmitted(len(events))
	select {
	case r := <-req.done:
		return r.resp, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Stop stops accepting events, commits what is queued (retrying failures)
// for about timeout at most, then returns. Events still uncommitted are counted as
// dropped. Stop is idempotent; it returns at once if Start was never called.
func (b *EventBatcher) Stop(timeout time.Duration) {
	b.stopOnce.Do(func() {
		b.drainBy.Store(time.Now().Add(timeout).UnixNano())
		b.stopped.Store(true)
		close(b.stopCh)
	})
	b.startOnce.Do(func() { close(b.doneCh) }) // never started: nothing to wait for
	t := time.NewTimer(timeout + time.Second)
	defer t.Stop()
	select {
	case <-b.doneCh:
	case <-t.C:
		b.logger.Warn("event flusher did not stop in time", "counters", b.String())
	}
}

// Emitted is how many events were accepted by Emit and Submit.
func (b *EventBatcher) Emitted() uint64 { return b.emitted.Load() }

// Committed is how many events were in acknowledged commits.
func (b *EventBatcher) Committed() uint64 { return b.committed.Load() }

// Dropped is how many emitted events were dropped (queue full, stopped,
// rejected batch, or still pending when Stop gave up).
func (b *EventBatcher) Dropped() uint64 { return b.dropped.Load() }

// Queued is how many emitted events wait in the queue right now.
func (b *EventBatcher) Queued() int { return len(b.queue) }

func (b *EventBatcher) drop(n int) {
	if n <= 0 {
		return
	}
	b.dropped.Add(uint64(n))
	b.cfg.Metrics.addDropped(n)
}

// runFlusher collects batches and commits each once.
func (b *EventBatcher) runFlusher() {
	defer close(b.flusherDone)
	defer b.inflight.Wait() // (runs first) pipelined batches finish before the resender may stop
	for {
		own, reqs, ok := b.collect()
		if !ok {
			return
		}
		b.flush(own, reqs)
	}
}

// collect waits for the first event or request, then gathers more until the
// batch is full or BatchWait has passed. ok is false when the batcher is
// stopped and nothing is left to commit.
func (b *EventBatcher) collect() (own []*rpc.Event, reqs []*submitRequest, ok bool) {
	n := 0
	add := func(r *submitRequest) bool {
		if n > 0 && n+len(r.events) > b.cfg.BatchSize {
			b.carry = r
			return false
		}
		reqs = append(reqs, r)
		n += len(r.events)
		return true
	}
	if b.carry != nil {
		r := b.carry
		b.carry = nil
		add(r)
	}
	if n == 0 {
		select {
		case e := <-b.queue:
			own = append(own, e)
			n++
		case r := <-b.submit:
			add(r)
		case <-b.stopCh:
			// Stopping: commit whatever is still queued, then return.
			for n < b.cfg.BatchSize {
				select {
				case e := <-b.queue:
					own = append(own, e)
					n++
					continue
				default:
				}
				break
			}
			return own, nil, n > 0
		}
	}
	timer := time.NewTimer(b.cfg.BatchWait)
	defer timer.Stop()
	for n < b.cfg.BatchSize && b.carry == nil {
		// Take what is ready first, so a busy queue fills batches without
		// waiting on the timer.
		select {
		case e := <-b.queue:
			own = append(own, e)
			n++
			continue
		case r := <-b.submit:
			add(r)
			continue
		default:
		}
		select {
		case e := <-b.queue:
			own = append(own, e)
			n++
		case r := <-b.submit:
			add(r)
		case <-timer.C:
			return own, reqs, true
		case <-b.stopCh:
			return own, reqs, true
		}
	}
	return own, reqs, true
}

// String describes the batcher's counters for logs.
func (b *EventBatcher) String() string {
	return fmt.Sprintf("emitted=%d committed=%d dropped=%d queued=%d", b.Emitted(), b.Committed(), b.Dropped(), b.Queued())
}
