package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/rpc/security"
	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
)

// Agent is a running `grid agent`: the Supervisor, the GridAgent gRPC
// server, and the loops that talk to the masters.
type Agent struct {
	cfg      Config
	logger   hclog.Logger
	pool     *MasterPool
	events   *EventBuffer
	statuses *StatusReporter
	sup      *Supervisor
	hb       *Heartbeater
	gossip   *Membership
	server   *grpc.Server
	health   *health.Server
	lis      net.Listener
	// token is sent on calls to the masters (and to other agents when
	// migrating node data); auth checks the masters' token on
	// SpawnNode/StopNode/Keyring/FetchNodeData. Reload replaces both (SIGHUP).
	token   *security.TokenHolder
	auth    *security.Authorizer
	metrics *agentMetrics
	checker *HealthChecker
	http    *httpServer // nil without Config.HTTPAddr
}

// notifier feeds the Supervisor's events and states to the delivery loops.
type notifier struct {
	*EventBuffer
	*StatusReporter
}

// New validates cfg, takes charge of the nodes in its data dir (re-adopting
// live ones) and binds the gRPC and gossip listeners. Run starts serving.
func New(cfg Config, logger hclog.Logger) (*Agent, error) {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	logger = logger.Named("agent")
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := ensureDir(cfg.DataDir); err != nil {
		return nil, fmt.Errorf("create data dir %s: %w", cfg.DataDir, err)
	}
	a := &Agent{cfg: cfg, logger: logger}
	dialCreds, err := security.DialCredentials(cfg.TLS, "")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	serverCreds, err := security.ServerCredentials(cfg.TLS)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	a.token = security.NewTokenHolder(cfg.APIToken)
	a.pool = NewMasterPool(cfg.Masters, append([]grpc.DialOption{grpc.WithTransportCredentials(dialCreds),
		grpc.WithPerRPCCredentials(a.token.Credentials())}, rpc.WindowDialOptions()...)...)
	a.events = NewEventBuffer(a.pool, cfg.AgentID, cfg.EventQueueSize, cfg.EventBatchSize, logger)
	a.statuses = NewStatusReporter(a.pool, logger)

	lis, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.GRPCAddr, err)
	}
	a.lis = lis
	if _, port, _ := splitHostPort(a.cfg.AdvertiseAddr); port == 0 {
		// Bound to port 0 (tests): advertise the port actually bound.
		host := a.cfg.AdvertiseHost()
		a.cfg.AdvertiseAddr = net.JoinHostPort(host, fmt.Sprint(lis.Addr().(*net.TCPAddr).Port))
	}

	fence, err := OpenTermFence(cfg.DataDir)
	if err != nil {
		_ = lis.Close()
		return nil, err
	}
	a.sup, err = NewSupervisor(a.cfg, notifier{a.events, a.statuses}, logger)
	if err != nil {
		_ = lis.Close()
		return nil, err
	}
	a.hb = NewHeartbeater(a.cfg, a.pool, a.sup, logger)
	a.metrics = newAgentMetrics(a)
	a.hb.rtt = func(d time.Duration) { a.metrics.heartbeatRTT.Observe(d.Seconds()) }
	a.checker = NewHealthChecker(a.sup, a.cfg.HealthCheckInterval, a.cfg.HealthCheckFailures, logger)
	a.checker.observe, a.checker.forgotten = a.metrics.observeHealthCheck, a.metrics.forgetNode
	if cfg.HTTPAddr != "" {
		reg := cfg.Metrics
		if reg == nil {
			reg = prometheus.NewRegistry()
		}
		if err := reg.Register(a.metrics); err != nil {
			_ = a.sup.Close(context.Background(), false)
			_ = lis.Close()
			return nil, fmt.Errorf("agent metrics: %w", err)
		}
		hl, err := net.Listen("tcp", cfg.HTTPAddr)
		if err != nil {
			_ = a.sup.Close(context.Background(), false)
			_ = lis.Close()
			return nil, fmt.Errorf("http listen on %s: %w", cfg.HTTPAddr, err)
		}
		a.http = newHTTPServer(a, hl, reg)
		a.cfg.advertiseHTTP = net.JoinHostPort(a.cfg.AdvertiseHost(), fmt.Sprint(hl.Addr().(*net.TCPAddr).Port))
	}
	if len(cfg.Join) > 0 {
		a.gossip, err = NewMembership(a.cfg, a.pool, logger)
		if err != nil {
			_ = a.sup.Close(context.Background(), false)
			_ = lis.Close()
			return nil, err
		}
	}
	a.auth = security.NewAuthorizer(masterTokenOf(cfg.APIToken, cfg.MasterToken), "", nil)
	authUnary, authStream := security.StaticAuthInterceptors(a.auth, security.IsMutatingAgentMethod, a.logRefused)
	a.server = grpc.NewServer(grpc.Creds(serverCreds), grpc.MaxRecvMsgSize(maxGRPCRecvBytes),
		grpc.ChainUnaryInterceptor(a.serverRoleOnly, authUnary), grpc.ChainStreamInterceptor(a.streamRoles, authStream))
	svc := NewAgentService(a.sup, fence, a.events, cfg.AgentID, logger)
	svc.(*agentService).logs = cfg.LogBroker
	svc.(*agentService).dial = []grpc.DialOption{grpc.WithTransportCredentials(dialCreds),
		grpc.WithPerRPCCredentials(a.token.Credentials())}
	svc.(*agentService).keyring = keyringService{agentID: cfg.AgentID, dataDir: cfg.DataDir, gossip: a.gossip}
	rpc.RegisterGridAgentServer(a.server, svc)
	a.health = health.NewServer()
	healthpb.RegisterHealthServer(a.server, a.health)
	reflection.Register(a.server)
	httpAddr := ""
	if a.http != nil {
		httpAddr = a.http.lis.Addr().String()
	}
	logger.Info("agent ready", "agent_id", cfg.AgentID, "grpc_addr", lis.Addr().String(), "http_addr", httpAddr, "advertise_addr", a.cfg.AdvertiseAddr,
		"data_dir", cfg.DataDir, "memory_limit", a.sup.MemoryLimitMode(), "nodes", a.sup.ActiveCount(),
		"leader_term", fence.Highest())
	return a, nil
}

// serverRoleOnly: with TLS on, only a master (a server certificate) may
// call the agent's mutating methods (SpawnNode, StopNode, Keyring).
func (a *Agent) serverRoleOnly(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if a.cfg.TLS.Enabled() && security.IsMutatingAgentMethod(info.FullMethod) {
		p, _ := peer.FromContext(ctx)
		var err error = security.ErrWrongRole
		if p != nil {
			if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok {
				err = security.RequireRole(ti.State, security.RoleServer)
			}
		}
		if err != nil {
			a.logRefused(ctx, info.FullMethod, err.Error())
			return nil, status.Errorf(codes.PermissionDenied, "%s: only masters may call %s", err, info.FullMethod)
		}
	}
	return handler(ctx, req)
}

// streamRoles: with TLS on, FetchNodeData (a node's data directory) is
// served only to members: another agent migrating the node (an agent
// certificate) or a master (a server certificate), never to a client
// certificate.
func (a *Agent) streamRoles(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if a.cfg.TLS.Enabled() && info.FullMethod == rpc.GridAgent_FetchNodeData_FullMethodName {
		var err error = security.ErrWrongRole
		if p, _ := peer.FromContext(ss.Context()); p != nil {
			if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok {
				if err = security.RequireRole(ti.State, security.RoleAgent); err != nil {
					err = security.RequireRole(ti.State, security.RoleServer)
				}
			}
		}
		if err != nil {
			a.logRefused(ss.Context(), info.FullMethod, err.Error())
			return status.Errorf(codes.PermissionDenied, "%s: only agents and masters may call %s", err, info.FullMethod)
		}
	}
	return handler(srv, ss)
}

// maxGRPCRecvBytes bounds every message the agent's gRPC port accepts.
const maxGRPCRecvBytes = 4 << 20

// logRefused logs a call refused for its token (method and reason, never
// the token); the masters audit their own refusals.
func (a *Agent) logRefused(ctx context.Context, method, reason string) {
	peerAddr := ""
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		peerAddr = p.Addr.String()
	}
	a.logger.Warn("request refused", "method", method, "reason", reason, "peer", peerAddr)
}

// Addr is the address the GridAgent service listens on.
func (a *Agent) Addr() string { return a.lis.Addr().String() }

// AdvertiseAddr is the address masters are told to dial.
func (a *Agent) AdvertiseAddr() string { return a.cfg.AdvertiseAddr }

// Supervisor gives access to the node supervisor (tests, metrics).
func (a *Agent) Supervisor() *Supervisor { return a.sup }

// Registered reports whether the agent is registered with a master.
func (a *Agent) Registered() bool { return a.hb.Registered() }

// Run serves until ctx ends, then shuts down: the gRPC server stops, the
// agent leaves gossip, and nodes keep running for the next agent to adopt
// (unless StopNodesOnShutdown). It returns an error only when the gRPC
// server fails; masters being down never ends it.
func (a *Agent) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	serveErr := make(chan error, 1)
	go func() { serveErr <- a.server.Serve(a.lis) }()
	loopFns := []func(context.Context){a.events.Run, a.statuses.Run, a.hb.Run, a.checker.Run}
	if a.http != nil {
		go func() {
			if err := a.http.srv.Serve(a.http.lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
				a.logger.Error("http server stopped", "error", err)
			}
		}()
	}
	var loops sync.WaitGroup
	for _, loop := range loopFns {
		loops.Add(1)
		go func() {
			defer loops.Done()
			loop(ctx)
		}()
	}
	if a.gossip != nil {
		loops.Add(1)
		go func() {
			defer loops.Done()
			a.gossip.Run(ctx)
		}()
	}

	var err error
	served := false
	select {
	case <-ctx.Done():
	case err = <-serveErr:
		served = true
		if errors.Is(err, grpc.ErrServerStopped) {
			err = nil
		}
		if err != nil {
			err = fmt.Errorf("grpc server: %w", err)
		}
	}
	a.logger.Info("agent shutting down", "stop_nodes", a.cfg.StopNodesOnShutdown)
	a.health.Shutdown()
	cancel()
	loops.Wait()

	stopCtx, stopCancel := context.WithTimeout(context.Background(), a.cfg.StopGrace+10*time.Second)
	defer stopCancel()
	if cerr := a.sup.Close(stopCtx, a.cfg.StopNodesOnShutdown); cerr != nil {
		a.logger.Error("could not stop every node", "error", cerr)
	}
	a.flush(2 * time.Second)
	if !served {
		stopped := make(chan struct{})
		go func() {
			a.server.GracefulStop()
			close(stopped)
		}()
		select {
		case <-stopped:
		case <-time.After(5 * time.Second):
			a.server.Stop()
		}
		<-serveErr
	}
	if a.gossip != nil {
		a.gossip.Leave(time.Second)
	}
	if a.http != nil {
		hctx, hcancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = a.http.srv.Shutdown(hctx)
		hcancel()
	}
	a.pool.Close()
	return err
}

// flush gives pending events and node states a short time to reach a
// master before exit. What is left is not lost for the registry: a
// restarted agent registers again with its nodes' states.
func (a *Agent) flush(limit time.Duration) {
	if a.events.Pending() == 0 && a.statuses.Pending() == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); a.events.Run(ctx) }()
	go func() { defer wg.Done(); a.statuses.Run(ctx) }()
	for ctx.Err() == nil && (a.events.Pending() > 0 || a.statuses.Pending() > 0) {
		waitCtx(ctx, 20*time.Millisecond)
	}
	cancel()
	wg.Wait()
}
