package cluster

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/waitfor"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// tLogWriter sends log lines to t.Log so they show only on failure.
type tLogWriter struct {
	t    *testing.T
	mu   sync.Mutex
	done bool
}

func (w *tLogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// testLogger is an hclog.Logger writing to t.Log (silenced after the test ends).
func testLogger(t *testing.T) hclog.Logger {
	w := &tLogWriter{t: t}
	t.Cleanup(func() { w.mu.Lock(); w.done = true; w.mu.Unlock() })
	level := hclog.Info
	if os.Getenv("GRID_TEST_LOG") != "" {
		level = hclog.LevelFromString(os.Getenv("GRID_TEST_LOG"))
	}
	return hclog.New(&hclog.LoggerOptions{Name: "test", Level: level, Output: w})
}

// testConfig is a master config with test timings (Raft ~200 ms, fast
// gossip, 1 s heartbeats) on free loopback ports.
func testConfig(t *testing.T, id string) Config {
	c := DefaultConfig()
	c.ID = id
	c.DataDir = t.TempDir()
	c.GRPCAddr = "127.0.0.1:0"
	c.RaftAddr = "127.0.0.1:0"
	c.GossipAddr = "127.0.0.1:0"
	c.HTTPAddr = "127.0.0.1:0"
	// Short but tolerant of a loaded 2-core machine: under `make test` the
	// race-detector builds of several packages share the 2 cores, and this
	// package's in-process clusters then stalled past a 150 ms lease (the
	// leader stepped down in the middle of a test's write).
	c.RaftTimings = RaftTimings{HeartbeatTimeout: 300 * time.Millisecond, ElectionTimeout: 300 * time.Millisecond,
		LeaderLeaseTimeout: 250 * time.Millisecond, CommitTimeout: 10 * time.Millisecond}
	c.SnapshotThreshold = 64
	c.SnapshotInterval = 200 * time.Millisecond
	c.TrailingLogs = 32
	c.HeartbeatInterval = time.Second
	c.ServerStabilizationTime = 300 * time.Millisecond
	c.LastContactThreshold = time.Second
	c.HealthInterval = 100 * time.Millisecond
	c.LeaderWait = 3 * time.Second
	c.ApplyTimeout = 3 * time.Second
	c.Gossip = GossipConfig{ProbeInterval: 100 * time.Millisecond, ProbeTimeout: 100 * time.Millisecond,
		GossipInterval: 20 * time.Millisecond, SuspicionMult: 2, PushPullInterval: time.Second}
	c.Logger = testLogger(t).Named(id)
	return c
}

// testCluster is an in-process cluster under test.
type testCluster struct {
	t       *testing.T
	masters []*Master
	configs []Config
}

// newTestCluster starts n masters at once with bootstrap-expect n, joins
// them by gossip, waits until they form one cluster with one leader, and
// shuts them down at cleanup.
func newTestCluster(t *testing.T, n int) []*Master {
	return startTestCluster(t, n, nil).masters
}

// startTestCluster is newTestCluster with a config hook.
func startTestCluster(t *testing.T, n int, tweak func(*Config)) *testCluster {
	t.Helper()
	tc := &testCluster{t: t}
	for i := range n {
		c := testConfig(t, fmt.Sprintf("master-%d", i+1))
		c.BootstrapExpect = n
		if tweak != nil {
			tweak(&c)
		}
		tc.configs = append(tc.configs, c)
	}
	tc.masters = make([]*Master, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range tc.configs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tc.masters[i], errs[i] = New(tc.configs[i])
		}()
	}
	wg.Wait()
	t.Cleanup(tc.shutdown)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("start %s: %v", tc.configs[i].ID, err)
		}
	}
	// Ports were chosen by the OS: join everyone to everyone, concurrently.
	var addrs []string
	for _, m := range tc.masters {
		addrs = append(addrs, m.Addresses().Gossip)
	}
	for _, m := range tc.masters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := m.Join(addrs); err != nil {
				t.Errorf("join %s: %v", m.ID(), err)
			}
		}()
	}
	wg.Wait()
	waitForLeader(t, tc.masters)
	return tc
}

// add starts one more master that joins the cluster (no bootstrap).
func (tc *testCluster) add(id string) *Master {
	tc.t.Helper()
	c := testConfig(tc.t, id)
	for _, m := range live(tc.masters) {
		c.Join = append(c.Join, m.Addresses().Gossip)
	}
	m, err := New(c)
	if err != nil {
		tc.t.Fatalf("start %s: %v", id, err)
	}
	tc.masters = append(tc.masters, m)
	tc.configs = append(tc.configs, c)
	return m
}

func (tc *testCluster) shutdown() {
	var wg sync.WaitGroup
	for _, m := range tc.masters {
		if m == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = m.Shutdown(ctx)
		}()
	}
	wg.Wait()
}

// isDone reports whether m has been shut down.
func isDone(m *Master) bool {
	select {
	case <-m.Done():
		return true
	default:
		return false
	}
}

// live returns the masters not shut down.
func live(masters []*Master) []*Master {
	var out []*Master
	for _, m := range masters {
		if m != nil && !isDone(m) {
			out = append(out, m)
		}
	}
	return out
}

// waitForLeader waits until exactly one live master leads and every live
// master agrees on it; it returns the leader.
func waitForLeader(t *testing.T, masters []*Master) *Master {
	t.Helper()
	var present []*Master
	for _, m := range masters {
		if m != nil {
			present = append(present, m)
		}
	}
	return waitfor.Leader(t, 15*time.Second, present, (*Master).ID,
		func(m *Master) bool { return !isDone(m) && m.isLeader() },
		func(m *Master) (string, bool) { return m.leaderID(), !isDone(m) })
}

// followerOfCluster returns a live master that is not leader.
func followerOfCluster(masters []*Master, leader *Master) *Master {
	for _, m := range live(masters) {
		if m != leader {
			return m
		}
	}
	return nil
}

// grpcClient dials m's gRPC address.
func grpcClient(t *testing.T, m *Master) rpc.GridMasterClient {
	t.Helper()
	conn, err := grpc.NewClient(m.Addresses().GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return rpc.NewGridMasterClient(conn)
}

// testCtx is a context bounded for one test call.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}
