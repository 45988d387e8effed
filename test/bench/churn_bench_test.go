package bench

import (
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/gridctl/grid/test/harness"
)

// Liveness thresholds of the churn runs: the smallest that keep a 2 s
// heartbeat clear of degraded (issue 17 measured churn with --offline-after 10s).
const (
	churnInterval = 2 * time.Second
	churnDegraded = 5 * time.Second
	churnOffline  = 10 * time.Second
)

// BenchmarkChurn: simulated agents register, heartbeat, then all stop
// together (the `grid sim-agents` process exits); the leader must mark them
// offline in few Raft entries, quickly, and keep nothing for them but their
// registry records.
func BenchmarkChurn(b *testing.B) {
	c := harness.NewCluster(b, harness.Options{RaftProfile: "default", MasterArgs: []string{
		"--heartbeat-interval", churnInterval.String(), "--degraded-after", churnDegraded.String(),
		"--offline-after", churnOffline.String()}})
	// The idle baseline of every master: on a busy machine leadership may
	// move, and the figures are read on whoever leads at the end.
	type idle struct{ g, rss, anon, heap float64 }
	base := map[string]idle{}
	for _, m := range c.Masters {
		g, err := leaderMetric(m, "go_goroutines")
		if err != nil {
			b.Fatal(err)
		}
		rss, err := rssMB(m.PID())
		if err != nil {
			b.Fatal(err)
		}
		anon, _ := rssAnonMB(m.PID())
		heap, _ := leaderMetric(m, "go_memstats_heap_inuse_bytes")
		base[m.ID] = idle{g, rss, anon, heap}
	}

	// round runs n agents named prefix-NNNNN for 4 s, waits until all are
	// offline, and returns the Raft entries committed from just before the
	// first offline deadline to the last mark, and the seconds from the last
	// deadline (window end + churnOffline) to the last mark. A round during
	// which leadership moved (a new leader gives every agent a fresh grace)
	// is run again, up to 3 times.
	var leader *harness.Master
	round := func(prefix string, n int) (entries uint64, markS float64) {
		for try := 1; ; try++ {
			leader = c.WaitLeader(30 * time.Second)
			run, err := runSim(c, leader, time.Second, "--n", strconv.Itoa(n), "--interval", churnInterval.String(),
				"--duration", "4s", "--conns", "32", "--register-workers", "64", "--prefix", prefix)
			if err != nil {
				b.Fatal(err)
			}
			if run.report.Errors > 0 {
				b.Logf("sim saw %d errors, first: %s", run.report.Errors, run.report.FirstError)
			}
			// Every agent's last beat is within churnInterval before the end:
			// degraded marks are done and no offline deadline has come yet.
			before := run.ended.Add(churnOffline - churnInterval - 500*time.Millisecond)
			time.Sleep(time.Until(before)) // a point on the measured timeline, not a wait for a condition
			idx0, err0 := commitIndex(leader)
			done, err1 := waitAllOffline(leader, prefix, n, time.Minute)
			idx1, err2 := commitIndex(leader)
			if l, _ := c.LeaderOf(); l == leader && err0 == nil && err1 == nil && err2 == nil {
				return idx1 - idx0, done.Sub(run.ended.Add(churnOffline)).Seconds()
			}
			if try == 3 {
				b.Fatalf("leadership moved during 3 tries of a churn round (%v %v %v)", err0, err1, err2)
			}
			b.Logf("leadership moved during a churn round (%v %v %v); running it again", err0, err1, err2)
			if _, err := waitAllOffline(c.WaitLeader(30*time.Second), prefix, n, 2*time.Minute); err != nil {
				b.Fatal(err)
			}
		}
	}

	entries1k, _ := round("churn-a", 1000)
	var marks []float64
	var last time.Time
	for r := range 4 {
		_, s := round("churn-b", 3000)
		b.Logf("round %d: 3,000 agents offline %.2f s after their last deadline", r+1, s)
		marks = append(marks, s)
		last = time.Now()
	}
	time.Sleep(time.Until(last.Add(time.Minute))) // the figure is "60 s after"
	if l, _ := c.LeaderOf(); l != leader {
		b.Fatalf("leadership moved after the last round")
	}
	g, err := leaderMetric(leader, "go_goroutines")
	if err != nil {
		b.Fatal(err)
	}
	rss, err := rssMB(leader.PID())
	if err != nil {
		b.Fatal(err)
	}
	anon, _ := rssAnonMB(leader.PID())
	heap, _ := leaderMetric(leader, "go_memstats_heap_inuse_bytes")
	idle0 := base[leader.ID]
	b.Logf("leader %s: RSS %.1f -> %.1f MiB (anonymous %.1f -> %.1f), heap in use %.1f -> %.1f MiB, goroutines %.0f -> %.0f",
		leader.ID, idle0.rss, rss, idle0.anon, anon, idle0.heap/(1<<20), heap/(1<<20), idle0.g, g)
	idleG, idleRSS := idle0.g, idle0.rss
	sort.Float64s(marks)
	const how = "3 masters (default raft profile) with --heartbeat-interval 2s --degraded-after 5s --offline-after 10s; `grid sim-agents` registers the agents, heartbeats 4 s at the leader's interval, then exits, so all go silent together"
	record("status_entries_for_1000_offline", float64(entries1k), "entries", how+"; 1,000 agents: leader commit_index delta from 0.5 s before the first offline deadline to all 1,000 listed offline (any other entry in that window counted too)")
	record("mass_offline_s_3000", (marks[1]+marks[2])/2, "s", how+"; 3,000 agents: from the last agent's offline deadline (window end + 10 s) to all 3,000 listed offline by the leader (ListAgents polled every 50 ms); median of 4 rounds")
	record("leader_goroutines_3000_offline", g-idleG, "goroutines", how+"; after 4 rounds of the same 3,000 agents joining then dying: leader go_goroutines (/metrics) 60 s after the last round's agents were all offline, minus the idle leader's count before the first round ("+strconv.Itoa(int(idleG))+")")
	record("leader_rss_growth_mb_4x3000", rss-idleRSS, "MiB", how+"; leader VmRSS 60 s after 4 rounds of the same 3,000 agents joining then dying, minus its VmRSS before the first round")
}
