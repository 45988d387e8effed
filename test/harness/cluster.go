package harness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/waitfor"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// Master is one `grid master` process and its addresses.
type Master struct {
	*Proc
	ID                       string
	DataDir                  string
	GRPC, Raft, Gossip, HTTP string
	conn                     *grpc.ClientConn
}

// Client is a gRPC client to this master.
func (m *Master) Client() rpc.GridMasterClient { return rpc.NewGridMasterClient(m.conn) }

// Storage is a StorageService client to this master's event graph.
func (m *Master) Storage() rpc.StorageServiceClient { return rpc.NewStorageServiceClient(m.conn) }

// Agent is one `grid agent` process.
type Agent struct {
	*Proc
	ID       string
	DataDir  string
	GRPC     string
	Gossip   string
	HTTP     string // --http-addr: /healthz, /readyz, /metrics
	PortFrom int
	conn     *grpc.ClientConn
}

// Client is a GridAgent client to this agent.
func (a *Agent) Client() rpc.GridAgentClient { return rpc.NewGridAgentClient(a.conn) }

// Options shape a test cluster.
type Options struct {
	Masters     int       // default 3
	MasterArgs  []string  // extra flags for every master
	RaftProfile string    // default "fast"
	Security    *Security // TLS, gossip key and tokens for every member and the harness's clients
}

// Cluster is a set of real processes under one directory.
type Cluster struct {
	T       testing.TB
	Dir     string
	Masters []*Master
	Agents  []*Agent
	opts    Options
}

// NewCluster starts opts.Masters masters with --bootstrap-expect and waits
// for a leader. Everything is stopped at test cleanup; the directory is
// removed only when the test passed.
func NewCluster(t testing.TB, opts Options) *Cluster {
	t.Helper()
	c := newEmptyCluster(t, opts, "grid-test-")
	opts = c.opts
	for i := 1; i <= opts.Masters; i++ {
		c.AddMaster(fmt.Sprintf("master-%d", i), true)
	}
	// Like an operator's config, every initial master --joins all the others,
	// so the pool forms whichever starts listening first.
	for _, m := range c.Masters {
		m.Args = withJoin(m.Args, c.othersGossip(m))
	}
	for _, m := range c.Masters {
		if err := m.Start(); err != nil {
			t.Fatal(err)
		}
	}
	c.WaitLeader(30 * time.Second)
	return c
}

// newEmptyCluster applies opts' defaults, checks the binary and makes the
// cluster's directory (kept when the test fails); it starts nothing.
func newEmptyCluster(t testing.TB, opts Options, dirPrefix string) *Cluster {
	t.Helper()
	if opts.Masters == 0 {
		opts.Masters = 3
	}
	if opts.RaftProfile == "" {
		opts.RaftProfile = "fast"
	}
	if _, err := Binary(); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", dirPrefix)
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{T: t, Dir: dir, opts: opts}
	t.Cleanup(c.cleanup)
	return c
}

func (c *Cluster) cleanup() {
	for _, a := range c.Agents {
		if a.Running() {
			_ = a.Resume()
			_ = a.Stop(5 * time.Second)
		}
		if a.conn != nil {
			a.conn.Close()
		}
	}
	for _, m := range c.Masters {
		if m.Running() {
			_ = m.Resume()
			_ = m.Kill()
		}
		if m.conn != nil {
			m.conn.Close()
		}
	}
	// Storage nodes run in their own process groups; make sure none outlives the test.
	killStrays(c.Dir)
	if c.T.Failed() {
		c.T.Logf("test data and logs kept in %s", c.Dir)
		for _, m := range c.Masters {
			c.T.Logf("---- %s log tail ----\n%s", m.Name, m.Tail(3000))
		}
		for _, a := range c.Agents {
			c.T.Logf("---- %s log tail ----\n%s", a.Name, a.Tail(3000))
		}
		return
	}
	os.RemoveAll(c.Dir)
}

// AddMaster defines (does not start) a master. bootstrap: part of the
// initial --bootstrap-expect set; otherwise it joins the running cluster.
func (c *Cluster) AddMaster(id string, bootstrap bool) *Master {
	t := c.T
	t.Helper()
	addrs := make([]string, 4)
	for i := range addrs {
		a, err := FreeAddr()
		if err != nil {
			t.Fatal(err)
		}
		addrs[i] = a
	}
	m := &Master{ID: id, DataDir: filepath.Join(c.Dir, id), GRPC: addrs[0], Raft: addrs[1], Gossip: addrs[2], HTTP: addrs[3]}
	args := []string{"master", "--id", id, "--data-dir", m.DataDir,
		"--grpc-addr", m.GRPC, "--raft-addr", m.Raft, "--gossip-addr", m.Gossip, "--http-addr", m.HTTP,
		"--raft-profile", c.opts.RaftProfile, "--log-level", "debug"}
	if bootstrap {
		args = append(args, "--bootstrap-expect", fmt.Sprint(c.opts.Masters))
	}
	var joins []string
	for _, o := range c.Masters {
		joins = append(joins, o.Gossip)
	}
	if len(joins) > 0 {
		args = append(args, "--join", strings.Join(joins, ","))
	}
	args = append(args, c.opts.Security.MasterArgs()...)
	args = append(args, c.opts.MasterArgs...)
	m.Proc = &Proc{Name: id, Args: args, Log: logPath(c.Dir, id)}
	dial, err := c.opts.Security.DialOptions()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(m.GRPC, dial...)
	if err != nil {
		t.Fatal(err)
	}
	m.conn = conn
	c.Masters = append(c.Masters, m)
	return m
}

// MasterAddrs is the comma list of every master's gRPC address.
func (c *Cluster) MasterAddrs() string {
	var out []string
	for _, m := range c.Masters {
		out = append(out, m.GRPC)
	}
	return strings.Join(out, ",")
}

// GossipAddrs is the comma list of every master's gossip address.
func (c *Cluster) GossipAddrs() string {
	var out []string
	for _, m := range c.Masters {
		out = append(out, m.Gossip)
	}
	return strings.Join(out, ",")
}

// Live lists the running masters.
func (c *Cluster) Live() []*Master {
	var out []*Master
	for _, m := range c.Masters {
		if m.Running() {
			out = append(out, m)
		}
	}
	return out
}

// Master returns the master with id.
func (c *Cluster) Master(id string) *Master {
	for _, m := range c.Masters {
		if m.ID == id {
			return m
		}
	}
	return nil
}

// Ctx is a context for one call.
func Ctx(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

// Stale marks a context so a follower answers from its own replica.
func Stale(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, rpc.StaleMetadataKey, "true")
}

// LeaderOf asks every live master who the leader is; it returns the leader
// when all live masters that answer agree on one live master, else nil.
func (c *Cluster) LeaderOf() (*Master, string) {
	var leaderID string
	for _, m := range c.Live() {
		ctx, cancel := Ctx(2 * time.Second)
		r, err := m.Client().Ready(ctx, &rpc.Empty{})
		cancel()
		if err != nil {
			return nil, fmt.Sprintf("%s: %v", m.ID, err)
		}
		if r.LeaderId == "" {
			return nil, fmt.Sprintf("%s knows no leader", m.ID)
		}
		if leaderID != "" && r.LeaderId != leaderID {
			return nil, fmt.Sprintf("%s says leader %s, another says %s", m.ID, r.LeaderId, leaderID)
		}
		leaderID = r.LeaderId
	}
	l := c.Master(leaderID)
	if l == nil || !l.Running() {
		return nil, fmt.Sprintf("leader %q is not a live master", leaderID)
	}
	return l, ""
}

// WaitLeader waits until exactly one live master leads and every live
// master names it as leader (waitfor.Leader), and returns it. A live master
// that does not answer counts as disagreeing.
func (c *Cluster) WaitLeader(timeout time.Duration) *Master {
	c.T.Helper()
	views := map[*Master]string{} // each master's leader in the current poll
	view := func(m *Master) string {
		ctx, cancel := Ctx(2 * time.Second)
		defer cancel()
		r, err := m.Client().Ready(ctx, &rpc.Empty{})
		if err != nil {
			return fmt.Sprintf("nobody (%v)", err)
		}
		return r.LeaderId
	}
	// waitfor.Leader asks isLeader of every member before leaderOf in each
	// poll, so leaderOf reads the answer isLeader just fetched.
	return waitfor.Leader(c.T, timeout, c.Live(), func(m *Master) string { return m.ID },
		func(m *Master) bool {
			views[m] = view(m)
			return views[m] == m.ID
		},
		func(m *Master) (string, bool) { return views[m], true })
}

// Followers lists the live masters other than the leader.
func (c *Cluster) Followers(leader *Master) []*Master {
	var out []*Master
	for _, m := range c.Live() {
		if m != leader {
			out = append(out, m)
		}
	}
	return out
}

// StateHashes reads every live master's state hash.
func (c *Cluster) StateHashes() (map[string]*rpc.StateHash, error) {
	out := map[string]*rpc.StateHash{}
	for _, m := range c.Live() {
		ctx, cancel := Ctx(3 * time.Second)
		h, err := m.Client().GetStateHash(ctx, &rpc.Empty{})
		cancel()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.ID, err)
		}
		out[m.ID] = h
	}
	return out, nil
}

// WaitSameState waits until every live master reports the same registry and
// events hashes, and returns one of them.
func (c *Cluster) WaitSameState(timeout time.Duration) *rpc.StateHash {
	c.T.Helper()
	var last *rpc.StateHash
	waitfor.Until(c.T, timeout, "equal FSM state on every live master", func() (bool, string) {
		hs, err := c.StateHashes()
		if err != nil {
			return false, err.Error()
		}
		var ids []string
		for id := range hs {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		var first *rpc.StateHash
		for _, id := range ids {
			h := hs[id]
			if first == nil {
				first = h
				continue
			}
			if h.RegistryHash != first.RegistryHash || h.EventsHash != first.EventsHash {
				return false, fmt.Sprintf("%s %s/%s (applied %d) != %s %s/%s (applied %d)",
					id, short(h.RegistryHash), short(h.EventsHash), h.AppliedIndex,
					first.NodeId, short(first.RegistryHash), short(first.EventsHash), first.AppliedIndex)
			}
		}
		last = first
		return first != nil, "no live master"
	})
	return last
}

func short(s string) string {
	if len(s) > 10 {
		return s[:10]
	}
	return s
}

// othersGossip lists every master's gossip address but m's.
func (c *Cluster) othersGossip(m *Master) string {
	var out []string
	for _, o := range c.Masters {
		if o != m {
			out = append(out, o.Gossip)
		}
	}
	return strings.Join(out, ",")
}

// withJoin returns args with its --join value set to joins.
func withJoin(args []string, joins string) []string {
	out := make([]string, 0, len(args)+2)
	for i := 0; i < len(args); i++ {
		if args[i] == "--join" && i+1 < len(args) {
			i++
			continue
		}
		out = append(out, args[i])
	}
	return append(out, "--join", joins)
}
