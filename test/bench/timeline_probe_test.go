package bench

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/harness"
)

// BenchmarkTimelineProbe is a diagnostic, not a figure: it runs only with
// GRID_PROBE=1 and GRID_PROBE_DIR set. It straces every master (fsyncs,
// writes and socket calls, with timestamps and durations) while it makes
// 10 sequential RegisterAgent calls on the leader, 50 ms apart, and then
// one TransferLeadership followed by a RegisterAgent on the new leader; the
// client's own timestamps go to client.log beside the strace files, so one
// write's sequence of fsyncs and hops can be read off the timeline.
func BenchmarkTimelineProbe(b *testing.B) {
	dir := probeDir(b)
	c := harness.NewCluster(b, harness.Options{RaftProfile: "default"})
	leader := c.WaitLeader(30 * time.Second)
	register := func(m *harness.Master, id string) error {
		ctx, cancel := harness.Ctx(5 * time.Second)
		defer cancel()
		_, err := m.Client().RegisterAgent(ctx, &rpc.AgentInfo{AgentId: id, AgentEndpoint: "127.0.0.1:1"})
		return err
	}
	for i := range 50 {
		if err := register(leader, fmt.Sprintf("agent-warm-%d", i)); err != nil {
			b.Fatal(err)
		}
	}
	c.WaitSameState(30 * time.Second)
	log, err := os.Create(filepath.Join(dir, "client.log"))
	if err != nil {
		b.Fatal(err)
	}
	defer log.Close()
	stamp := func(format string, args ...any) {
		fmt.Fprintf(log, "%s %s\n", time.Now().Format("15:04:05.000000"), fmt.Sprintf(format, args...))
	}
	var straces []*exec.Cmd
	for _, m := range c.Live() {
		role := "f"
		if m == leader {
			role = "L"
		}
		cmd := exec.Command("strace", "-f", "-tt", "-T", "-s", "300", "-o", filepath.Join(dir, fmt.Sprintf("%s-%s.strace", role, m.ID)),
			"-e", "trace=fdatasync,fsync,pwrite64,write,writev,read",
			"-p", fmt.Sprint(m.PID()))
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		straces = append(straces, cmd)
		stamp("strace %s (%s) pid %d", m.ID, role, m.PID())
	}
	time.Sleep(time.Second) // strace attaches to every thread
	for i := range 10 {
		t0 := time.Now()
		stamp("write %d start", i)
		if err := register(leader, fmt.Sprintf("agent-tl-%d", i)); err != nil {
			b.Fatal(err)
		}
		stamp("write %d done %.3f ms", i, float64(time.Since(t0).Microseconds())/1000)
		time.Sleep(50 * time.Millisecond)
	}
	t0 := time.Now()
	stamp("transfer start")
	ctx, cancel := harness.Ctx(10 * time.Second)
	r, err := leader.Client().TransferLeadership(ctx, &rpc.TransferLeadershipRequest{})
	cancel()
	if err != nil {
		b.Fatal(err)
	}
	stamp("transfer rpc done %.3f ms new leader %s", float64(time.Since(t0).Microseconds())/1000, r.NewLeaderId)
	next := c.Master(r.NewLeaderId)
	for try := 0; ; try++ {
		err := register(next, "agent-tl-tr")
		stamp("register on new leader try %d: %v", try, err)
		if err == nil {
			break
		}
	}
	stamp("transfer done %.3f ms", float64(time.Since(t0).Microseconds())/1000)
	time.Sleep(200 * time.Millisecond)
	for _, cmd := range straces {
		_ = cmd.Process.Signal(syscall.SIGINT)
		_ = cmd.Wait()
	}
	ld, _ := os.ReadFile("/proc/loadavg")
	stamp("loadavg %s", ld)
}

// BenchmarkTransferProbe is a diagnostic, not a figure (GRID_PROBE=1): it
// runs BenchmarkTransfer's trial GRID_PROBE_TRIALS times (default 40) and
// logs the median of each part: the TransferLeadership RPC, then the
// RegisterAgent on the new leader (with its tries), and their sum.
func BenchmarkTransferProbe(b *testing.B) {
	if os.Getenv("GRID_PROBE") != "1" {
		b.Skip("diagnostic: set GRID_PROBE=1")
	}
	trials := probeTrials(40)
	c := harness.NewCluster(b, harness.Options{RaftProfile: "default"})
	var rpcs, regs, all []time.Duration
	tries := 0
	for i := range trials {
		t0, t1, t2, n := transferTrial(b, c, fmt.Sprintf("agent-tp-%d", i))
		tries += n
		rpcs, regs, all = append(rpcs, t1.Sub(t0)), append(regs, t2.Sub(t1)), append(all, t2.Sub(t0))
	}
	ld, _ := os.ReadFile("/proc/loadavg")
	b.Logf("transfer probe, %d trials: rpc p50 %.2f ms, register p50 %.2f ms, total p50 %.2f ms p90 %.2f ms; %d register tries; loadavg %s",
		trials, percentileMS(rpcs, 0.5), percentileMS(regs, 0.5), percentileMS(all, 0.5), percentileMS(all, 0.9), tries, ld)
}

// probeDir is $GRID_PROBE_DIR for a diagnostic that writes its files there;
// it skips b unless GRID_PROBE=1 and the directory is named.
func probeDir(b *testing.B) string {
	dir := os.Getenv("GRID_PROBE_DIR")
	if os.Getenv("GRID_PROBE") != "1" || dir == "" {
		b.Skip("diagnostic: set GRID_PROBE=1 and GRID_PROBE_DIR")
	}
	return dir
}

// probeTrials is $GRID_PROBE_TRIALS, or def when unset.
func probeTrials(def int) int {
	if n, err := strconv.Atoi(os.Getenv("GRID_PROBE_TRIALS")); err == nil && n > 0 {
		return n
	}
	return def
}

// BenchmarkSeqWriteProfile is a diagnostic, not a figure (GRID_PROBE=1,
// GRID_PROBE_DIR): one caller registers agents on the leader back to back
// for 10 s (registry_write_ms_p50's load) while the masters run with
// --enable-debug; it saves an 8 s CPU profile of the leader and of a
// follower in GRID_PROBE_DIR and logs the writes' p50 and each master's
// CPU time per write.
func BenchmarkSeqWriteProfile(b *testing.B) {
	dir := probeDir(b)
	c := harness.NewCluster(b, harness.Options{RaftProfile: "default", MasterArgs: []string{"--enable-debug"}})
	leader := c.WaitLeader(30 * time.Second)
	profiled := []*harness.Master{leader, c.Followers(leader)[0]}
	done := make(chan struct{})
	for k, m := range profiled {
		go func() {
			defer func() { done <- struct{}{} }()
			time.Sleep(time.Second)
			resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=8", m.HTTP))
			if err != nil {
				b.Log(err)
				return
			}
			defer resp.Body.Close()
			f, _ := os.Create(filepath.Join(dir, fmt.Sprintf("seq-%s.pprof", []string{"leader", "follower"}[k])))
			_, _ = io.Copy(f, resp.Body)
			f.Close()
		}()
	}
	before := map[string]time.Duration{}
	for _, m := range c.Live() {
		before[m.ID], _ = cpuTime(m.PID())
	}
	var ds []time.Duration
	end := time.Now().Add(10 * time.Second)
	for i := 0; time.Now().Before(end); i++ {
		t0 := time.Now()
		ctx, cancel := harness.Ctx(5 * time.Second)
		_, err := leader.Client().RegisterAgent(ctx, &rpc.AgentInfo{AgentId: fmt.Sprintf("agent-sq-%d", i), AgentEndpoint: "127.0.0.1:1"})
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(t0))
	}
	for _, m := range c.Live() {
		a, _ := cpuTime(m.PID())
		b.Logf("%s (leader %v): %.1f us CPU/write", m.ID, m == leader, float64((a-before[m.ID]).Microseconds())/float64(len(ds)))
	}
	<-done
	<-done
	ld, _ := os.ReadFile("/proc/loadavg")
	b.Logf("sequential writes: %d, p50 %.3f ms; loadavg %s", len(ds), percentileMS(ds, 0.5), ld)
}

// profileMaster starts a 6 s CPU profile of m (run with --enable-debug),
// written to path in the background; stop waits until it is written.
func profileMaster(b *testing.B, m *harness.Master, path string) (stop func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=6", m.HTTP))
		if err != nil {
			b.Log(err)
			return
		}
		defer resp.Body.Close()
		f, err := os.Create(path)
		if err != nil {
			b.Log(err)
			return
		}
		_, _ = io.Copy(f, resp.Body)
		f.Close()
	}()
	return func() { <-done }
}
