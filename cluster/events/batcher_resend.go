package events

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/gridctl/grid/rpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// runResender retries own events whose first commit failed, in batches,
// with back-off, until each batch is acknowledged or rejected. Once the
// flusher has stopped it drains what is left until the stop deadline.
func (b *EventBatcher) runResender() {
	defer close(b.doneCh)
	for {
		var batch []*rpc.Event
		select {
		case e := <-b.retries:
			batch = append(batch, e)
		case <-b.flusherDone:
			select {
			case e := <-b.retries:
				batch = append(batch, e)
			default:
				return // stopped and nothing left
			}
		}
	fill:
		for len(batch) < b.cfg.BatchSize {
			select {
			case e := <-b.retries:
				batch = append(batch, e)
			default:
				break fill
			}
		}
		b.retry(batch)
	}
}

// retry resends batch with back-off until it is acknowledged, rejected, or
// the stop deadline passes (then it and everything waiting are dropped).
func (b *EventBatcher) retry(batch []*rpc.Event) {
	backoff := b.cfg.RetryMin
	for attempt := 1; ; attempt++ {
		_, err := b.commitOnce(b.resend, batch)
		if err == nil {
			if attempt > 3 {
				b.logger.Info("event batch committed after retries", "events", len(batch), "attempts", attempt)
			}
			b.acknowledged(len(batch))
			return
		}
		if rejected(err) {
			b.logger.Error("event batch rejected, dropping it", "events", len(batch), "error", err)
			b.drop(len(batch))
			return
		}
		if b.stopped.Load() && time.Now().UnixNano() >= b.drainBy.Load() {
			left := len(batch) + b.drainQueue(b.retries)
			b.logger.Warn("shutting down with uncommitted events", "events", left, "error", err)
			b.drop(left)
			return
		}
		b.logger.Debug("event batch commit failed, will retry", "events", len(batch), "attempt", attempt, "backoff", backoff, "error", err)
		b.wait(backoff)
		backoff = min(backoff*2, b.cfg.RetryMax)
	}
}

// rejected reports whether err means the batch can never be committed.
func rejected(err error) bool {
	return errors.Is(err, ErrBatchRejected) || status.Code(err) == codes.InvalidArgument
}

func (b *EventBatcher) commitOnce(commit EventCommitFunc, batch []*rpc.Event) (*rpc.EmitEventsResponse, error) {
	timeout := b.cfg.CommitTimeout
	if b.stopped.Load() {
		timeout = min(timeout, max(time.Until(time.Unix(0, b.drainBy.Load())), 10*time.Millisecond))
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	b.cfg.Metrics.observeBatch(len(batch))
	resp, err := commit(ctx, batch)
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

func (b *EventBatcher) drainQueue(q chan *rpc.Event) int {
	n := 0
	for {
		select {
		case <-q:
			n++
		default:
			return n
		}
	}
}

// requestResponse is one caller's share of a group commit: accepted counts
// its events that the entry newly stored (the FSM reports their ids), so a
// resend is acknowledged with 0 however the entry was shared. last_seq is
// the entry's.
func requestResponse(resp *rpc.EmitEventsResponse, err error, req *submitRequest) *rpc.EmitEventsResponse {
	if err != nil || resp == nil {
		return nil
	}
	if resp.StoredIds == nil && resp.Accepted > 0 {
		// A commit path that does not report ids (tests' stand-ins): all new.
		return &rpc.EmitEventsResponse{Accepted: uint32(len(req.events)), LastSeq: resp.GetLastSeq()}
	}
	stored := make(map[string]struct{}, len(resp.StoredIds))
	for _, id := range resp.StoredIds {
		stored[id] = struct{}{}
	}
	accepted := 0
	for _, e := range req.events {
		if _, ok := stored[e.Id]; ok {
			accepted++
		}
	}
	return &rpc.EmitEventsResponse{Accepted: uint32(accepted), LastSeq: resp.GetLastSeq()}
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
