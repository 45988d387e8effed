package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/gridctl/grid/test/harness"
)

// A diagnostic of BenchmarkSnapshotStall, opt-in: with
// $GRID_SNAPSTALL_TIMELINE=<dir>, each round writes dir/writes-<round>.txt
// (one line per registry write: its start and end as Unix microseconds and
// its duration in µs, then the snapshot's start and first chunk), and one
// round runs strace on every master (every thread; the disk syscalls,
// timed) into dir/strace-<master>.txt: round 0 (the first snapshot, which also compacts the
// log), or round 1 when $GRID_SNAPSTALL_PROFILE profiles round 0. The slow
// writes can then be matched with what the leader's threads were doing
// (fsyncs, write-back, unlinks) at the time. strace slows the leader: the
// round it traces is a timeline, not a figure.

// timedWrite is one registry write of the timeline.
type timedWrite struct {
	start time.Time
	d     time.Duration
}

// timelineDir is $GRID_SNAPSTALL_TIMELINE, "" when the diagnostic is off.
func timelineDir() string { return os.Getenv("GRID_SNAPSTALL_TIMELINE") }

// straceRound is the round the timeline straces.
func straceRound() int {
	if os.Getenv("GRID_SNAPSTALL_PROFILE") != "" {
		return 1
	}
	return 0
}

// straceMasters straces every master (the followers' log fsyncs are half
// of each commit) into dir/<prefix><name>.txt; the returned func stops them.
func straceMasters(b *testing.B, c *harness.Cluster, dir, prefix string) func() {
	var stops []func()
	for _, m := range c.Masters {
		if pid := m.PID(); pid != 0 {
			stops = append(stops, startStrace(b, pid, filepath.Join(dir, prefix+m.Name+".txt")))
		}
	}
	return func() {
		for _, stop := range stops {
			stop()
		}
	}
}

// startStrace attaches strace to pid's threads, writing to file; the
// returned func detaches it and waits for it to exit.
func startStrace(b *testing.B, pid int, file string) func() {
	cmd := exec.Command("strace", "-f", "-tt", "-T", "-s", "48", "-p", strconv.Itoa(pid), "-o", file,
		"-e", "trace=fdatasync,fsync,sync_file_range,unlink,unlinkat,rename,renameat,pwrite64,write,openat,ftruncate,fallocate,mmap,munmap,madvise")
	if err := cmd.Start(); err != nil {
		b.Logf("strace not started: %v", err)
		return func() {}
	}
	// strace prints nothing until it attached; give it a moment to attach
	// to every thread (a diagnostic: not a test's wait).
	time.Sleep(500 * time.Millisecond)
	return func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		_ = cmd.Wait()
	}
}

// startPerf records pid's CPU with call graphs (user and kernel: where a
// snapshot's write syscalls spend) into file; the returned func stops it.
// The timeline runs it over the quiet snapshots of snapshotCPU, whose
// figure it then inflates.
func startPerf(b *testing.B, pid int, file string) func() {
	cmd := exec.Command("perf", "record", "-g", "-p", strconv.Itoa(pid), "-o", file)
	if err := cmd.Start(); err != nil {
		b.Logf("perf not started: %v", err)
		return func() {}
	}
	time.Sleep(300 * time.Millisecond) // attach (a diagnostic)
	return func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		_ = cmd.Wait()
	}
}

// writeTimeline saves one round's writes and the snapshot's span.
func writeTimeline(b *testing.B, dir, round string, ws []timedWrite, snapStart, firstChunk time.Time) {
	f, err := os.Create(filepath.Join(dir, "writes-"+round+".txt"))
	if err != nil {
		b.Error(err)
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "# snapshot %d %d (%s .. %s)\n", snapStart.UnixMicro(), firstChunk.UnixMicro(),
		snapStart.Format("15:04:05.000000"), firstChunk.Format("15:04:05.000000"))
	for _, w := range ws {
		fmt.Fprintf(f, "%d %d %d %s\n", w.start.UnixMicro(), w.start.Add(w.d).UnixMicro(), w.d.Microseconds(), w.start.Format("15:04:05.000000"))
	}
}

// registerTimed is registerUntil keeping each write's start.
func registerTimed(m *harness.Master, prefix string, stop <-chan struct{}) []timedWrite {
	var ws []timedWrite
	for i := 0; ; i++ {
		select {
		case <-stop:
			return ws
		default:
		}
		t0 := time.Now()
		if registerOne(m, fmt.Sprintf("%s-%d", prefix, i)) == nil {
			ws = append(ws, timedWrite{start: t0, d: time.Since(t0)})
		}
	}
}

// saveLogs copies each master's log (the tail: the snapshot rounds) to dir.
func saveLogs(b *testing.B, c *harness.Cluster, dir string) {
	for _, m := range c.Masters {
		if err := os.WriteFile(filepath.Join(dir, m.Name+".log"), []byte(m.Tail(4<<20)), 0o644); err != nil {
			b.Error(err)
		}
	}
}

// quietTimeline is the traced round's baseline: registry writes for a
// second with no snapshot, under the same strace, into
// dir/writes-quiet.txt and dir/strace-quiet-<master>.txt.
func quietTimeline(b *testing.B, c *harness.Cluster, leader *harness.Master, dir string) {
	stop := straceMasters(b, c, dir, "strace-quiet-")
	end := make(chan struct{})
	time.AfterFunc(time.Second, func() { close(end) })
	t0 := time.Now()
	ws := registerTimed(leader, "agent-quiet-traced", end)
	stop()
	writeTimeline(b, dir, "quiet", ws, t0, t0)
}
