package bench

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gridctl/grid/rpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// agentTimingProxy sits between the masters and one agent (the agent
// advertises the proxy's address) and forwards every GridAgent call,
// timing SpawnNode: that is the agent's part of a spawn (start the
// process, wait until its port accepts connections), which the spawn
// figures subtract to get the control plane's part.
type agentTimingProxy struct {
	rpc.UnimplementedGridAgentServer
	addr     string
	srv      *grpc.Server
	upstream atomic.Pointer[grpc.ClientConn]

	mu        sync.Mutex
	spawnTook map[string]time.Duration // node id -> last SpawnNode round trip to the agent
}

func newAgentTimingProxy() (*agentTimingProxy, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &agentTimingProxy{addr: lis.Addr().String(), srv: grpc.NewServer(), spawnTook: map[string]time.Duration{}}
	rpc.RegisterGridAgentServer(p.srv, p)
	go func() { _ = p.srv.Serve(lis) }()
	return p, nil
}

// connect points the proxy at the agent's real address.
func (p *agentTimingProxy) connect(agentAddr string) error {
	conn, err := grpc.NewClient(agentAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	p.upstream.Store(conn)
	return nil
}

func (p *agentTimingProxy) close() {
	p.srv.Stop()
	if c := p.upstream.Load(); c != nil {
		c.Close()
	}
}

func (p *agentTimingProxy) client() (rpc.GridAgentClient, error) {
	c := p.upstream.Load()
	if c == nil {
		return nil, status.Error(codes.Unavailable, "bench proxy: agent address not known yet")
	}
	return rpc.NewGridAgentClient(c), nil
}

// agentTime is the agent's SpawnNode time for nodeID.
func (p *agentTimingProxy) agentTime(nodeID string) (time.Duration, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	d, ok := p.spawnTook[nodeID]
	return d, ok
}

func (p *agentTimingProxy) SpawnNode(ctx context.Context, in *rpc.SpawnNodeRequest) (*rpc.SpawnNodeResponse, error) {
	c, err := p.client()
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	r, err := c.SpawnNode(ctx, in)
	took := time.Since(t0)
	p.mu.Lock()
	p.spawnTook[in.NodeId] = took
	p.mu.Unlock()
	return r, err
}

func (p *agentTimingProxy) StopNode(ctx context.Context, in *rpc.StopNodeRequest) (*rpc.StopNodeResponse, error) {
	c, err := p.client()
	if err != nil {
		return nil, err
	}
	return c.StopNode(ctx, in)
}

func (p *agentTimingProxy) GetNodeStatus(ctx context.Context, in *rpc.NodeStatusRequest) (*rpc.NodeStatusResponse, error) {
	c, err := p.client()
	if err != nil {
		return nil, err
	}
	return c.GetNodeStatus(ctx, in)
}

func (p *agentTimingProxy) ListNodes(ctx context.Context, in *rpc.ListNodesRequest) (*rpc.ListNodesResponse, error) {
	c, err := p.client()
	if err != nil {
		return nil, err
	}
	return c.ListNodes(ctx, in)
}
