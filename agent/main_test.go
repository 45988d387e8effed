package agent

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/hashicorp/go-hclog"
)

// gridBin is the real grid binary the tests spawn storage nodes from.
var gridBin string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	if bin := os.Getenv("GRID_BIN"); bin != "" {
		gridBin = bin
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "grid-agent-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	gridBin = filepath.Join(dir, "grid")
	cmd := exec.Command("go", "build", "-o", gridBin, "./cmd/grid")
	cmd.Dir = ".."
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build grid binary:", err)
		return 1
	}
	return m.Run()
}

// testLogger logs through t.Log, so output shows only on failure. Lines
// logged after the test ended (a library goroutine winding down, such as
// memberlist's last probe) are dropped: t.Log would panic on them.
func testLogger(t *testing.T) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: t.Name(), Level: hclog.Debug, Output: newTWriter(t)})
}

// tWriter writes to t.Log until the test's cleanup runs.
type tWriter struct {
	t    *testing.T
	mu   sync.Mutex
	done bool
}

func newTWriter(t *testing.T) *tWriter {
	w := &tWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return w
}

func (w *tWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(string(p))
	}
	return len(p), nil
}

var _ io.Writer = (*tWriter)(nil)

// freePortRange finds n consecutive free ports.
func freePortRange(t *testing.T, n int) (int, int) {
	t.Helper()
	for attempt := 0; attempt < 50; attempt++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		base := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		if base+n > 65000 {
			continue
		}
		ok := true
		for p := base; p < base+n; p++ {
			if !portFree(p) {
				ok = false
				break
			}
		}
		if ok {
			return base, base + n - 1
		}
	}
	t.Fatal("no free port range")
	return 0, 0
}

// testConfig is a validated config over a temp data dir and a private port
// range, with fast restarts.
func testConfig(t *testing.T) Config {
	t.Helper()
	cfg := DefaultConfig()
	cfg.AgentID = "agent-test"
	cfg.DataDir = t.TempDir()
	cfg.GRPCAddr = "127.0.0.1:0"
	cfg.Masters = []string{"127.0.0.1:1"}
	cfg.BinaryPath = gridBin
	cfg.PortRangeStart, cfg.PortRangeEnd = freePortRange(t, 10)
	cfg.RestartBackoff = 20 * time.Millisecond
	cfg.StopGrace = 3 * time.Second
	cfg.CgroupParent = ""
	cfg.DefaultMemoryMB = 64
	cfg.HoldRecovered = 0 // no master here to confirm dead nodes (hold_test.go sets it)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// recorder is a Notifier that keeps what the Supervisor tells it.
type recorder struct {
	mu     sync.Mutex
	events []*rpc.Event
	states []*rpc.NodeStatus
}

func (r *recorder) Emit(e *rpc.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) ReportStatus(st *rpc.NodeStatus) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.states = append(r.states, st)
}

func (r *recorder) count(typ rpc.EventType, nodeID string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := 0
	for _, e := range r.events {
		if e.Type == typ && e.EntityId == nodeID {
			c++
		}
	}
	return c
}

func (r *recorder) last(typ rpc.EventType, nodeID string) *rpc.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.events) - 1; i >= 0; i-- {
		if e := r.events[i]; e.Type == typ && e.EntityId == nodeID {
			return e
		}
	}
	return nil
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	_, err := processStartTime(pid)
	return err == nil
}

func itoa(i int) string { return strconv.Itoa(i) }
