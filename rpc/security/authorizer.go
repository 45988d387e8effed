package security

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TokenResolver looks ACL tokens up (the masters' replicated ACL state).
type TokenResolver interface {
	// ResolveToken returns the identity of a live token's secret, or
	// ErrNoSuchToken (unknown, revoked or expired).
	ResolveToken(secret string) (*Identity, error)
}

// Authorizer decides who a caller is and whether it holds a capability:
// the static tokens (--api-token = management, --read-token = read) and,
// when ACLs are on, the replicated ACL tokens. The static tokens can be
// replaced at run time (SIGHUP). It serves the gRPC interceptors and the
// REST API alike.
type Authorizer struct {
	mu               sync.RWMutex
	token, readToken string
	// tokenSum and readSum are the static tokens' SHA-256, hashed once: a
	// call hashes only the token it presents (constant-time compare).
	tokenSum, readSum [sha256.Size]byte
	acl               TokenResolver
}

// NewAuthorizer makes an Authorizer; acl nil means ACLs are off.
func NewAuthorizer(token, readToken string, acl TokenResolver) *Authorizer {
	return &Authorizer{token: token, readToken: readToken, acl: acl,
		tokenSum: sha256.Sum256([]byte(token)), readSum: sha256.Sum256([]byte(readToken))}
}

// SetTokens replaces the static tokens (after ValidateTokens).
func (a *Authorizer) SetTokens(token, readToken string) error {
	if err := ValidateTokens(token, readToken); err != nil {
		return err
	}
	a.mu.Lock()
	a.token, a.readToken = token, readToken
	a.tokenSum, a.readSum = sha256.Sum256([]byte(token)), sha256.Sum256([]byte(readToken))
	a.mu.Unlock()
	return nil
}

// ACLEnabled reports whether ACL tokens are enforced.
func (a *Authorizer) ACLEnabled() bool { return a.acl != nil }

// Open reports whether nothing is enforced: no token and no ACL.
func (a *Authorizer) Open() bool {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.acl == nil && a.token == "" && a.readToken == ""
}

// Refusal is why a call was refused: the gRPC code (UNAUTHENTICATED or
// PERMISSION_DENIED), the audit reason and the message for the caller,
// which names the missing capability and never the token.
type Refusal struct {
	Code    codes.Code
	Reason  string
	Message string
}

// Err is the refusal as a gRPC status error.
func (r *Refusal) Err() error { return status.Error(r.Code, r.Message) }

// The identities Authorize hands out that depend on no ACL token, built
// once (they are never modified): anonymousOpen is every caller's when
// nothing is enforced.
var (
	anonymousOpen   = NewIdentity("", "anonymous", "", builtinPolicies[PolicyManagement])
	anonymousNoCap  = NewIdentity("", "anonymous", "", nil)
	anonymousRead   = NewIdentity("", "anonymous", "", builtinPolicies[PolicyRead])
	staticManagerID = NewIdentity("", "static management token", "", builtinPolicies[PolicyManagement])
	staticReaderID  = NewIdentity("", "static read token", "", builtinPolicies[PolicyRead])
)

// Authorize resolves secret (present tells whether a bearer token was sent
// at all) and checks capability c ("" needs nothing). It returns the
// caller's identity, or the refusal.
func (a *Authorizer) Authorize(secret string, present bool, c string) (*Identity, *Refusal) {
	a.mu.RLock()
	token, readToken, acl := a.token, a.readToken, a.acl
	tokenSum, readSum := a.tokenSum, a.readSum
	a.mu.RUnlock()
	if acl == nil && token == "" && readToken == "" {
		return anonymousOpen, nil
	}
	// Without ACLs and a read token, reads stay open as they always were.
	readOpen := acl == nil && readToken == "" && (c == CapRead || c == CapOperatorRead)
	var id *Identity
	var presented [sha256.Size]byte
	if present {
		presented = sha256.Sum256([]byte(secret))
	}
	switch {
	case c == "":
		return anonymousNoCap, nil
	case readOpen:
		return anonymousRead, nil
	case !present:
		return nil, &Refusal{codes.Unauthenticated, RefusedMissingToken,
			fmt.Sprintf("%s: this call needs a bearer token with capability %q", unauthenticatedMsg, c)}
	case token != "" && subtle.ConstantTimeCompare(presented[:], tokenSum[:]) == 1:
		id = staticManagerID
	case readToken != "" && subtle.ConstantTimeCompare(presented[:], readSum[:]) == 1:
		id = staticReaderID
	case acl != nil:
		var err error
		if id, err = acl.ResolveToken(secret); err != nil {
			return nil, &Refusal{codes.Unauthenticated, RefusedInvalidToken, unauthenticatedMsg + ": the bearer token is not valid (unknown, revoked or expired)"}
		}
	case token == "" && c != CapRead && c != CapOperatorRead:
		return nil, &Refusal{codes.Unauthenticated, RefusedNoWriteToken, unauthenticatedMsg}
	default:
		return nil, &Refusal{codes.Unauthenticated, RefusedInvalidToken, unauthenticatedMsg + ": the bearer token is not valid"}
	}
	if !id.Allows(c) {
		reason := RefusedMissingCapability + " " + c
		if id.Name == "static read token" {
			reason = RefusedReadOnlyToken
		}
		return nil, &Refusal{codes.PermissionDenied, reason,
			fmt.Sprintf("permission denied: token %q lacks capability %q", id.Name, c)}
	}
	return id, nil
}

// RefusedMissingCapability prefixes the audit reason of a token that lacks
// a capability; the capability follows.
const RefusedMissingCapability = "missing capability"

// identityKey carries the caller's Identity in a context.
type identityKey struct{}

// WithIdentity returns ctx carrying id.
func WithIdentity(ctx context.Context, id *Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// IdentityFrom returns the caller's identity put there by the interceptors
// or the REST API; nil when none.
func IdentityFrom(ctx context.Context) *Identity {
	id, _ := ctx.Value(identityKey{}).(*Identity)
	return id
}

// bearerKey carries the caller's bearer secret in a context, so a call
// made on its behalf (a forward to the leader) presents the same token.
type bearerKey struct{}

// WithBearer returns ctx carrying the caller's secret.
func WithBearer(ctx context.Context, secret string) context.Context {
	return context.WithValue(ctx, bearerKey{}, secret)
}

// BearerFrom returns the caller's secret: the one WithBearer stored, else
// the incoming gRPC metadata's bearer token.
func BearerFrom(ctx context.Context) string {
	if s, ok := ctx.Value(bearerKey{}).(string); ok {
		return s
	}
	tok, _ := presentedTokenIn(ctx)
	return tok
}

// CallCheck is an extra check of a unary call once its identity is known
// (an agent-bound token acting for its own agent only); a non-nil Refusal
// refuses the call.
type CallCheck func(ctx context.Context, fullMethod string, id *Identity, req any) *Refusal

// Interceptors guard a gRPC server with a: capOf names the capability of
// each method, check (may be nil) runs on unary calls after the identity
// is known, onRefused (may be nil) is told of every refusal. The identity
// and the caller's secret ride in the handler's context (IdentityFrom,
// BearerFrom).
func Interceptors(a *Authorizer, capOf func(string) string, check CallCheck,
	onRefused func(ctx context.Context, fullMethod, reason string)) (grpc.UnaryServerInterceptor, grpc.StreamServerInterceptor) {
	authorize := func(ctx context.Context, method string) (context.Context, *Refusal) {
		tok, reason := presentedTokenIn(ctx)
		if reason == RefusedInvalidToken { // two tokens
			return ctx, &Refusal{codes.Unauthenticated, reason, unauthenticatedMsg}
		}
		id, ref := a.Authorize(tok, reason == "", capOf(method))
		if ref != nil {
			return ctx, ref
		}
		return WithIdentity(ctx, id), nil
	}
	refuse := func(ctx context.Context, method string, r *Refusal) error {
		if onRefused != nil {
			onRefused(ctx, method, r.Reason)
		}
		return r.Err()
	}
	unary := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, ref := authorize(ctx, info.FullMethod)
		if ref == nil && check != nil {
			ref = check(ctx, info.FullMethod, IdentityFrom(ctx), req)
		}
		if ref != nil {
			return nil, refuse(ctx, info.FullMethod, ref)
		}
		return handler(ctx, req)
	}
	stream := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, ref := authorize(ss.Context(), info.FullMethod)
		if ref == nil && check != nil {
			ref = check(ctx, info.FullMethod, IdentityFrom(ctx), nil)
		}
		if ref != nil {
			return refuse(ctx, info.FullMethod, ref)
		}
		return handler(srv, &identityStream{ServerStream: ss, ctx: ctx})
	}
	return unary, stream
}

// identityStream is a ServerStream whose context carries the identity.
type identityStream struct {
	grpc.ServerStream
	ctx context.Context
}

// Context implements grpc.ServerStream.
func (s *identityStream) Context() context.Context { return s.ctx }
