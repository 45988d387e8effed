package sim

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// beatWorkers is how many goroutines send the paced heartbeats. A beat
// that falls due while all of them are busy gets a goroutine of its own,
// so no beat waits for a free worker (the simulated agents stay
// independent, as real ones are).
const beatWorkers = 256

// beatSchedule paces every simulated agent's heartbeats from one
// time-ordered queue: one timer for the whole fleet, a few hundred
// goroutines whose stacks have grown once, instead of a goroutine and a
// timer per agent (at 10,000 agents those goroutines' stack growth and
// scanning were a fifth of the simulator's CPU, on the cores the leader
// under test shares).
type beatSchedule struct {
	// end is when the window closes (unix ns, 0 until it opens): a beat due
	// at or after it is never sent, and its agent is done.
	end func() int64

	mu       sync.Mutex
	due      dueHeap
	pending  int // agents scheduled or beating
	wake     chan struct{}
	done     chan struct{} // closed when no agent is pending after the window opened
	doneOnce sync.Once
}

func newBeatSchedule(end func() int64) *beatSchedule {
	return &beatSchedule{end: end, wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// add schedules agent b's first beat; the agent is pending until finish.
func (b *beatSchedule) add(beat dueBeat) {
	b.mu.Lock()
	b.pending++
	b.pushLocked(beat)
	b.mu.Unlock()
}

// again schedules a pending agent's next beat.
func (b *beatSchedule) again(beat dueBeat) {
	b.mu.Lock()
	b.pushLocked(beat)
	b.mu.Unlock()
}

func (b *beatSchedule) pushLocked(beat dueBeat) {
	heap.Push(&b.due, beat)
	if b.due[0] == beat { // a new earliest beat: the dispatcher's timer must move
		b.poke()
	}
}

// poke wakes the dispatcher to look at the queue again (the window opened,
// a new earliest beat).
func (b *beatSchedule) poke() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// finish takes n pending agents off: they beat no more.
func (b *beatSchedule) finish(n int) {
	b.mu.Lock()
	b.pending -= n
	last := b.pending <= 0 && b.end() != 0
	b.mu.Unlock()
	if last {
		b.doneOnce.Do(func() { close(b.done) })
	}
}

// dispatch hands each due beat to work (or to spawn, which runs it on a
// goroutine of its own, when no worker is free) until ctx ends or, once the window opened, every
// agent is done.
func (b *beatSchedule) dispatch(ctx context.Context, work chan<- dueBeat, spawn func(dueBeat)) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var ready []dueBeat
	for {
		wait, after := time.Hour, 0
		b.mu.Lock()
		now := time.Now()
		if end := b.end(); end != 0 && len(b.due) > 0 && b.due[0].at.UnixNano() >= end {
			after, b.due = len(b.due), b.due[:0] // every queued beat falls after the window
		}
		for len(b.due) > 0 {
			if d := b.due[0].at.Sub(now); d > 0 {
				wait = d
				break
			}
			ready = append(ready, heap.Pop(&b.due).(dueBeat))
		}
		b.mu.Unlock()
		if after > 0 {
			b.finish(after)
		}
		for _, beat := range ready {
			select {
			case work <- beat:
			default:
				spawn(beat)
			}
		}
		if len(ready) > 0 {
			ready = ready[:0]
			continue // look again: beats may have fallen due meanwhile
		}
		if after > 0 {
			continue
		}
		if len(ready) > 0 {
			continue // look again: beats may have fallen due meanwhile
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-b.done:
			return
		case <-b.wake:
		case <-timer.C:
		}
	}
}

// dueBeat is one agent's next heartbeat and its interval.
type dueBeat struct {
	at       time.Time
	agent    int
	interval time.Duration
}

// dueHeap is a min-heap of beats by time (container/heap).
type dueHeap []dueBeat

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h dueHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *dueHeap) Push(x any)        { *h = append(*h, x.(dueBeat)) }
func (h *dueHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
