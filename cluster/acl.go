package cluster

import (
	"context"
	"fmt"
	"time"

	"github.com/gridctl/grid/fsm"
	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/rpc/security"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// aclResolver resolves ACL secrets against this master's replicated ACL
// state (security.TokenResolver). Expiry is judged by this master's clock.
type aclResolver struct{ f *fsm.FSM }

// ResolveToken implements security.TokenResolver.
func (r aclResolver) ResolveToken(secret string) (*security.Identity, error) {
	rec, ok := r.f.ACLTokenByHash(security.SecretHash(secret))
	if !ok {
		return nil, security.ErrNoSuchToken
	}
	if rec.ExpireTime != 0 && time.Now().UnixMicro() >= rec.ExpireTime {
		return nil, security.ErrNoSuchToken
	}
	var caps []string
	for _, p := range rec.Policies {
		if c, ok := security.BuiltinPolicy(p); ok {
			caps = append(caps, c...)
		} else if cp, ok := r.f.ACLPolicy(p); ok {
			caps = append(caps, cp.Capabilities...)
		}
	}
	name := rec.Name
	if name == "" {
		name = "accessor " + rec.AccessorId
	}
	return security.NewIdentity(rec.AccessorId, name, rec.AgentId, caps), nil
}

// Authorizer is this master's token authority (the REST API shares it).
func (m *Master) Authorizer() *security.Authorizer { return m.endpoint.auth }

// Streams bounds open event streams per token or client (the REST API
// shares it).
func (m *Master) Streams() *security.StreamLimiter { return m.endpoint.streams }

// newAuthorizer builds the master's Authorizer from its config.
func (m *Master) newAuthorizer() *security.Authorizer {
	var acl security.TokenResolver
	if m.config.ACL {
		acl = aclResolver{f: m.fsm}
	}
	return security.NewAuthorizer(m.config.APIToken, m.config.ReadToken, acl)
}

// aclOff refuses an ACL call on a master started without --acl.
func (m *Master) aclOff() error {
	if m.config.ACL {
		return nil
	}
	return status.Error(codes.FailedPrecondition, "ACLs are off on this master: start every master with --acl")
}

// tokenInfo is the public view of a stored token.
func tokenInfo(r *rpc.ACLTokenRecord) *rpc.ACLTokenInfo {
	return &rpc.ACLTokenInfo{AccessorId: r.AccessorId, Name: r.Name, Policies: r.Policies, AgentId: r.AgentId,
		CreateTime: r.CreateTime, ExpireTime: r.ExpireTime}
}

// newTokenRecord makes a token record and its secret.
func newTokenRecord(name string, policies []string, agentID string, ttl time.Duration) (*rpc.ACLTokenRecord, string, error) {
	acc, err := security.NewUUID()
	if err != nil {
		return nil, "", err
	}
	secret, err := security.NewUUID()
	if err != nil {
		return nil, "", err
	}
	now := time.Now()
	rec := &rpc.ACLTokenRecord{AccessorId: acc, SecretHash: security.SecretHash(secret), Name: name,
		Policies: policies, AgentId: agentID, CreateTime: now.UnixMicro()}
	if ttl > 0 {
		rec.ExpireTime = now.Add(ttl).UnixMicro()
	}
	return rec, secret, nil
}

// maxTokenTTL bounds --ttl.
const maxTokenTTL = 10 * 365 * 24 * time.Hour

// validateTokenRequest checks a token create request against the policies
// this master knows.
func (m *Master) validateTokenRequest(in *rpc.ACLTokenCreateRequest) error {
	if len(in.Policies) == 0 {
		return fmt.Errorf("%w: at least one --policy", security.ErrACL)
	}
	if len(in.Name) > 256 {
		return fmt.Errorf("%w: name is %d bytes; at most 256", security.ErrACL, len(in.Name))
	}
	if in.TtlSeconds < 0 || time.Duration(in.TtlSeconds)*time.Second > maxTokenTTL {
		return fmt.Errorf("%w: ttl %ds out of range (0 = never expires, at most 10 years)", security.ErrACL, in.TtlSeconds)
	}
	agentPolicy := false
	for _, p := range in.Policies {
		if p == security.PolicyAgent {
			agentPolicy = true
			continue
		}
		if security.IsBuiltinPolicy(p) {
			continue
		}
		if _, ok := m.fsm.ACLPolicy(p); !ok {
			return fmt.Errorf("%w: unknown policy %q", security.ErrACL, p)
		}
	}
	if agentPolicy && in.AgentId == "" {
		return fmt.Errorf("%w: the agent policy needs --agent AGENT_ID (a token acts for one agent)", security.ErrACL)
	}
	if in.AgentId != "" {
		if !agentPolicy {
			return fmt.Errorf("%w: --agent binds only tokens with the agent policy", security.ErrACL)
		}
		if err := rpc.ValidateID("agent_id", in.AgentId); err != nil {
			return err
		}
	}
	return nil
}

// ACLBootstrap creates the first management token, once.
func (s *gridService) ACLBootstrap(ctx context.Context, _ *rpc.Empty) (*rpc.ACLTokenSecret, error) {
	m := s.m
	if err := m.aclOff(); err != nil {
		return nil, err
	}
	return forward(ctx, m, func(ctx context.Context) (*rpc.ACLTokenSecret, error) {
		if m.fsm.ACLBootstrapped() {
			return nil, fsm.ErrACLBootstrapped
		}
		rec, secret, err := newTokenRecord("bootstrap token", []string{security.PolicyManagement}, "", 0)
		if err != nil {
			return nil, err
		}
		if _, err := m.raftApply(fsm.ACLBootstrapType, rec); err != nil {
			return nil, err
		}
		m.logger.Info("acl bootstrapped", "accessor_id", rec.AccessorId)
		return &rpc.ACLTokenSecret{Token: tokenInfo(rec), SecretId: secret}, nil
	}, func(ctx context.Context, c rpc.GridMasterClient) (*rpc.ACLTokenSecret, error) {
		return c.ACLBootstrap(ctx, &rpc.Empty{})
	})
}

// ACLTokenCreate creates a token with the named policies.
func (s *gridService) ACLTokenCreate(ctx context.Context, in *rpc.ACLTokenCreateRequest) (*rpc.ACLTokenSecret, error) {
	m := s.m
	if err := m.aclOff(); err != nil {
		return nil, err
	}
	return forward(ctx, m, func(ctx context.Context) (*rpc.ACLTokenSecret, error) {
		if err := m.validateTokenRequest(in); err != nil {
			return nil, err
		}
		rec, secret, err := newTokenRecord(in.Name, in.Policies, in.AgentId, time.Duration(in.TtlSeconds)*time.Second)
		if err != nil {
			return nil, err
		}
		if _, err := m.raftApply(fsm.ACLTokenUpsertType, rec); err != nil {
			return nil, err
		}
		m.logger.Info("acl token created", "accessor_id", rec.AccessorId, "policies", rec.Policies, "agent_id", rec.AgentId)
		return &rpc.ACLTokenSecret{Token: tokenInfo(rec), SecretId: secret}, nil
	}, func(ctx context.Context, c rpc.GridMasterClient) (*rpc.ACLTokenSecret, error) {
		return c.ACLTokenCreate(ctx, in)
	})
}

// ACLTokenList lists tokens (never their secrets).
func (s *gridService) ACLTokenList(ctx context.Context, _ *rpc.Empty) (*rpc.ACLTokens, error) {
	m := s.m
	if err := m.aclOff(); err != nil {
		return nil, err
	}
	out := &rpc.ACLTokens{}
	for _, r := range m.fsm.ACLTokens() {
		out.Tokens = append(out.Tokens, tokenInfo(r))
	}
	return out, nil
}

// ACLTokenRevoke deletes a token by accessor id.
func (s *gridService) ACLTokenRevoke(ctx context.Context, in *rpc.ACLAccessor) (*rpc.Empty, error) {
	m := s.m
	if err := m.aclOff(); err != nil {
		return nil, err
	}
	if in.AccessorId == "" || len(in.AccessorId) > 64 {
		return nil, status.Error(codes.InvalidArgument, "accessor_id: want a token's accessor id")
	}
	return forward(ctx, m, func(ctx context.Context) (*rpc.Empty, error) {
		if _, err := m.raftApply(fsm.ACLTokenRevokeType, in); err != nil {
			return nil, err
		}
		m.logger.Info("acl token revoked", "accessor_id", in.AccessorId)
		return &rpc.Empty{}, nil
	}, func(ctx context.Context, c rpc.GridMasterClient) (*rpc.Empty, error) {
		return c.ACLTokenRevoke(ctx, in)
	})
}

// ACLPolicyUpsert writes a custom policy.
func (s *gridService) ACLPolicyUpsert(ctx context.Context, in *rpc.ACLPolicy) (*rpc.Empty, error) {
	m := s.m
	if err := m.aclOff(); err != nil {
		return nil, err
	}
	if err := security.ValidatePolicy(in.Name, in.Capabilities); err != nil {
		return nil, toStatus(err)
	}
	return forward(ctx, m, func(ctx context.Context) (*rpc.Empty, error) {
		if _, err := m.raftApply(fsm.ACLPolicyUpsertType, in); err != nil {
			return nil, err
		}
		return &rpc.Empty{}, nil
	}, func(ctx context.Context, c rpc.GridMasterClient) (*rpc.Empty, error) {
		return c.ACLPolicyUpsert(ctx, in)
	})
}

// ACLPolicyList lists the built-in and custom policies.
func (s *gridService) ACLPolicyList(ctx context.Context, _ *rpc.Empty) (*rpc.ACLPolicies, error) {
	out := &rpc.ACLPolicies{}
	for _, name := range []string{security.PolicyManagement, security.PolicyOperator, security.PolicyRead, security.PolicyAgent} {
		caps, _ := security.BuiltinPolicy(name)
		out.Policies = append(out.Policies, &rpc.ACLPolicy{Name: name, Capabilities: caps, Description: "built-in"})
	}
	out.Policies = append(out.Policies, s.m.fsm.ACLPolicies()...)
	return out, nil
}

// ACLPolicyDelete deletes a custom policy.
func (s *gridService) ACLPolicyDelete(ctx context.Context, in *rpc.ACLPolicyName) (*rpc.Empty, error) {
	m := s.m
	if err := m.aclOff(); err != nil {
		return nil, err
	}
	return forward(ctx, m, func(ctx context.Context) (*rpc.Empty, error) {
		if _, err := m.raftApply(fsm.ACLPolicyDeleteType, in); err != nil {
			return nil, err
		}
		return &rpc.Empty{}, nil
	}, func(ctx context.Context, c rpc.GridMasterClient) (*rpc.Empty, error) {
		return c.ACLPolicyDelete(ctx, in)
	})
}
