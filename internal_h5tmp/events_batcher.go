package cluster

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrBatcherStopped is returned by EventBatcher.Submit once the batcher has
// been stopped: nothing will commit the events any more.
var ErrBatcherStopped = errors.New("event batcher stopped")

// ErrBatchRejected marks a batch the commit path refused for good (invalid
// content): retrying it could never succeed, so it is dropped and counted.
var ErrBatchRejected = errors.New("event batch rejected")

// EventCommitFunc commits one batch of events as one Raft entry and returns
// that entry's result. It is called by one goroutine at a time.
type EventCommitFunc func(ctx context.Context, batch []*rpc.Event) (*rpc.EmitEventsResponse, error)

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
	// Logger receives the batcher's logs; nil means no logs.
	Logger hclog.Logger
	// Metrics receives counters; nil means none.
	Metrics *eventMetrics
}

// DefaultEventBatcherConfig is the configuration a master uses unless told
// otherwise (see EventConfig).
func DefaultEventBatcherConfig() EventBatcherConfig {
	return EventBatcherConfig{
		QueueSize:     65536,
		BatchSize:     512,
		BatchWait:     2 * time.Millisecond,
		RetryMin:      20 * time.Millisecond,
		RetryMax:      time.Second,
		CommitTimeout: 10 * time.Second,
	}
}

// EventBatcher turns many events into few commits. Emitted events (the
// master's own) go through a bounded queue: Emit never blocks, drops are
// counted, and a failed commit is kept and retried with back-off until it is
// acknowledged (event ids are made by the producer and deduplicated on apply,
// so a retry cannot duplicate). Submitted events (the EmitEvents RPC on the
// leader) join the next commit as a group and each caller waits for that
// commit's result; a failed commit is returned to them, since they keep their
// events until acknowledged and resend.
//
// While a failed batch is being retried nothing else is committed, so the
// events waiting for a commit are bounded by QueueSize + BatchSize.
type EventBatcher struct {
	cfg    EventBatcherConfig
	commit EventCommitFunc
	logger hclog.Logger

	queue  chan *rpc.Event
	submit chan *submitRequest

	startOnce sync.Once
	stopOnce  sync.Once
	stopCh    chan struct{} // closed by Stop
	doneCh    chan struct{} // closed when the flusher has returned
	stopped   atomic.Bool
	drainBy   atomic.Int64 // unix nanos: the flusher gives up retrying after this

	emitted   atomic.Uint64
	committed atomic.Uint64
	dropped   atomic.Uint64

	carry *submitRequest // a request that did not fit the previous batch
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

// NewEventBatcher makes a batcher committing through commit. Zero fields of
// cfg take their defaults. Call Start to begin flushing.
func NewEventBatcher(cfg EventBatcherConfig, commit EventCommitFunc) *EventBatcher {
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
	logger := cfg.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	return &EventBatcher{
		cfg:    cfg,
		commit: commit,
		logger: logger,
		queue:  make(chan *rpc.Event, cfg.QueueSize),
		submit: make(chan *submitRequest),
		stopCh: make(chan struct{}),
		doneCh: make(chan struct{}),
	}
}

// Start starts the flusher goroutine. Calling it again does nothing.
func (b *EventBatcher) Start() {
	b.startOnce.Do(func() { go b.run() })
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
// for at most timeout, then returns. Events still uncommitted are counted as
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

// run is the flusher: collect a batch, commit it, repeat.
func (b *EventBatcher) run() {
	defer close(b.doneCh)
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

// flush commits one batch. Submitted requests get the first attempt's
// result; the batcher's own events are retried until acknowledged, the
// batch is rejected for good, or the stop deadline passes.
func (b *EventBatcher) flush(own []*rpc.Event, reqs []*submitRequest) {
	batch := own
	if len(reqs) > 0 {
		batch = make([]*rpc.Event, 0, len(own)+countEvents(reqs))
		batch = append(batch, own...)
		for _, r := range reqs {
			batch = append(batch, r.events...)
		}
	}
	resp, err := b.commitOnce(batch)
	for i, r := range reqs {
		r.done <- submitResult{resp: requestResponse(resp, err, reqs, i, len(own)), err: err}
	}
	if err == nil {
		b.acknowledged(len(batch))
		return
	}
	if len(own) == 0 {
		return
	}
	backoff := b.cfg.RetryMin
	for attempt := 1; ; attempt++ {
		if errors.Is(err, ErrBatchRejected) || status.Code(err) == codes.InvalidArgument {
			b.logger.Error("event batch rejected, dropping it", "events", len(own), "error", err)
			b.drop(len(own))
			return
		}
		if b.stopped.Load() && time.Now().UnixNano() >= b.drainBy.Load() {
			b.logger.Warn("shutting down with uncommitted events", "events", len(own)+len(b.queue), "error", err)
			b.drop(len(own) + b.drainQueue())
			return
		}
		b.logger.Debug("event batch commit failed, will retry", "events", len(own), "attempt", attempt, "backoff", backoff, "error", err)
		b.wait(backoff)
		backoff = min(backoff*2, b.cfg.RetryMax)
		if _, err = b.commitOnce(own); err == nil {
			if attempt >= 3 {
				b.logger.Info("event batch committed after retries", "events", len(own), "attempts", attempt+1)
			}
			b.acknowledged(len(own))
			return
		}
	}
}

func (b *EventBatcher) commitOnce(batch []*rpc.Event) (*rpc.EmitEventsResponse, error) {
	timeout := b.cfg.CommitTimeout
	if b.stopped.Load() {
		timeout = min(timeout, max(time.Until(time.Unix(0, b.drainBy.Load())), 10*time.Millisecond))
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	b.cfg.Metrics.observeBatch(len(batch))
	resp, err := b.commit(ctx, batch)
	if err == nil && resp == nil {
		resp = &rpc.EmitEventsResponse{}
	}
	return resp, err
}

func (b *EventBatcher) acknowledged(n int) {
	b.committed.Add(uint64(n))
	b.cfg.Metrics.addCommitted(n)
}

// wait sleeps about d; once the batcher is stopping it waits no longer
// than the drain deadline.
func (b *EventBatcher) wait(d time.Duration) {
	t := time.NewTimer(jitter(d))
	defer t.Stop()
	select {
	case <-t.C:
		return
	case <-b.stopCh:
	}
	left := time.Until(time.Unix(0, b.drainBy.Load()))
	if left <= 0 {
		return
	}
	deadline := time.NewTimer(left)
	defer deadline.Stop()
	select {
	case <-t.C:
	case <-deadline.C:
	}
}

func (b *EventBatcher) drainQueue() int {
	n := 0
	for {
		select {
		case <-b.queue:
			n++
		default:
			return n
		}
	}
}

// requestResponse is caller i's share of a group commit. last_seq is the
// entry's. accepted is exact when the entry held only this request; when it
// joined several and held duplicates, the duplicates are attributed to the
// earliest events of the entry (own events first, then requests in order).
func requestResponse(resp *rpc.EmitEventsResponse, err error, reqs []*submitRequest, i, own int) *rpc.EmitEventsResponse {
	if err != nil || resp == nil {
		return nil
	}
	total := own + countEvents(reqs)
	dups := total - int(resp.GetAccepted())
	before := own
	for j := range i {
		before += len(reqs[j].events)
	}
	mine := len(reqs[i].events)
	dupMine := min(max(dups-before, 0), mine)
	return &rpc.EmitEventsResponse{Accepted: uint32(mine - dupMine), LastSeq: resp.GetLastSeq()}
}

func countEvents(reqs []*submitRequest) int {
	n := 0
	for _, r := range reqs {
		n += len(r.events)
	}
	return n
}

// jitter spreads d by ±20% so that masters retrying after a leader change do
// not retry in lockstep.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return d
	}
	spread := int64(d) / 5
	if spread <= 0 {
		return d
	}
	return d - time.Duration(spread) + time.Duration(rand.Int64N(2*spread+1))
}

// String describes the batcher's counters for logs.
func (b *EventBatcher) String() string {
	return fmt.Sprintf("emitted=%d committed=%d dropped=%d queued=%d", b.Emitted(), b.Committed(), b.Dropped(), b.Queued())
}
