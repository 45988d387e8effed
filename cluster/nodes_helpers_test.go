package cluster

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gridctl/grid/agent"
	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/waitfor"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// These tests run in-process masters (newTestCluster) with real agents
// (package agent) supervising real `grid storage-node` processes.

var (
	gridBinOnce sync.Once
	gridBinPath string
	gridBinErr  error
)

// gridBinary returns the grid binary the agents run as storage nodes: GRID_BIN
// if set, else one built once from ./cmd/grid.
func gridBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("GRID_BIN"); p != "" {
		return p
	}
	gridBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "grid-nodes-test-")
		if err != nil {
			gridBinErr = err
			return
		}
		gridBinPath = filepath.Join(dir, "grid")
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Dir(filepath.Dir(file))
		cmd := exec.Command("go", "build", "-o", gridBinPath, "./cmd/grid")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			gridBinErr = fmt.Errorf("go build ./cmd/grid: %v\n%s", err, out)
		}
	})
	if gridBinErr != nil {
		t.Fatalf("building the grid binary: %v", gridBinErr)
	}
	return gridBinPath
}

// nodesTestLogger sends logs to t.Log (silenced after the test ends, like
// testLogger).
func nodesTestLogger(t *testing.T, name string) hclog.Logger {
	w := &tLogWriter{t: t}
	t.Cleanup(func() { w.mu.Lock(); w.done = true; w.mu.Unlock() })
	return hclog.New(&hclog.LoggerOptions{Name: name, Level: hclog.Debug, Output: w})
}

// testAgent is a real agent in this process.
type testAgent struct {
	*agent.Agent
	id   string
	cfg  agent.Config
	done chan struct{}
	stop context.CancelFunc
}

// startTestAgent starts a real agent registered with masters, ports taken
// from a random range of 30 (the agent re-checks each one is free).
func startTestAgent(t *testing.T, masters []*Master, id string, maxNodes int) *testAgent {
	return startTestAgentWith(t, masters, id, maxNodes, nil)
}

// startTestAgentWith is startTestAgent with a hook to change the config.
func startTestAgentWith(t *testing.T, masters []*Master, id string, maxNodes int, tweak func(*agent.Config)) *testAgent {
	t.Helper()
	cfg := agent.DefaultConfig()
	cfg.AgentID = id
	cfg.DataDir = t.TempDir()
	cfg.GRPCAddr = "127.0.0.1:0"
	for _, m := range masters {
		cfg.Masters = append(cfg.Masters, m.Addresses().GRPC)
	}
	base := 20000 + rand.IntN(400)*30
	cfg.PortRangeStart, cfg.PortRangeEnd = base, base+29
	cfg.MaxNodes = maxNodes
	cfg.BinaryPath = gridBinary(t)
	cfg.HeartbeatInterval = 100 * time.Millisecond
	cfg.HealthCheckInterval = 100 * time.Millisecond
	cfg.RestartBackoff = 20 * time.Millisecond
	cfg.StopGrace = 2 * time.Second
	cfg.StopNodesOnShutdown = true
	cfg.CgroupParent = ""
	cfg.DefaultMemoryMB = 256
	if tweak != nil {
		tweak(&cfg)
	}
	a, err := agent.New(cfg, nodesTestLogger(t, id))
	if err != nil {
		t.Fatalf("agent %s: %v", id, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ta := &testAgent{Agent: a, id: id, cfg: cfg, done: make(chan struct{}), stop: cancel}
	go func() {
		defer close(ta.done)
		if err := a.Run(ctx); err != nil {
			t.Logf("agent %s: %v", id, err)
		}
	}()
	t.Cleanup(ta.shutdown)
	return ta
}

// shutdown stops the agent and waits for it to return.
func (ta *testAgent) shutdown() {
	ta.stop()
	<-ta.done
}

// waitAgentHealthy waits until every master's registry has the agent healthy.
func waitAgentHealthy(t *testing.T, masters []*Master, id string) {
	t.Helper()
	waitfor.Until(t, 15*time.Second, "agent "+id+" healthy", func() (bool, string) {
		for _, m := range masters {
			a, ok := m.fsm.Agent(id)
			if !ok {
				return false, m.ID() + " does not know the agent"
			}
			if a.Status != rpc.AgentHealthy || a.Endpoint == "" {
				return false, fmt.Sprintf("%s sees %s endpoint %q", m.ID(), a.Status, a.Endpoint)
			}
		}
		return true, ""
	})
}

// masterClient is a gRPC client to m.
func masterClient(t *testing.T, m *Master) rpc.GridMasterClient {
	t.Helper()
	conn, err := grpc.NewClient(m.Addresses().GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial %s: %v", m.ID(), err)
	}
	t.Cleanup(func() { conn.Close() })
	return rpc.NewGridMasterClient(conn)
}

// follower returns a master of masters that is not leader.
func nodesFollower(masters []*Master, leader *Master) *Master {
	for _, m := range masters {
		if m != leader {
			return m
		}
	}
	return leader
}

// waitNodeEverywhere waits until every master's registry has the node
// matching want.
func waitNodeEverywhere(t *testing.T, masters []*Master, nodeID string, want func(*rpc.NodeStatus) bool) *rpc.NodeStatus {
	t.Helper()
	var got *rpc.NodeStatus
	waitfor.Until(t, 15*time.Second, "node "+nodeID+" on every master", func() (bool, string) {
		for _, m := range masters {
			n, ok := m.fsm.Node(nodeID)
			if !ok {
				return false, m.ID() + " has no record"
			}
			if !want(n) {
				return false, fmt.Sprintf("%s: %v", m.ID(), n)
			}
			got = n
		}
		return true, ""
	})
	return got
}

// processesServing counts live processes whose command line names nodeID.
func processesServing(t *testing.T, nodeID string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatalf("read /proc: %v", err)
	}
	var pids []int
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		for i, a := range args {
			if (a == "--node-id" || a == "-node-id") && i+1 < len(args) && args[i+1] == nodeID ||
				a == "--node-id="+nodeID {
				if stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && !isZombie(stat) {
					pids = append(pids, pid)
				}
				break
			}
		}
	}
	return pids
}

func isZombie(stat []byte) bool {
	i := bytes.LastIndexByte(stat, ')')
	return i > 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}

// storageHealthy says whether a storage node answers HealthCheck at endpoint.
func storageHealthy(endpoint string) error {
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err = rpc.NewStorageServiceClient(conn).HealthCheck(ctx, &rpc.HealthCheckRequest{})
	return err
}
