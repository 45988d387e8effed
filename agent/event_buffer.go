package agent

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// EventBuffer keeps the agent's events in a bounded queue and delivers them
// in batches with EmitEvents to the current master, keeping each until a
// master acknowledges it. Event ids are made here (rpc.NewEvent), so a
// batch resent after a master change is deduplicated by the masters. When
// the queue is full the oldest events are dropped, counted, and reported
// with an events_dropped event.
type EventBuffer struct {
	pool      *MasterPool
	source    string
	maxQueue  int
	batchSize int
	logger    hclog.Logger

	mu        sync.Mutex
	queue     []*rpc.Event
	dropped   uint64 // total dropped
	unnoticed uint64 // dropped and not yet reported
	wake      chan struct{}
}

// NewEventBuffer builds a buffer sending as source (the agent id).
func NewEventBuffer(pool *MasterPool, source string, queueSize, batchSize int, logger hclog.Logger) *EventBuffer {
	return &EventBuffer{
		pool:      pool,
		source:    source,
		maxQueue:  max(queueSize, 1),
		batchSize: max(batchSize, 1),
		logger:    logger.Named("events"),
		wake:      make(chan struct{}, 1),
	}
}

// Emit queues e; it never blocks.
func (b *EventBuffer) Emit(e *rpc.Event) {
	b.mu.Lock()
	if len(b.queue) >= b.maxQueue {
		b.queue[0] = nil
		b.queue = b.queue[1:]
		b.dropped++
		b.unnoticed++
	}
	b.queue = append(b.queue, e)
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// Pending is the number of events not yet acknowledged.
func (b *EventBuffer) Pending() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queue)
}

// Dropped is the number of events dropped because the queue was full.
func (b *EventBuffer) Dropped() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.dropped
}

// Run delivers events until ctx ends.
func (b *EventBuffer) Run(ctx context.Context) {
	backoff := Backoff{Min: 100 * time.Millisecond, Max: 5 * time.Second}
	for {
		batch := b.nextBatch()
		if len(batch) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-b.wake:
				continue
			}
		}
		if err := b.send(ctx, batch); err != nil {
			if ctx.Err() != nil {
				return
			}
			if !waitCtx(ctx, backoff.Next()) {
				return
			}
			continue
		}
		backoff.Reset()
	}
}

// nextBatch returns the oldest events, after queueing an events_dropped
// report if drops happened since the last one.
func (b *EventBuffer) nextBatch() []*rpc.Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.unnoticed > 0 {
		e := rpc.NewEvent(b.source, rpc.EventType_EVENTS_DROPPED, b.source, map[string]string{
			"agent_id": b.source,
			"dropped":  strconv.FormatUint(b.unnoticed, 10),
			"total":    strconv.FormatUint(b.dropped, 10),
		})
		b.unnoticed = 0
		b.queue = append(b.queue, e)
	}
	n := min(len(b.queue), b.batchSize)
	out := make([]*rpc.Event, n)
	copy(out, b.queue[:n])
	return out
}

// send delivers one batch and removes it from the queue once acknowledged.
func (b *EventBuffer) send(ctx context.Context, batch []*rpc.Event) error {
	addr, client, err := b.pool.Current()
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err = client.EmitEvents(cctx, &rpc.EmitEventsRequest{Events: batch, Source: b.source})
	if err != nil {
		switch status.Code(err) {
		case codes.InvalidArgument:
			// The master will never take this batch: do not retry it forever.
			b.logger.Error("master refused event batch; dropping it", "master", addr, "events", len(batch), "error", err)
		default:
			b.logger.Warn("could not deliver events; trying another master", "master", addr, "events", len(batch), "error", err)
			b.pool.Failed(addr)
			return err
		}
	}
	b.ack(batch)
	return nil
}

// ack removes the delivered events (by id: drops may have shifted the queue).
func (b *EventBuffer) ack(batch []*rpc.Event) {
	done := make(map[string]struct{}, len(batch))
	for _, e := range batch {
		done[e.Id] = struct{}{}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	kept := b.queue[:0]
	for _, e := range b.queue {
		if _, ok := done[e.Id]; !ok {
			kept = append(kept, e)
		}
	}
	clear(b.queue[len(kept):])
	b.queue = kept
}
