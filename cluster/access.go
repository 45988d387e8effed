package cluster

import (
	"context"
	"fmt"
	"io"
	"net"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/rpc/security"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
)

// accessInterceptors are the gRPC port's access checks: the token and its
// capability (security.Authorizer), the certificate role of forwarded
// (master-to-master) calls, an agent-bound token acting only for its own
// agent, and the per-client limit on event streams.
func (m *Master) accessInterceptors() (grpc.UnaryServerInterceptor, grpc.StreamServerInterceptor) {
	unary, stream := security.Interceptors(m.endpoint.auth, security.MethodCapability, m.checkCall, m.auditRefused)
	limited := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if info.FullMethod != rpc.GridMaster_StreamEvents_FullMethodName {
			return handler(srv, ss)
		}
		release, err := m.endpoint.streams.Acquire(security.StreamKey(security.IdentityFrom(ss.Context()), peerHost(ss.Context())))
		if err != nil {
			m.auditRefused(ss.Context(), info.FullMethod, "too many event streams")
			return toStatus(err)
		}
		defer release()
		return handler(srv, ss)
	}
	chained := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return stream(srv, ss, info, func(srv any, ss grpc.ServerStream) error { return limited(srv, ss, info, handler) })
	}
	return unary, chained
}

// peerHost is the caller's host ("" when unknown).
func peerHost(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return ""
	}
	if h, _, err := net.SplitHostPort(p.Addr.String()); err == nil {
		return h
	}
	return p.Addr.String()
}

// peerTLS is the caller's TLS state, if the call came over TLS.
func peerTLS(ctx context.Context) (credentials.TLSInfo, bool) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return credentials.TLSInfo{}, false
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	return ti, ok
}

// refusal builds a PERMISSION_DENIED refusal.
func refusal(reason, msg string) *security.Refusal {
	return &security.Refusal{Code: codes.PermissionDenied, Reason: reason, Message: msg}
}

// checkCall runs after the token check: with TLS on, a forwarded call needs
// a server certificate; a token bound to an agent may only register,
// heartbeat, report and emit for that agent.
func (m *Master) checkCall(ctx context.Context, method string, id *security.Identity, req any) *security.Refusal {
	if m.config.TLS.Enabled() && isForwarded(ctx) {
		ti, ok := peerTLS(ctx)
		if !ok {
			return refusal("forwarded call without TLS", "master-to-master calls need a server certificate")
		}
		if err := security.RequireRole(ti.State, security.RoleServer); err != nil {
			return refusal("forwarded call from a non-server certificate", "master-to-master calls: "+err.Error())
		}
	}
	if id == nil || id.AgentID == "" {
		return nil
	}
	if other := m.otherAgent(id.AgentID, req); other != "" {
		return refusal(fmt.Sprintf("agent token for %s acting as %s", id.AgentID, other),
			fmt.Sprintf("permission denied: this token is bound to agent %q and cannot act for %q", id.AgentID, other))
	}
	return nil
}

// otherAgent returns the agent id a request acts for when it is not self
// ("" when the request is self's own or names no agent).
func (m *Master) otherAgent(self string, req any) string {
	check := func(id string) string {
		if id != self {
			if id == "" {
				return "(no agent)"
			}
			return id
		}
		return ""
	}
	switch r := req.(type) {
	case *rpc.AgentInfo:
		return check(r.AgentId)
	case *rpc.HeartbeatRequest:
		return check(r.AgentId)
	case *rpc.NodeStatus:
		if o := check(r.AgentId); o != "" {
			return o
		}
		if n, ok := m.fsm.Node(r.NodeId); ok && n.AgentId != self {
			return n.AgentId
		}
	case *rpc.EmitEventsRequest:
		if r.Source != "" {
			if o := check(r.Source); o != "" {
				return o
			}
		}
		for _, e := range r.Events {
			if e.Source != "" && e.Source != self {
				return e.Source
			}
			if _, ok := m.fsm.Agent(e.EntityId); ok && e.EntityId != self {
				return e.EntityId
			}
		}
	}
	return ""
}

// limitedReader fails once more than max bytes were read.
type limitedReader struct {
	r   io.Reader
	n   int64
	max int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.n += int64(n)
	if l.max > 0 && l.n > l.max {
		return n, fmt.Errorf("%w: the snapshot upload exceeds --max-snapshot-size (%d bytes)", ErrTooLarge, l.max)
	}
	return n, err
}

// ErrTooLarge refuses an upload over its cap (RESOURCE_EXHAUSTED).
var ErrTooLarge = rpc.NewSentinel("upload too large", rpc.ErrExhausted)
