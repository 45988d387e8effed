package events

import "github.com/gridctl/grid/rpc"

// flush commits one batch once. Submitters get the result; on failure the
// batch's own events go to the resender. With a Start func the commit is
// pipelined: flush returns once the entry is started (waiting for a free
// slot first), and a goroutine finishes it.
func (b *EventBatcher) flush(own []*rpc.Event, reqs []*submitRequest) {
	batch := own
	if len(reqs) > 0 {
		batch = make([]*rpc.Event, 0, len(own)+countEvents(reqs))
		batch = append(batch, own...)
		for _, r := range reqs {
			batch = append(batch, r.events...)
		}
	}
	if b.cfg.Start == nil {
		resp, err := b.commitOnce(b.commit, batch)
		b.finish(own, reqs, batch, resp, err)
		return
	}
	b.slots <- struct{}{}
	b.cfg.Metrics.observeBatch(len(batch))
	wait, err := b.cfg.Start(batch)
	if err != nil {
		<-b.slots
		b.finish(own, reqs, batch, nil, err)
		return
	}
	b.inflight.Add(1)
	go func() {
		defer b.inflight.Done()
		resp, err := wait()
		if err == nil && resp == nil {
			resp = &rpc.EmitEventsResponse{}
		}
		<-b.slots
		b.finish(own, reqs, batch, resp, err)
	}()
}

// finish hands a batch's commit result to its submitters and, on failure,
// its own events to the resender.
func (b *EventBatcher) finish(own []*rpc.Event, reqs []*submitRequest, batch []*rpc.Event, resp *rpc.EmitEventsResponse, err error) {
	for i, r := range reqs {
		r.done <- submitResult{resp: requestResponse(resp, err, reqs[i]), err: err}
	}
	if err == nil {
		b.acknowledged(len(batch))
		return
	}
	if rejected(err) {
		b.logger.Error("event batch rejected, dropping its own events", "events", len(own), "error", err)
		b.drop(len(own))
		return
	}
	for i, e := range own {
		select {
		case b.retries <- e:
		default:
			b.logger.Warn("event retry queue full, dropping events", "events", len(own)-i)
			b.drop(len(own) - i)
			return
		}
	}
}
