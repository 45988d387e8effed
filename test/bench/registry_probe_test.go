package bench

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime/pprof"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/harness"
)

// BenchmarkRegistryProbe is a diagnostic, not a figure: it runs only with
// GRID_PROBE=1. 64 callers register new agents on the leader for 10 s (as
// registry_writes_per_s does) and it logs the CPU time per write of each
// master and of this process (/proc/<pid>/stat, getrusage); with
// GRID_PROBE_DIR set, the masters run with --enable-debug and it saves a
// 7 s CPU profile of each master and of this process there.
func BenchmarkRegistryProbe(b *testing.B) {
	if os.Getenv("GRID_PROBE") != "1" {
		b.Skip("diagnostic: set GRID_PROBE=1")
	}
	dir := os.Getenv("GRID_PROBE_DIR")
	var args []string
	if dir != "" {
		args = []string{"--enable-debug"}
	}
	c := harness.NewCluster(b, harness.Options{RaftProfile: "default", MasterArgs: args})
	leader := c.WaitLeader(30 * time.Second)
	for i := range 200 {
		ctx, cancel := harness.Ctx(5 * time.Second)
		_, err := leader.Client().RegisterAgent(ctx, &rpc.AgentInfo{AgentId: fmt.Sprintf("agent-w-%d", i), AgentEndpoint: "127.0.0.1:1"})
		cancel()
		if err != nil {
			b.Fatal(err)
		}
	}
	ms := c.Live()
	before := map[string]time.Duration{}
	for _, m := range ms {
		before[m.ID], _ = cpuTime(m.PID())
	}
	var ru0, ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	const dur = 10 * time.Second
	var pwg sync.WaitGroup
	if dir != "" {
		for _, m := range ms {
			pwg.Add(1)
			go func() {
				defer pwg.Done()
				time.Sleep(time.Second)
				resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=7", m.HTTP))
				if err != nil {
					b.Log(err)
					return
				}
				defer resp.Body.Close()
				role := "f"
				if m == leader {
					role = "L"
				}
				f, _ := os.Create(fmt.Sprintf("%s/%s-%s.pprof", dir, role, m.ID))
				io.Copy(f, resp.Body)
				f.Close()
			}()
		}
		f, _ := os.Create(dir + "/client.pprof")
		pprof.StartCPUProfile(f)
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	w, el := registerConcurrently(leader, 64, dur)
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	tot := time.Duration(0)
	for _, m := range ms {
		a, _ := cpuTime(m.PID())
		d := a - before[m.ID]
		tot += d
		role := "follower"
		if m == leader {
			role = "leader"
		}
		b.Logf("%s %s: %.1f us CPU/write", m.ID, role, float64(d.Microseconds())/float64(w))
	}
	tv := func(t syscall.Timeval) time.Duration {
		return time.Duration(t.Sec)*time.Second + time.Duration(t.Usec)*time.Microsecond
	}
	cl := tv(ru1.Utime) + tv(ru1.Stime) - tv(ru0.Utime) - tv(ru0.Stime)
	b.Logf("client: %.1f us CPU/write; masters total %.1f us; all %.1f us", float64(cl.Microseconds())/float64(w), float64(tot.Microseconds())/float64(w), float64((tot+cl).Microseconds())/float64(w))
	b.Logf("writes/s: %.0f (%d in %v)", float64(w)/el.Seconds(), w, el)
	ld, _ := os.ReadFile("/proc/loadavg")
	b.Logf("loadavg %s", ld)
	pwg.Wait()
}
