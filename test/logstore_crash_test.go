package test

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/harness"
	"github.com/gridctl/grid/test/waitfor"
)

// registryLoad registers agents through whichever master answers, from a
// few callers at once, until stopped; it remembers every acknowledged id.
type registryLoad struct {
	c     *harness.Cluster
	stop  chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	acked []string
	n     atomic.Int64
}

func startRegistryLoad(c *harness.Cluster, callers int) *registryLoad {
	l := &registryLoad{c: c, stop: make(chan struct{})}
	for w := range callers {
		l.wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				id := fmt.Sprintf("agent-load-%d-%d", w, i)
				for _, m := range c.Live() {
					ctx, cancel := harness.Ctx(2 * time.Second)
					_, err := m.Client().RegisterAgent(ctx, &rpc.AgentInfo{AgentId: id, AgentEndpoint: "127.0.0.1:1"})
					cancel()
					if err == nil {
						l.mu.Lock()
						l.acked = append(l.acked, id)
						l.mu.Unlock()
						l.n.Add(1)
						break
					}
				}
			}
		})
	}
	return l
}

// waitWrites waits until n more writes than now were acknowledged.
func (l *registryLoad) waitWrites(t *testing.T, n int64, what string) {
	t.Helper()
	want := l.n.Load() + n
	waitfor.Until(t, 60*time.Second, what, func() (bool, string) {
		got := l.n.Load()
		return got >= want, fmt.Sprintf("%d of %d writes acknowledged", got, want)
	})
}

func (l *registryLoad) halt() []string {
	close(l.stop)
	l.wg.Wait()
	return l.acked
}

// appendUnsent makes a leader whose followers are paused append entries
// that never reach them: one write at a time, each its own log append.
// Raft's pipeline puts at most three AppendEntries on the wire without an
// answer (the paused followers' sockets take them), so of four appends the
// last at least stays on the leader only. It reports false when the leader
// stepped down first (its lease ran out without the followers).
func appendUnsent(t *testing.T, leader *harness.Master, prefix string) bool {
	t.Helper()
	lastIndex := func() (uint64, error) {
		ctx, cancel := harness.Ctx(2 * time.Second)
		defer cancel()
		r, err := leader.Client().Ready(ctx, &rpc.Empty{})
		if err != nil {
			return 0, err
		}
		if r.LeaderId != leader.ID {
			return 0, fmt.Errorf("%s no longer leads", leader.ID)
		}
		return r.LastLogIndex, nil
	}
	for i := range 4 {
		before, err := lastIndex()
		if err != nil {
			t.Logf("append %d: %v", i, err)
			return false
		}
		go func() { // it never commits; its caller gives up
			ctx, cancel := harness.Ctx(2 * time.Second)
			defer cancel()
			_, _ = leader.Client().RegisterAgent(ctx, &rpc.AgentInfo{AgentId: fmt.Sprintf("%s-%d", prefix, i), AgentEndpoint: "127.0.0.1:1"})
		}()
		if _, ok := waitfor.Within(5*time.Second, func() (bool, string) {
			last, err := lastIndex()
			if err != nil {
				return false, err.Error()
			}
			return last > before, fmt.Sprintf("last log index %d", last)
		}); !ok {
			t.Logf("append %d on %s did not happen", i, leader.ID)
			return false
		}
	}
	return true
}

// logSize is the size of m's log file now.
func logSize(t *testing.T, m *harness.Master) int64 {
	t.Helper()
	st, err := os.Stat(m.Log)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// logSince is m's log from byte offset off on.
func logSince(t *testing.T, m *harness.Master, off int64) string {
	t.Helper()
	b, err := os.ReadFile(m.Log)
	if err != nil {
		t.Fatal(err)
	}
	return string(b[min(off, int64(len(b))):])
}

// requireAllRunning fails when a master exited (a log it cannot reopen
// makes raft panic at start).
func requireAllRunning(t *testing.T, c *harness.Cluster) {
	t.Helper()
	for _, m := range c.Masters {
		if !m.Running() {
			t.Fatalf("%s exited: %v\n%s", m.ID, m.ExitErr(), m.Tail(4096))
		}
	}
}

// A master SIGKILLed while it writes its raft-wal log under load starts
// again and catches up, however often it happens: a killed leader that
// comes back with an uncommitted suffix, drops it ("clearing log suffix")
// and is killed again, then every master
// at once (make chaos's restart-all-masters, where raft-wal v0.4.0 left a
// log that failed to reopen with "sealed segment has no index block").
// Every acknowledged write is on every master afterwards.
func TestWALMasterRestartsAfterSIGKILLUnderLoad(t *testing.T) {
	// The default profile's 390 ms lease leaves a leader with paused
	// followers time to append (appendUnsent).
	c := harness.NewCluster(t, harness.Options{RaftProfile: "default", MasterArgs: []string{"--raft-log-store", "wal"}})
	c.WaitLeader(30 * time.Second)
	load := startRegistryLoad(c, 8)
	defer func() {
		if load != nil {
			load.halt()
		}
	}()
	load.waitWrites(t, 50, "writes before the first kill")

	for round := 1; round <= 3; round++ {
		var leader *harness.Master
		var followers []*harness.Master
		for try := 1; ; try++ {
			leader = c.WaitLeader(30 * time.Second)
			followers = c.Followers(leader)
			// With its followers paused the leader appends entries it
			// cannot send; killed then, it comes back with a suffix the
			// next leader never had, and must drop it.
			for _, f := range followers {
				if err := f.Pause(); err != nil {
					t.Fatal(err)
				}
			}
			if appendUnsent(t, leader, fmt.Sprintf("agent-unsent-%d-%d", round, try)) {
				break
			}
			for _, f := range followers {
				if err := f.Resume(); err != nil {
					t.Fatal(err)
				}
			}
			if try == 5 {
				t.Fatalf("round %d: no leader appended 4 entries with its followers paused in %d tries", round, try)
			}
		}
		if err := leader.Kill(); err != nil {
			t.Fatal(err)
		}
		for _, f := range followers {
			if err := f.Resume(); err != nil {
				t.Fatal(err)
			}
		}
		load.waitWrites(t, 50, fmt.Sprintf("round %d: writes through the next leader", round))
		logFrom := logSize(t, leader)
		if err := leader.Start(); err != nil {
			t.Fatal(err)
		}
		load.waitWrites(t, 50, fmt.Sprintf("round %d: writes with %s back", round, leader.ID))
		waitfor.Until(t, 30*time.Second, leader.ID+" dropped its uncommitted suffix", func() (bool, string) {
			return strings.Contains(logSince(t, leader, logFrom), "clearing log suffix"), "no \"clearing log suffix\" in its log since the restart"
		})
		// Killed again after the truncation, it must reopen its log.
		if err := leader.Kill(); err != nil {
			t.Fatal(err)
		}
		if err := leader.Start(); err != nil {
			t.Fatal(err)
		}
		load.waitWrites(t, 50, fmt.Sprintf("round %d: writes after %s restarted again", round, leader.ID))
		c.WaitLeader(30 * time.Second)
		requireAllRunning(t, c)
	}

	for round := 1; round <= 2; round++ {
		for _, m := range c.Masters {
			if err := m.Kill(); err != nil {
				t.Fatal(err)
			}
		}
		for _, m := range c.Masters {
			if err := m.Start(); err != nil {
				t.Fatal(err)
			}
		}
		load.waitWrites(t, 50, fmt.Sprintf("restart-all round %d: writes after every master restarted", round))
		requireAllRunning(t, c)
	}

	acked := load.halt()
	load = nil
	c.WaitLeader(30 * time.Second)
	requireAllRunning(t, c)
	c.WaitSameState(60 * time.Second)
	for _, m := range c.Masters {
		ctx, cancel := harness.Ctx(10 * time.Second)
		list, err := m.Client().ListAgents(harness.Stale(ctx), &rpc.Empty{})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		have := map[string]bool{}
		for _, a := range list.Agents {
			have[a.AgentId] = true
		}
		for _, id := range acked {
			if !have[id] {
				t.Fatalf("%s lost acknowledged write %s", m.ID, id)
			}
		}
	}
	t.Logf("%d acknowledged writes on every master", len(acked))
}
