package cluster

import (
	"context"
	"net"
	"time"

	"github.com/gridctl/grid/cluster/events"
	"github.com/gridctl/grid/rpc"
	"google.golang.org/grpc/peer"
)

// auditEntity is the entity of a refusal whose peer address is unknown.
const auditEntity = "cluster"

// Audit events are themselves rate-limited per (method, peer host), so a
// flood of refused calls cannot flood the event log: at most one event per
// auditInterval for each, after a burst of auditBurst.
const (
	auditInterval = 10 * time.Second
	auditBurst    = 3
)

// auditRefused records a refused gRPC call (bad or missing token, rate
// limit): AuditRefused with the caller's address from ctx.
func (m *Master) auditRefused(ctx context.Context, method, reason string) {
	peerAddr := ""
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		peerAddr = p.Addr.String()
	}
	m.AuditRefused(peerAddr, method, reason)
}

// AuditRefused records a refused request as a REQUEST_REFUSED event:
// entity is the caller's address (or "cluster" when unknown), details carry
// the method (a gRPC method or "POST /api/..."), the reason and the peer;
// never a token. It never blocks (emit drops when the queue is full) and
// is itself rate-limited per method and peer host. The REST API calls it
// for the requests it refuses itself.
func (m *Master) AuditRefused(peerAddr, method, reason string) {
	entity, host := auditEntity, peerAddr
	if peerAddr != "" {
		entity = peerAddr
		if h, _, err := net.SplitHostPort(peerAddr); err == nil {
			host = h
		}
	}
	m.logger.Warn("request refused", "method", rpc.Truncate(method, 256), "reason", reason, "peer", peerAddr)
	if m.endpoint.auditLimiter != nil && !m.endpoint.auditLimiter.allow(method+"|"+host, time.Now()) {
		return
	}
	m.emit(rpc.NewEvent(m.ID(), rpc.EventType_REQUEST_REFUSED, rpc.Truncate(entity, events.MaxEntityLen-3), map[string]string{
		"method": rpc.Truncate(method, 256),
		"reason": rpc.Truncate(reason, 512),
		"peer":   rpc.Truncate(peerAddr, 128),
	}))
}
