package bench

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/harness"
)

// spuriousFigure is the sum of the leader changes every leaderWatch saw
// (writeReport sums its values instead of taking their median).
const spuriousFigure = "spurious_leader_changes"

// leaderWatchEvery is how often a leaderWatch asks every live master.
const leaderWatchEvery = 50 * time.Millisecond

// leaderWatch counts leader changes in a cluster while a load runs with no
// faults injected: every leaderWatchEvery it asks each live master (Ready)
// who leads. A master that names itself leader reports its last log term;
// a new leader always appends an entry in its own term, so each election
// won shows up as a new term (or a new self-named leader) even when it is
// over between two polls.
type leaderWatch struct {
	name string
	c    *harness.Cluster
	stop chan struct{}
	done chan struct{}

	mu         sync.Mutex
	terms      map[uint64]bool // last log terms of self-named leaders
	leaders    []string        // self-named leaders, consecutive duplicates dropped
	leaderless int             // polls in which a live master knew no leader
}

// startLeaderWatch starts watching c; call stop when the load ends.
func startLeaderWatch(c *harness.Cluster, name string) *leaderWatch {
	w := &leaderWatch{name: name, c: c, stop: make(chan struct{}), done: make(chan struct{}), terms: map[uint64]bool{}}
	w.poll()
	go w.run()
	return w
}

func (w *leaderWatch) run() {
	defer close(w.done)
	t := time.NewTicker(leaderWatchEvery)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			w.poll()
		}
	}
}

// poll asks every live master once, in parallel.
func (w *leaderWatch) poll() {
	var wg sync.WaitGroup
	for _, m := range w.c.Live() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := harness.Ctx(time.Second)
			r, err := m.Client().Ready(ctx, &rpc.Empty{})
			cancel()
			if err != nil {
				return // a busy master answering late is not a leader change
			}
			w.mu.Lock()
			defer w.mu.Unlock()
			switch r.LeaderId {
			case "":
				w.leaderless++
			case m.ID:
				w.terms[r.LastLogTerm] = true
				if n := len(w.leaders); n == 0 || w.leaders[n-1] != m.ID {
					w.leaders = append(w.leaders, m.ID)
				}
			}
		}()
	}
	wg.Wait()
}

// changes is how many times leadership moved or was won again since start.
func (w *leaderWatch) changes() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return max(len(w.terms)-1, len(w.leaders)-1, 0)
}

// end stops the watch, records its count as one value of
// spurious_leader_changes and returns it.
func (w *leaderWatch) end(b testing.TB) int {
	close(w.stop)
	<-w.done
	w.poll()
	n := w.changes()
	w.mu.Lock()
	b.Logf("leader watch %s: %d leader changes (self-named leaders %v, terms %d), %d polls of a master that knew no leader",
		w.name, n, w.leaders, len(w.terms), w.leaderless)
	w.mu.Unlock()
	record(spuriousFigure, float64(n), "changes",
		fmt.Sprintf("leader changes during the loads with no fault injected (events_committed_per_s, heartbeat 10k, heartbeat max, the 1M event load): every live master's Ready (leader id, last log term of a self-named leader) polled every %s", leaderWatchEvery))
	return n
}
