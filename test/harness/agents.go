package harness

import (
	"fmt"
	"path/filepath"

	"google.golang.org/grpc"
)

// AgentOptions shape one agent.
type AgentOptions struct {
	MaxNodes int      // default 5
	Ports    int      // size of its port range, default 20
	Args     []string // extra flags
}

// AddAgent defines and starts a `grid agent` that knows every master's gRPC address.
func (c *Cluster) AddAgent(id string, opts AgentOptions) *Agent {
	t := c.T
	t.Helper()
	if opts.MaxNodes == 0 {
		opts.MaxNodes = 5
	}
	if opts.Ports == 0 {
		opts.Ports = 20
	}
	grpcAddr, err := FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	gossip, err := FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	httpAddr, err := FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	from, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	// Reserve the range so other helpers in this process do not hand it out.
	portMu.Lock()
	for p := from; p < from+opts.Ports; p++ {
		portUsed[p] = true
	}
	portMu.Unlock()
	a := &Agent{ID: id, DataDir: filepath.Join(c.Dir, id), GRPC: grpcAddr, Gossip: gossip, HTTP: httpAddr, PortFrom: from}
	args := []string{"agent", "--id", id, "--data-dir", a.DataDir, "--grpc-addr", grpcAddr, "--http-addr", httpAddr,
		"--gossip-addr", gossip, "--masters", c.MasterAddrs(),
		"--max-nodes", fmt.Sprint(opts.MaxNodes),
		"--port-range", fmt.Sprintf("%d-%d", from, from+opts.Ports-1), "--log-level", "debug"}
	args = append(args, c.opts.Security.AgentArgs()...)
	args = append(args, opts.Args...)
	a.Proc = &Proc{Name: id, Args: args, Log: logPath(c.Dir, id)}
	dial, err := c.opts.Security.DialOptions()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(grpcAddr, dial...)
	if err != nil {
		t.Fatal(err)
	}
	a.conn = conn
	c.Agents = append(c.Agents, a)
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	return a
}
