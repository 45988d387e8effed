package nodes

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gridctl/grid/rpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// AgentRefusal is an agent's answer refusing an order (bad port, path taken,
// full agent...). The client gets the agent's own gRPC code and message.
type AgentRefusal struct {
	AgentID string
	Code    codes.Code
	Message string
}

func (e *AgentRefusal) Error() string {
	return fmt.Sprintf("agent %s refused: %s", e.AgentID, e.Message)
}

// Unwrap makes errors.Is(err, ErrAgentRefused) true.
func (e *AgentRefusal) Unwrap() error { return ErrAgentRefused }

// GRPCCode is the agent's code (rpc.Coded), except that codes which would
// mislead the client (NOT_FOUND: the agent does not know the node, not the
// client's target; UNKNOWN; OK) become FAILED_PRECONDITION.
func (e *AgentRefusal) GRPCCode() codes.Code {
	switch e.Code {
	case codes.NotFound, codes.Unknown, codes.OK:
		return codes.FailedPrecondition
	}
	return e.Code
}

// AgentDialer hands out a gRPC client per agent. Drop forgets an agent's
// connection after a transport failure; CloseAll ends every connection when
// leadership ends.
type AgentDialer interface {
	Client(agentID, endpoint string) (rpc.GridAgentClient, error)
	Drop(agentID string)
	CloseAll()
}

// agentConnIdleTimeout is how long a cached agent connection may go unused
// before gRPC closes its transport and goroutines (it reconnects on the next
// call). With thousands of agents, most are called only by the reconciler's
// slow sweep, so most connections stay idle and cost a few hundred bytes.
const agentConnIdleTimeout = time.Minute

// AgentPool is the AgentDialer of a master: it caches one gRPC connection
// per agent (keyed by agent id and endpoint). A connection is dropped when a call on it fails as
// unreachable, and all are closed when leadership ends; an unused one goes
// idle (no transport, no goroutines) after agentConnIdleTimeout.
type AgentPool struct {
	mu       sync.Mutex
	conns    map[string]agentConn
	dialOpts []grpc.DialOption
}

// NewAgentPool returns a pool dialing with opts (the master's transport
// credentials and token).
func NewAgentPool(opts []grpc.DialOption) *AgentPool {
	return &AgentPool{conns: make(map[string]agentConn), dialOpts: opts}
}

type agentConn struct {
	endpoint string
	conn     *grpc.ClientConn
}

// Client returns a client for the agent at endpoint, dialing (lazily) when
// there is no cached connection or the agent moved to another endpoint.
func (p *AgentPool) Client(agentID, endpoint string) (rpc.GridAgentClient, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.conns[agentID]; ok {
		if c.endpoint == endpoint {
			return rpc.NewGridAgentClient(c.conn), nil
		}
		_ = c.conn.Close()
		delete(p.conns, agentID)
	}
	opts := append(append([]grpc.DialOption(nil), p.dialOpts...), grpc.WithIdleTimeout(agentConnIdleTimeout))
	conn, err := grpc.NewClient(endpoint, opts...)
	if err != nil {
		return nil, fmt.Errorf("dial agent %s at %q: %w", agentID, endpoint, err)
	}
	p.conns[agentID] = agentConn{endpoint: endpoint, conn: conn}
	return rpc.NewGridAgentClient(conn), nil
}

// Drop closes and forgets the agent's cached connection.
func (p *AgentPool) Drop(agentID string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.conns[agentID]; ok {
		_ = c.conn.Close()
		delete(p.conns, agentID)
	}
}

// CloseAll closes every cached connection.
func (p *AgentPool) CloseAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, c := range p.conns {
		_ = c.conn.Close()
		delete(p.conns, id)
	}
}

// agentCallRetryable reports whether a failed agent call may be tried again:
// only when the agent could not be reached or did not answer in time.
func agentCallRetryable(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded:
		return true
	}
	return false
}

// callAgent runs one call on agent a with the seeds' policy: up to
// cfg.AgentCallAttempts tries, waiting cfg.AgentRetryBackoff[i] after the
// i-th failure, retrying only UNAVAILABLE and DEADLINE_EXCEEDED, all within
// timeout. A transport failure is returned wrapping ErrAgentUnreachable;
// NOT_FOUND is returned as the agent's status error (callers decide what an
// unknown node means); any other agent error is an *AgentRefusal.
func (o *Orchestrator) callAgent(ctx context.Context, a *rpc.AgentRecord, op string, timeout time.Duration,
	call func(ctx context.Context, c rpc.GridAgentClient) error) error {
	if a.Endpoint == "" {
		return fmt.Errorf("agent %s has no endpoint in the registry: %w", a.AgentId, ErrAgentUnreachable)
	}
	cfg := o.cfg
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var err error
	for attempt := 0; ; attempt++ {
		var c rpc.GridAgentClient
		if c, err = o.agents.Client(a.AgentId, a.Endpoint); err != nil {
			return fmt.Errorf("%s: %w: %v", op, ErrAgentUnreachable, err)
		}
		if err = call(ctx, c); err == nil {
			return nil
		}
		// CANCELED while our context is alive means the cached connection
		// was closed under the call (leadership ended and began again).
		closedConn := status.Code(err) == codes.Canceled && ctx.Err() == nil
		if !agentCallRetryable(err) && !closedConn {
			break
		}
		o.agents.Drop(a.AgentId)
		if attempt+1 >= cfg.AgentCallAttempts || ctx.Err() != nil {
			break
		}
		wait := cfg.AgentRetryBackoff[min(attempt, len(cfg.AgentRetryBackoff)-1)]
		o.log.Debug("agent call failed, retrying", "op", op, "agent_id", a.AgentId, "attempt", attempt+1, "wait", wait, "error", err)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
	return classifyAgentError(a, op, err)
}

// classifyAgentError turns a failed agent call into ErrAgentUnreachable,
// the agent's NOT_FOUND, or an *AgentRefusal.
func classifyAgentError(a *rpc.AgentRecord, op string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || agentCallRetryable(err) ||
		status.Code(err) == codes.Canceled {
		return fmt.Errorf("%s on agent %s (%s): %w: %s", op, a.AgentId, a.Endpoint, ErrAgentUnreachable, statusMessage(err))
	}
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("%s on agent %s (%s): %w: %v", op, a.AgentId, a.Endpoint, ErrAgentUnreachable, err)
	}
	if st.Code() == codes.NotFound {
		return err
	}
	return &AgentRefusal{AgentID: a.AgentId, Code: st.Code(), Message: st.Message()}
}

// statusMessage is a gRPC error's message without the "rpc error: code"
// prefix.
func statusMessage(err error) string {
	if st, ok := status.FromError(err); ok {
		return st.Message()
	}
	return err.Error()
}
