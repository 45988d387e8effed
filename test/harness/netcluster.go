package harness

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
)

// Well-known ports inside a member's namespace: each member has its own
// address, so every master uses the production defaults.
const (
	nsGRPCPort     = 7000
	nsRaftPort     = 7001
	nsGossipPort   = 7946
	nsHTTPPort     = 9000
	nsAgentPort    = 8001
	nsAgentGossip  = 7947
	nsAgentHTTP    = 8002
	nsNodePortFrom = 50051
)

// DialFast opens a client connection that redials a restarted process
// within about a second (gRPC's default backoff grows to two minutes).
func DialFast(addr string) (*grpc.ClientConn, error) {
	return grpc.NewClient(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			MinConnectTimeout: 2 * time.Second,
		}))
}

// NewNetCluster is NewCluster with every master in its own network namespace
// of n (addresses <subnet>.x, default ports). Start masters again with
// n.Start(m.Proc).
func NewNetCluster(t testing.TB, n *Network, opts Options) *Cluster {
	t.Helper()
	c := newEmptyCluster(t, opts, "grid-chaos-")
	opts = c.opts
	var ms []*Master
	for i := 1; i <= opts.Masters; i++ {
		m, err := c.AddMasterIn(n, fmt.Sprintf("master-%d", i), true)
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	// Every bootstrap master joins all the others (they all exist by now).
	for _, m := range ms {
		var joins []string
		for _, o := range ms {
			if o != m {
				joins = append(joins, o.Gossip)
			}
		}
		m.Args = append(withoutFlag(m.Args, "--join"), "--join", strings.Join(joins, ","))
	}
	for _, m := range ms {
		if err := n.Start(m.Proc); err != nil {
			t.Fatal(err)
		}
	}
	c.WaitLeader(60 * time.Second)
	return c
}

// AddMasterIn defines (does not start) a master in a new namespace of n
// named after id. bootstrap: part of the initial --bootstrap-expect set;
// otherwise it joins the masters already defined.
func (c *Cluster) AddMasterIn(n *Network, id string, bootstrap bool) (*Master, error) {
	ns, err := n.Add(id)
	if err != nil {
		return nil, err
	}
	at := func(port int) string { return fmt.Sprintf("%s:%d", ns.IP, port) }
	m := &Master{ID: id, DataDir: filepath.Join(c.Dir, id), GRPC: at(nsGRPCPort), Raft: at(nsRaftPort),
		Gossip: at(nsGossipPort), HTTP: at(nsHTTPPort)}
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
	args = append(args, c.opts.MasterArgs...)
	m.Proc = &Proc{Name: id, Args: args, Log: logPath(c.Dir, id)}
	conn, err := DialFast(m.GRPC)
	if err != nil {
		return nil, err
	}
	m.conn = conn
	n.Bind(m.Proc, ns)
	c.Masters = append(c.Masters, m)
	return m, nil
}

// AddAgentIn defines and starts a `grid agent` in a new namespace of n named
// after id; its storage nodes run in the same namespace. A flag in
// opts.Args replaces the harness's own (e.g. --grpc-addr :8001 to bind every
// address and let the agent choose what it advertises).
func (c *Cluster) AddAgentIn(n *Network, id string, opts AgentOptions) (*Agent, error) {
	if opts.MaxNodes == 0 {
		opts.MaxNodes = 5
	}
	if opts.Ports == 0 {
		opts.Ports = 20
	}
	ns, err := n.Add(id)
	if err != nil {
		return nil, err
	}
	a := &Agent{ID: id, DataDir: filepath.Join(c.Dir, id), GRPC: fmt.Sprintf("%s:%d", ns.IP, nsAgentPort),
		Gossip: fmt.Sprintf("%s:%d", ns.IP, nsAgentGossip), HTTP: fmt.Sprintf("%s:%d", ns.IP, nsAgentHTTP), PortFrom: nsNodePortFrom}
	args := []string{"agent", "--id", id, "--data-dir", a.DataDir, "--grpc-addr", a.GRPC, "--http-addr", a.HTTP,
		"--gossip-addr", a.Gossip, "--masters", c.MasterAddrs(),
		"--max-nodes", fmt.Sprint(opts.MaxNodes),
		"--port-range", fmt.Sprintf("%d-%d", a.PortFrom, a.PortFrom+opts.Ports-1), "--log-level", "debug"}
	for _, arg := range opts.Args {
		if strings.HasPrefix(arg, "--") {
			args = withoutFlag(args, arg)
		}
	}
	args = append(args, opts.Args...)
	a.Proc = &Proc{Name: id, Args: args, Log: logPath(c.Dir, id)}
	conn, err := DialFast(a.GRPC)
	if err != nil {
		return nil, err
	}
	a.conn = conn
	n.Bind(a.Proc, ns)
	c.Agents = append(c.Agents, a)
	if err := n.Start(a.Proc); err != nil {
		return nil, err
	}
	return a, nil
}

// DropMaster forgets a master that was removed from the cluster (its
// process must be stopped): it leaves c.Masters and its client is closed.
func (c *Cluster) DropMaster(m *Master) {
	for i, o := range c.Masters {
		if o == m {
			c.Masters = append(c.Masters[:i], c.Masters[i+1:]...)
			break
		}
	}
	if m.conn != nil {
		m.conn.Close()
	}
}

// withoutFlag removes flag and its value from args.
func withoutFlag(args []string, flag string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		if args[i] == flag {
			i++
			continue
		}
		out = append(out, args[i])
	}
	return out
}
