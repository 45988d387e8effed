package test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/harness"
)

// largeEvents is how many events TestMillionEvents stores.
const largeEvents = 1_000_000

// rssMB is a process's resident set in MiB, read from /proc (0 if unknown).
func rssMB(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if f := bytes.Fields(line); len(f) >= 2 && string(f[0]) == "VmRSS:" {
			kb, _ := strconv.Atoi(string(f[1]))
			return kb / 1024
		}
	}
	return 0
}

// emitLarge stores n events through the leader in batches of 5000 from a
// few concurrent callers; entities are large-0000 .. large-0999.
func emitLarge(t *testing.T, client rpc.GridMasterClient, n int) {
	t.Helper()
	const batchSize, callers = 5000, 4
	types := []rpc.EventType{rpc.EventType_NODE_CRASHED, rpc.EventType_NODE_RESTARTED, rpc.EventType_SPAWN_FAILED, rpc.EventType_AGENT_DEGRADED}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				start := int(next.Add(batchSize)) - batchSize
				if start >= n {
					return
				}
				batch := make([]*rpc.Event, 0, batchSize)
				for i := start; i < min(start+batchSize, n); i++ {
					batch = append(batch, rpc.NewEvent("test-large", types[i%len(types)], fmt.Sprintf("large-%04d", i%1000),
						map[string]string{"i": strconv.Itoa(i)}))
				}
				// A batch is retried as is (same ids) until acknowledged.
				var err error
				for try := 0; try < 5; try++ {
					ctx, cancel := harness.Ctx(60 * time.Second)
					_, err = client.EmitEvents(ctx, &rpc.EmitEventsRequest{Events: batch, Source: "test-large"})
					cancel()
					if err == nil {
						break
					}
				}
				if err != nil {
					errs <- fmt.Errorf("batch at %d: %w", start, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// Issue #4: "With 1,000,000 stored events a master restarts and serves
// queries; snapshot and restore work at that size."
func TestMillionEvents(t *testing.T) {
	if os.Getenv("GRID_LARGE") != "1" {
		t.Skip("stores 1,000,000 events and takes minutes: run with GRID_LARGE=1")
	}
	c := harness.NewCluster(t, harness.Options{MasterArgs: []string{"--degraded-after", "10m", "--offline-after", "20m"}})
	clients := fastClients(t, c)
	leader := c.WaitLeader(30 * time.Second)

	began := time.Now()
	emitLarge(t, clients[leader.ID], largeEvents)
	took := time.Since(began)
	t.Logf("stored %d events in %s (%.0f events/s)", largeEvents, took.Round(time.Millisecond), float64(largeEvents)/took.Seconds())
	h := c.WaitSameState(5 * time.Minute)
	if h.Events < largeEvents {
		t.Fatalf("masters hold %d events, %d were acknowledged", h.Events, largeEvents)
	}
	for _, m := range c.Masters {
		t.Logf("%s: rss %d MiB with %d events", m.ID, rssMB(m.PID()), h.Events)
	}

	// Restart a follower: it comes back with its million events and serves queries.
	f := c.Followers(leader)[0]
	if err := f.Kill(); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	if err := f.Start(); err != nil {
		t.Fatal(err)
	}
	harness.WaitFor(t, 5*time.Minute, f.ID+" serving a query by entity after its restart", func() (bool, string) {
		ctx, cancel := harness.Ctx(10 * time.Second)
		defer cancel()
		l, err := clients[f.ID].QueryEvents(harness.Stale(ctx), &rpc.EventFilter{EntityIds: []string{"large-0007"}, Limit: 100, Stale: true})
		if err != nil {
			return false, err.Error()
		}
		if len(l.Events) != 100 {
			return false, fmt.Sprintf("%d events of large-0007", len(l.Events))
		}
		for _, e := range l.Events {
			if e.EntityId != "large-0007" {
				return false, "query by entity returned " + e.EntityId
			}
		}
		return true, ""
	})
	t.Logf("%s restarted and served a query by entity %s after start (rss %d MiB)", f.ID, time.Since(restarted).Round(time.Millisecond), rssMB(f.PID()))
	ctx, cancel := harness.Ctx(30 * time.Second)
	q0 := time.Now()
	l, err := clients[f.ID].QueryEvents(harness.Stale(ctx), &rpc.EventFilter{
		Types: []rpc.EventType{rpc.EventType_SPAWN_FAILED}, Since: began.UnixMicro(), Limit: 1000, Stale: true,
	})
	cancel()
	if err != nil || len(l.Events) != 1000 {
		t.Fatalf("query by type and time on %s: %d events, %v", f.ID, len(l.GetEvents()), err)
	}
	t.Logf("query by type and time (1000 results) on %s took %s", f.ID, time.Since(q0).Round(time.Microsecond))
	c.WaitLeader(30 * time.Second)
	saved := c.WaitSameState(5 * time.Minute)

	// Snapshot at this size, change the state, restore, compare.
	file := filepath.Join(c.Dir, "large.snap")
	s0 := time.Now()
	grid(t, c, "operator", "snapshot", "save", "--timeout", "20m", file)
	st, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("snapshot save: %d MiB in %s", st.Size()>>20, time.Since(s0).Round(time.Millisecond))
	if again := c.WaitSameState(time.Minute); again.EventsHash != saved.EventsHash || again.RegistryHash != saved.RegistryHash {
		t.Fatalf("state moved while the snapshot was taken (%d -> %d events); the comparison below would be void", saved.Events, again.Events)
	}
	emitLarge(t, clients[c.WaitLeader(30*time.Second).ID], 10_000)
	changed := c.WaitSameState(time.Minute)
	if changed.EventsHash == saved.EventsHash {
		t.Fatal("emitting 10000 more events did not change the events hash")
	}
	r0 := time.Now()
	grid(t, c, "operator", "snapshot", "restore", "--timeout", "20m", file)
	t.Logf("snapshot restore: %s", time.Since(r0).Round(time.Millisecond))
	harness.WaitFor(t, 10*time.Minute, "every master back to the snapshot's state", func() (bool, string) {
		hs, err := c.StateHashes()
		if err != nil {
			return false, err.Error()
		}
		for id, h := range hs {
			if h.EventsHash != saved.EventsHash || h.RegistryHash != saved.RegistryHash || h.Events != saved.Events {
				return false, fmt.Sprintf("%s holds %d events (%s), the snapshot %d (%s)", id, h.Events, h.EventsHash, saved.Events, saved.EventsHash)
			}
		}
		return len(hs) == len(c.Masters), fmt.Sprintf("%d masters answer", len(hs))
	})
	// And the restored masters still answer queries at that size.
	for _, m := range c.Masters {
		ctx, cancel := harness.Ctx(30 * time.Second)
		l, err := clients[m.ID].QueryEvents(harness.Stale(ctx), &rpc.EventFilter{EntityIds: []string{"large-0999"}, Limit: 10, Stale: true})
		cancel()
		if err != nil || len(l.Events) != 10 {
			t.Fatalf("%s after restore: %d events of large-0999, %v", m.ID, len(l.GetEvents()), err)
		}
	}
	t.Logf("total: %s", time.Since(began).Round(time.Second))
}
