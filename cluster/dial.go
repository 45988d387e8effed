package cluster

import (
	"fmt"
	"runtime"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/rpc/security"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// loadDialCredentials builds the transport credentials of every outgoing
// connection once, at start: mutual TLS when Config.TLS is on (the server
// name is the dialed host), plaintext otherwise.
func (m *Master) loadDialCredentials() error {
	creds, err := security.DialCredentials(m.config.TLS, "")
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	m.endpoint.dialCreds = creds
	return nil
}

// dialOptions are the options for every gRPC connection this master opens
// (to the leader, to other masters at bootstrap, to agents): transport
// security and credentials live here and only here. With TLS on, the
// connection presents this master's certificate and verifies the peer's
// against the CA; the API token, when set, rides on every call.
func (m *Master) dialOptions(extra ...grpc.DialOption) []grpc.DialOption {
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(m.endpoint.dialCreds),
		grpc.WithPerRPCCredentials(security.TokenCredentials(m.config.APIToken)),
		grpc.WithUnaryInterceptor(forwardBearer),
		grpc.WithStreamInterceptor(forwardBearerStream),
	}
	opts = append(opts, rpc.WindowDialOptions()...)
	return append(opts, extra...)
}

// transportCredentials is the type of Master.dialCreds.
type transportCredentials = credentials.TransportCredentials

// maxGRPCRecvBytes bounds every message a master's gRPC port accepts
// (snapshot restores stream in chunks below it).
const maxGRPCRecvBytes = 4 << 20

// maxGRPCSendBytes bounds every message a master sends (large listings).
const maxGRPCSendBytes = 16 << 20

// streamWorkers is how many long-lived goroutines serve incoming calls
// (grpc.NumStreamWorkers): a heartbeat runs on a worker whose stack has
// already grown instead of a fresh goroutine growing one per call (stack
// copies were a tenth of the leader's CPU under 10,000 agents). Calls
// beyond the busy workers still get their own goroutine, so there are
// enough workers for a burst: with 2*GOMAXPROCS, 64 callers heartbeating
// back to back overflowed them and stack growth was 14 % of the leader's
// CPU again. An idle worker costs its stack (a few KiB).
func streamWorkers() uint32 { return uint32(max(64, 16*runtime.GOMAXPROCS(0))) }

// grpcServerOptions are the gRPC server's options: message size limits,
// static flow-control windows (rpc.WindowServerOptions), mutual TLS when Config.TLS is on, the
// API-token check (refusals audited) and the per-agent rate limits, in
// that order; calls run on stream workers.
func (m *Master) grpcServerOptions() ([]grpc.ServerOption, error) {
	creds, err := security.ServerCredentials(m.config.TLS)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	authUnary, authStream := m.accessInterceptors()
	limits := newCallLimiter(m.config.RateLimits, m.auditRefused)
	m.endpoint.limits = limits
	return append([]grpc.ServerOption{
		grpc.Creds(creds),
		grpc.MaxRecvMsgSize(maxGRPCRecvBytes),
		grpc.MaxSendMsgSize(maxGRPCSendBytes),
		grpc.ChainUnaryInterceptor(authUnary, limits.unaryInterceptor),
		grpc.ChainStreamInterceptor(authStream),
		grpc.NumStreamWorkers(streamWorkers()),
	}, rpc.WindowServerOptions()...), nil
}

// agentDialOptions are dialOptions for calls to agents: AgentToken (when
// set) instead of APIToken.
func (m *Master) agentDialOptions() []grpc.DialOption {
	tok := m.config.AgentToken
	if tok == "" {
		tok = m.config.APIToken
	}
	return append([]grpc.DialOption{
		grpc.WithTransportCredentials(m.endpoint.dialCreds),
		grpc.WithPerRPCCredentials(security.TokenCredentials(tok)),
	}, rpc.WindowDialOptions()...)
}
