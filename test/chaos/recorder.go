package chaos

import (
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// Outcome is what a client learned from one write.
type Outcome int

const (
	// Acked: the server answered success; the write must be durable.
	Acked Outcome = iota
	// Ambiguous: an error or a timeout; the write may or may not have happened.
	Ambiguous
)

// Recorder keeps every acknowledged write across the run and the operation
// history of the current round. All methods are safe for concurrent use.
type Recorder struct {
	mu    sync.Mutex
	start time.Time

	// registrations: agent id -> outcome of its registration; unregistered:
	// agent id -> outcome of its removal (ids are never re-registered).
	registered   map[string]Outcome
	unregistered map[string]Outcome
	// events of the current round: id -> entity.
	eventsAcked, eventsAmbiguous map[string]string
	producers                    []string
	// storage nodes: node id -> agent; stops: node id -> outcome.
	spawned  map[string]string
	spawnAmb map[string]string
	stopped  map[string]Outcome

	ops        []porcupine.Operation
	counts     map[string]int
	violations []string
}

// NewRecorder starts an empty record.
func NewRecorder() *Recorder {
	return &Recorder{
		start: time.Now(), registered: map[string]Outcome{}, unregistered: map[string]Outcome{},
		eventsAcked: map[string]string{}, eventsAmbiguous: map[string]string{},
		spawned: map[string]string{}, spawnAmb: map[string]string{}, stopped: map[string]Outcome{},
		counts: map[string]int{},
	}
}

// Now is the history clock (nanoseconds since the recorder started).
func (r *Recorder) Now() int64 { return int64(time.Since(r.start)) }

// Count adds one to a named counter (e.g. "heartbeat ok").
func (r *Recorder) Count(name string) {
	r.mu.Lock()
	r.counts[name]++
	r.mu.Unlock()
}

// Counts returns and resets the counters.
func (r *Recorder) Counts() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.counts
	r.counts = map[string]int{}
	return out
}

// Violation records a problem a client saw while the round ran.
func (r *Recorder) Violation(v string) {
	r.mu.Lock()
	r.violations = append(r.violations, v)
	r.mu.Unlock()
}

// Violations returns and clears the clients' violations.
func (r *Recorder) Violations() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.violations
	r.violations = nil
	return capList(out)
}

// IsAcked reports whether id's registration was acknowledged and no removal tried.
func (r *Recorder) IsAcked(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	o, ok := r.registered[id]
	_, gone := r.unregistered[id]
	return ok && o == Acked && !gone
}

// Registered records a registration's outcome (Acked wins over Ambiguous).
func (r *Recorder) Registered(id string, o Outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if prev, ok := r.registered[id]; !ok || o < prev {
		r.registered[id] = o
	}
}

// Unregistered records an unregistration's outcome.
func (r *Recorder) Unregistered(id string, o Outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if prev, ok := r.unregistered[id]; !ok || o < prev {
		r.unregistered[id] = o
	}
}

// MustBePresent lists agent ids whose registration was acknowledged and
// that nobody tried to unregister; MustBeAbsent those whose removal was
// acknowledged.
func (r *Recorder) MustBePresent() (present, absent []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, o := range r.registered {
		if _, gone := r.unregistered[id]; o == Acked && !gone {
			present = append(present, id)
		}
	}
	for id, o := range r.unregistered {
		if o == Acked {
			absent = append(absent, id)
		}
	}
	return present, absent
}

// Event records an emitted event's outcome.
func (r *Recorder) Event(id, entity string, o Outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if o == Acked {
		delete(r.eventsAmbiguous, id)
		r.eventsAcked[id] = entity
	} else if _, ok := r.eventsAcked[id]; !ok {
		r.eventsAmbiguous[id] = entity
	}
}

// Producer records an event producer's entity id.
func (r *Recorder) Producer(entity string) {
	r.mu.Lock()
	r.producers = append(r.producers, entity)
	r.mu.Unlock()
}

// Events returns this round's producers and events.
func (r *Recorder) Events() (producers []string, acked, ambiguous map[string]string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	acked, ambiguous = map[string]string{}, map[string]string{}
	for k, v := range r.eventsAcked {
		acked[k] = v
	}
	for k, v := range r.eventsAmbiguous {
		ambiguous[k] = v
	}
	return append([]string(nil), r.producers...), acked, ambiguous
}

// Spawned records a spawn's outcome.
func (r *Recorder) Spawned(node, agent string, o Outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if o == Acked {
		delete(r.spawnAmb, node)
		r.spawned[node] = agent
	} else if _, ok := r.spawned[node]; !ok {
		r.spawnAmb[node] = agent
	}
}

// Stopped records a stop's outcome.
func (r *Recorder) Stopped(node string, o Outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if prev, ok := r.stopped[node]; !ok || o < prev {
		r.stopped[node] = o
	}
}

// Nodes returns acknowledged spawns not asked to stop, and acknowledged stops.
func (r *Recorder) Nodes() (running map[string]string, stopped []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	running = map[string]string{}
	for n, a := range r.spawned {
		if _, ok := r.stopped[n]; !ok {
			running[n] = a
		}
	}
	for n, o := range r.stopped {
		if o == Acked {
			stopped = append(stopped, n)
		}
	}
	return running, stopped
}

// AllSpawned lists every node id a spawn was tried for (acked or not).
func (r *Recorder) AllSpawned() map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]string{}
	for n, a := range r.spawnAmb {
		out[n] = a
	}
	for n, a := range r.spawned {
		out[n] = a
	}
	return out
}

// Op records one linearizability operation.
func (r *Recorder) Op(op porcupine.Operation) {
	r.mu.Lock()
	r.ops = append(r.ops, op)
	r.mu.Unlock()
}

// NewRound clears the per-round history (events and operations).
func (r *Recorder) NewRound() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.eventsAcked, r.eventsAmbiguous, r.producers = map[string]string{}, map[string]string{}, nil
	r.ops = nil
}

// Ops returns the round's operation history.
func (r *Recorder) Ops() []porcupine.Operation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]porcupine.Operation(nil), r.ops...)
}
