package bench

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/harness"
)

// Shape of the stored history for the query figures.
const (
	queryEntities  = 1000 // events spread evenly over this many entities
	loadBatch      = 5000 // events per EmitEvents call
	loadProducers  = 4
	queriesPerKind = 1000
	queryWarmup    = 200
	// loadBudget caps the load so `make bench` stays within its 15 minutes
	// on a busy machine; the figures then say how many events were stored.
	loadBudget = 6 * time.Minute
)

var queryTypes = []rpc.EventType{
	rpc.EventType_NODE_CRASHED, rpc.EventType_NODE_RESTARTED, rpc.EventType_SPAWN_SUCCEEDED,
	rpc.EventType_STOP_SUCCEEDED, rpc.EventType_AGENT_DEGRADED,
}

// storedEvents is how many events the query figures load: 1,000,000, or
// $GRID_BENCH_EVENTS for a quicker look.
func storedEvents(b *testing.B) int {
	if s := os.Getenv("GRID_BENCH_EVENTS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < loadBatch {
			b.Fatalf("GRID_BENCH_EVENTS=%q: want a number >= %d", s, loadBatch)
		}
		return n
	}
	return 1_000_000
}

// benchEvent is the i-th of n loaded events: entity i%queryEntities, type
// cycling, timestamps spread evenly over the hour before base.
func benchEvent(i, n int, base time.Time) *rpc.Event {
	ts := base.Add(-time.Hour).Add(time.Duration(i) * time.Hour / time.Duration(n))
	return &rpc.Event{
		Id:        fmt.Sprintf("bench-q-%d", i),
		Type:      queryTypes[(i/queryEntities)%len(queryTypes)],
		EntityId:  fmt.Sprintf("node-bench-%04d", i%queryEntities),
		Timestamp: ts.UnixMicro(),
		Details:   map[string]string{"restart_count": strconv.Itoa(i % 4), "exit_code": "137"},
		Source:    "bench",
	}
}

// loadEvents sends n events to the leader in batches from loadProducers
// callers, for at most loadBudget, and returns how many it stored and the
// committed rate.
func loadEvents(b *testing.B, c *harness.Cluster, leader *harness.Master, n int, base time.Time) (int, float64) {
	var next, stored atomic.Int64
	stop := time.Now().Add(loadBudget)
	var wg sync.WaitGroup
	errs := make(chan error, loadProducers)
	t0 := time.Now()
	for range loadProducers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				from := int(next.Add(loadBatch)) - loadBatch
				if from >= n || time.Now().After(stop) {
					return
				}
				batch := make([]*rpc.Event, 0, loadBatch)
				for i := from; i < min(from+loadBatch, n); i++ {
					batch = append(batch, benchEvent(i, n, base))
				}
				var err error
				target := leader
				for try := 0; try < 10; try++ { // ids dedupe a retried batch
					ctx, cancel := harness.Ctx(60 * time.Second)
					_, err = target.Client().EmitEvents(ctx, &rpc.EmitEventsRequest{Events: batch, Source: "bench"})
					cancel()
					if err == nil {
						break
					}
					// Leadership moved (a busy machine): follow it, as a producer does.
					if l, _ := c.LeaderOf(); l != nil {
						target = l
					}
				}
				if err != nil {
					errs <- fmt.Errorf("events %d..%d: %w", from, from+len(batch), err)
					return
				}
				stored.Add(int64(len(batch)))
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	return int(stored.Load()), float64(stored.Load()) / time.Since(t0).Seconds()
}

// timeQueries runs queriesPerKind+queryWarmup queries made by mk against m
// and returns the timed ones' durations (the first queryWarmup are not kept).
func timeQueries(b *testing.B, m *harness.Master, mk func(i int) *rpc.EventFilter, want int, diag *queryDiag, kind string) []time.Duration {
	var ds []time.Duration
	for i := range queriesPerKind + queryWarmup {
		f := mk(i)
		c0 := diag.counters(m.PID())
		ctx, cancel := harness.Ctx(10 * time.Second)
		t0 := time.Now()
		r, err := m.Client().QueryEvents(ctx, f)
		took := time.Since(t0)
		cancel()
		overlap := diag.counters(m.PID()).since(c0)
		if err != nil {
			b.Fatalf("query %v: %v", f, err)
		}
		if len(r.Events) != want {
			b.Fatalf("query %v: %d events, want %d", f, len(r.Events), want)
		}
		if i >= queryWarmup {
			diag.query(kind, t0, took, overlap)
			ds = append(ds, took)
		}
	}
	return ds
}

// BenchmarkEventQuery1M stores 1M events in a 3-master cluster through
// EmitEvents and times warm queries and the masters' memory.
func BenchmarkEventQuery1M(b *testing.B) {
	n := storedEvents(b)
	args := []string{"--event-max-count", strconv.Itoa(2 * n), "--log-level", "info"}
	if queryDiagDir() != "" {
		args = append(args, "--enable-debug")
	}
	c := harness.NewCluster(b, harness.Options{RaftProfile: "default", MasterArgs: args})
	leader := c.WaitLeader(30 * time.Second)
	base := time.Now()
	watch := startLeaderWatch(c, "event_query_1m_load")
	stored, rate := loadEvents(b, c, leader, n, base)
	watch.end(b)
	diag := startQueryDiag(b, c)
	diag.mark("load ended")
	leader = c.WaitLeader(30 * time.Second)
	b.Logf("loaded %d of %d events at %.0f events/s", stored, n, rate)
	// Timestamps of the stored events span this much of the hour.
	span := int64(time.Hour/time.Microsecond) * int64(stored) / int64(n)
	if stored < n {
		b.Logf("WARNING: the load hit its %s budget; the _1m figures hold %d events", loadBudget, stored)
		n = stored
	}
	perEntity := min(100, n/queryEntities)
	c.WaitSameState(5 * time.Minute)
	diag.mark("same state")
	label := fmt.Sprintf("%d", n)
	if n == 1_000_000 {
		label = "1M"
	}
	how := fmt.Sprintf("%s events (%d entities, %d types, one hour of timestamps) loaded through EmitEvents (batches of %d from %d callers) into a 3-master cluster", label, queryEntities, len(queryTypes), loadBatch, loadProducers)
	record("events_stored_1m", float64(n), "events", how+"; events stored for the _1m figures")
	record("events_load_per_s_1m", rate, "events/s", how+"; load rate")

	rng := rand.New(rand.NewPCG(1, 2))
	entityQuery := func(int) *rpc.EventFilter {
		return &rpc.EventFilter{EntityIds: []string{fmt.Sprintf("node-bench-%04d", rng.IntN(queryEntities))}, Limit: 100}
	}
	typeTimeQuery := func(int) *rpc.EventFilter {
		since := base.Add(-time.Hour).UnixMicro() + rng.Int64N(span*5/6)
		return &rpc.EventFilter{Types: []rpc.EventType{queryTypes[rng.IntN(len(queryTypes))]}, Since: since, Until: since + span/6, Limit: 100}
	}
	diag.traceLeader(leader, "leader_entity_queries.trace", 8)
	diag.mark("entity queries")
	ds := timeQueries(b, leader, entityQuery, perEntity, diag, "entity")
	diag.mark("entity queries done")
	record("event_query_entity_ms_p99_1m", percentileMS(ds, 0.99), "ms", how+fmt.Sprintf("; QueryEvents{entity_ids: [one entity], limit: 100} on the leader (consistent read), gRPC round trip, p99 of %d after %d warm-up", queriesPerKind, queryWarmup))
	followers := c.Followers(leader)
	if len(followers) > 0 {
		staleEntity := func(i int) *rpc.EventFilter {
			f := entityQuery(i)
			f.Stale = true
			return f
		}
		diag.mark("stale queries on " + followers[0].ID)
		ds = timeQueries(b, followers[0], staleEntity, perEntity, diag, "stale")
		record("event_query_entity_stale_ms_p99_1m", percentileMS(ds, 0.99), "ms", "as event_query_entity_ms_p99_1m, stale read from a follower's replica")
	}
	diag.mark("type/time queries")
	ds = timeQueries(b, leader, typeTimeQuery, 100, diag, "typetime")
	diag.mark("type/time queries done")
	diag.profileQueries(b, leader, "entity", entityQuery)
	diag.profileQueries(b, leader, "typetime", typeTimeQuery)
	diag.end(b, c)
	record("event_query_type_time_ms_p99_1m", percentileMS(ds, 0.99), "ms", how+fmt.Sprintf("; QueryEvents{types: [one type], since/until: a random sixth of the stored time span (10 minutes), limit: 100} on the leader, p99 of %d after %d warm-up", queriesPerKind, queryWarmup))

	size, files, err := eventStoreBytes(leader.DataDir)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("leader's event store: %v", files)
	record("event_bytes_per_event_1m", float64(size)/float64(n), "bytes", how+"; the leader's event store file(s) (<data dir>/events/*.db, file size on disk) divided by the events stored, after loading and querying")

	var maxRSS float64
	for _, m := range c.Live() {
		if parts, err := rssByMapping(m.PID()); err == nil {
			b.Logf("%s resident by mapping (/proc/<pid>/smaps Rss): %s", m.ID, strings.Join(parts, ", "))
		}
		mb, err := rssMB(m.PID())
		if err != nil {
			b.Fatal(err)
		}
		anon, err := rssAnonMB(m.PID())
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("%s VmRSS %.1f MiB, RssAnon %.1f MiB", m.ID, mb, anon)
		if m == leader {
			record("master_rss_mb_1m", mb, "MiB", how+"; the leader's VmRSS (/proc/<pid>/status) after loading and querying")
			record("master_rss_anon_mb_1m", anon, "MiB", "as master_rss_mb_1m, RssAnon only (heap and stacks, without bbolt's mapped file pages)")
		}
		maxRSS = max(maxRSS, mb)
	}
	record("master_rss_mb_1m_max", maxRSS, "MiB", "as master_rss_mb_1m, the largest VmRSS of the 3 masters")
	if queryDiagDir() != "" {
		b.Log("GRID_BENCH_QUERY_DIAG: snapshot figures skipped")
		return
	}
	snapshotFigures(b, c, c.WaitLeader(30*time.Second), how)
}
