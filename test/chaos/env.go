package chaos

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/harness"
	"github.com/gridctl/grid/test/waitfor"
	"github.com/hashicorp/go-hclog"
)

// Config shapes one chaos run.
type Config struct {
	// Masters is the initial number of masters.
	Masters int
	// Agents is how many real `grid agent` processes run storage nodes.
	Agents int
	// SimAgents is how many simulated agents heartbeat over gRPC.
	SimAgents int
	// Hold is how long a fault stays injected (a SIGSTOP longer than an election).
	Hold time.Duration
	// RecoveryBound is the longest a healed cluster may take to be healthy
	// again; longer is a violation.
	RecoveryBound time.Duration
	// ConvergeBound is how long replicas and storage nodes may take to agree
	// after recovery before a difference is a violation.
	ConvergeBound time.Duration
	// RaftProfile is the masters' --raft-profile.
	RaftProfile string
}

// DefaultConfig is the suite's configuration: 3 masters, 2 agents, 50
// simulated agents, faults held 3 s, recovery bound 30 s.
func DefaultConfig() Config {
	return Config{
		Masters:       3,
		Agents:        2,
		SimAgents:     50,
		Hold:          3 * time.Second,
		RecoveryBound: 30 * time.Second,
		ConvergeBound: 60 * time.Second,
		RaftProfile:   "default",
	}
}

// Env is what faults act on: the cluster, its network and its agents. The
// load reads the master set through Masters while faults change it.
type Env struct {
	T      testing.TB
	Config Config
	C      *harness.Cluster
	Net    *harness.Network
	Agents []*harness.Agent
	Logger hclog.Logger

	mu         sync.Mutex
	masters    []*harness.Master
	nextMaster int
}

// NewEnv builds the network, starts the masters (each in its own
// namespace) and the real agents, and waits for a leader.
func NewEnv(t testing.TB, cfg Config) *Env {
	t.Helper()
	n := harness.NewNetwork(t)
	c := harness.NewNetCluster(t, n, harness.Options{Masters: cfg.Masters, RaftProfile: cfg.RaftProfile})
	e := &Env{T: t, Config: cfg, C: c, Net: n, Logger: testLogger(t), nextMaster: cfg.Masters + 1}
	e.masters = append(e.masters, c.Masters...)
	for i := 1; i <= cfg.Agents; i++ {
		a, err := c.AddAgentIn(n, fmt.Sprintf("agent-%d", i), harness.AgentOptions{MaxNodes: 8, Ports: 30})
		if err != nil {
			t.Fatalf("start agent-%d: %v", i, err)
		}
		e.Agents = append(e.Agents, a)
	}
	for _, a := range e.Agents {
		waitfor.Until(t, 60*time.Second, a.ID+" registered and healthy", func() (bool, string) {
			return e.agentHealthy(a.ID)
		})
	}
	return e
}

// agentHealthy reports whether the leader's registry has id as healthy.
func (e *Env) agentHealthy(id string) (bool, string) {
	m := e.AnyMaster()
	if m == nil {
		return false, "no live master"
	}
	ctx, cancel := harness.Ctx(3 * time.Second)
	defer cancel()
	l, err := m.Client().ListAgents(ctx, &rpc.Empty{})
	if err != nil {
		return false, err.Error()
	}
	for _, a := range l.Agents {
		if a.AgentId == id {
			return a.Status == "healthy", id + " is " + a.Status
		}
	}
	return false, id + " not registered"
}

// Masters is a snapshot of the cluster's current masters (running or not).
func (e *Env) Masters() []*harness.Master {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]*harness.Master(nil), e.masters...)
}

// LiveMasters is Masters filtered to running processes.
func (e *Env) LiveMasters() []*harness.Master {
	var out []*harness.Master
	for _, m := range e.Masters() {
		if m.Running() {
			out = append(out, m)
		}
	}
	return out
}

// AnyMaster is a random live master, nil when none runs.
func (e *Env) AnyMaster() *harness.Master {
	live := e.LiveMasters()
	if len(live) == 0 {
		return nil
	}
	return live[rand.IntN(len(live))]
}

// Leader waits for a leader agreed by every live master.
// Only the test goroutine changes the master set, so no lock is needed.
func (e *Env) Leader() *harness.Master {
	return e.C.WaitLeader(e.Config.RecoveryBound)
}

// AddMaster starts a new master (fresh id, own namespace) that joins the
// cluster, and returns it.
func (e *Env) AddMaster() (*harness.Master, error) {
	e.mu.Lock()
	id := fmt.Sprintf("master-%d", e.nextMaster)
	e.nextMaster++
	m, err := e.C.AddMasterIn(e.Net, id, false)
	if err == nil {
		e.masters = append(e.masters, m)
	}
	e.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return m, e.Net.Start(m.Proc)
}

// DropMaster forgets a stopped, removed master and deletes its namespace.
func (e *Env) DropMaster(m *harness.Master) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, o := range e.masters {
		if o == m {
			e.masters = append(e.masters[:i], e.masters[i+1:]...)
			break
		}
	}
	e.C.DropMaster(m)
	return e.Net.Remove(m.ID)
}

// Start starts a stopped master or agent in its namespace.
func (e *Env) Start(p *harness.Proc) error { return e.Net.Start(p) }

// testLogger logs through t.Log.
func testLogger(t testing.TB) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: "chaos", Level: hclog.Info, Output: tWriter{t}})
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
