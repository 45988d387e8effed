package security

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/gridctl/grid/rpc"
)

// ErrInvalidGossipKey marks a --encrypt value that is not a base64 key of
// 16, 24 or 32 bytes.
var ErrInvalidGossipKey = errors.New("invalid gossip encryption key")

// ErrInvalidToken marks an unusable --api-token / --read-token setting.
var ErrInvalidToken = errors.New("invalid API token setting")

// GossipKeySize is the size of keys made by NewGossipKey (AES-256).
const GossipKeySize = 32

// maxTokenLen bounds a configured token.
const maxTokenLen = 1024

// unauthenticatedMsg is the one refusal message: it never says which part
// was wrong and never echoes what was sent.
const unauthenticatedMsg = "missing or invalid API token"

// Reasons handed to the onRefused hook of AuthInterceptors.
const (
	// RefusedMissingToken: the call carried no bearer token.
	RefusedMissingToken = "missing token"
	// RefusedInvalidToken: the token matched no configured token.
	RefusedInvalidToken = "invalid token"
	// RefusedReadOnlyToken: the read-only token was used on a mutating method.
	RefusedReadOnlyToken = "read-only token on a mutating method"
	// RefusedNoWriteToken: a read-only token is configured without a full one,
	// so no mutating call can be authorized.
	RefusedNoWriteToken = "no full API token configured"
)

// NewGossipKey returns a fresh random 32-byte memberlist key, base64.
func NewGossipKey() (string, error) {
	key := make([]byte, GossipKeySize)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("read random key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(key), nil
}

// ParseGossipKey decodes a --encrypt value: standard base64 of 16, 24 or
// 32 bytes (AES-128/192/256), the form `grid keygen` prints. The error
// never contains the key.
func ParseGossipKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, fmt.Errorf("%w: it is empty (make one with `grid keygen`)", ErrInvalidGossipKey)
	}
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: it is not standard base64 (make one with `grid keygen`)", ErrInvalidGossipKey)
	}
	switch len(key) {
	case 16, 24, 32:
		return key, nil
	}
	return nil, fmt.Errorf("%w: it decodes to %d bytes; want 16, 24 or 32 (make one with `grid keygen`)",
		ErrInvalidGossipKey, len(key))
}

// ValidateTokens checks --api-token and --read-token at startup: printable
// ASCII without spaces, at most 1024 bytes, a read token only together with
// a full token and different from it. Empty both means tokens are off.
func ValidateTokens(token, readToken string) error {
	for _, t := range []struct{ flag, value string }{{"--api-token", token}, {"--read-token", readToken}} {
		if len(t.value) > maxTokenLen {
			return fmt.Errorf("%w: %s is %d bytes; at most %d", ErrInvalidToken, t.flag, len(t.value), maxTokenLen)
		}
		for _, r := range t.value {
			if r <= ' ' || r > '~' {
				return fmt.Errorf("%w: %s must be printable ASCII without spaces", ErrInvalidToken, t.flag)
			}
		}
	}
	if readToken != "" && token == "" {
		return fmt.Errorf("%w: --read-token needs --api-token too (otherwise nobody could change anything)", ErrInvalidToken)
	}
	if readToken != "" && readToken == token {
		return fmt.Errorf("%w: --read-token must differ from --api-token", ErrInvalidToken)
	}
	return nil
}

// TokenMatches compares a presented token with the configured one in
// constant time (length included: both are hashed first). An empty
// configured token matches nothing.
func TokenMatches(presented, token string) bool {
	if token == "" {
		return false
	}
	a, b := sha256.Sum256([]byte(presented)), sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// BearerToken extracts the token of an "authorization: Bearer <token>"
// value (scheme case-insensitive).
func BearerToken(authorization string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(authorization), " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// presentedToken is the one bearer token in md; a reason when there is none
// or more than one.
func presentedToken(md metadata.MD) (string, string) {
	return presentedValues(md.Get(rpc.AuthorizationMetadataKey))
}

// presentedTokenIn is presentedToken of a call's incoming metadata, read
// without copying the whole metadata (it runs on every call).
func presentedTokenIn(ctx context.Context) (string, string) {
	return presentedValues(metadata.ValueFromIncomingContext(ctx, rpc.AuthorizationMetadataKey))
}

// presentedValues is presentedToken of the authorization values.
func presentedValues(vals []string) (string, string) {
	if len(vals) == 0 {
		return "", RefusedMissingToken
	}
	if len(vals) > 1 {
		return "", RefusedInvalidToken
	}
	tok, ok := BearerToken(vals[0])
	if !ok {
		return "", RefusedMissingToken
	}
	return tok, ""
}

// CheckBearer checks that md carries "Bearer <token>" (constant-time). An
// empty token means tokens are off and every call passes. The refusal is
// a gRPC UNAUTHENTICATED status that never echoes the token.
func CheckBearer(md metadata.MD, token string) error {
	if token == "" {
		return nil
	}
	tok, reason := presentedToken(md)
	if reason != "" || !TokenMatches(tok, token) {
		return status.Error(codes.Unauthenticated, unauthenticatedMsg)
	}
	return nil
}

// bearerCredentials put the API token on every call; the token of a
// TokenHolder when holder is set.
type bearerCredentials struct {
	token  string
	holder *TokenHolder
}

// TokenHolder is a token that can be replaced at run time (an agent's
// token reloaded on SIGHUP); its Credentials send the current one.
type TokenHolder struct{ v atomic.Pointer[string] }

// NewTokenHolder holds token.
func NewTokenHolder(token string) *TokenHolder {
	h := &TokenHolder{}
	h.Set(token)
	return h
}

// Set replaces the token.
func (h *TokenHolder) Set(token string) { h.v.Store(&token) }

// Get is the current token.
func (h *TokenHolder) Get() string { return *h.v.Load() }

// Credentials are TokenCredentials that send the holder's current token.
func (h *TokenHolder) Credentials() credentials.PerRPCCredentials {
	return bearerCredentials{holder: h}
}

// GetRequestMetadata implements credentials.PerRPCCredentials: the
// override of WithBearerOverride, else the configured token.
func (b bearerCredentials) GetRequestMetadata(ctx context.Context, _ ...string) (map[string]string, error) {
	tok := b.token
	if b.holder != nil {
		tok = b.holder.Get()
	}
	if o, ok := ctx.Value(bearerOverrideKey{}).(string); ok {
		tok = o
	}
	if tok == "" {
		return nil, nil
	}
	return map[string]string{rpc.AuthorizationMetadataKey: "Bearer " + tok}, nil
}

// bearerOverrideKey carries a token that replaces TokenCredentials' own.
type bearerOverrideKey struct{}

// WithBearerOverride makes TokenCredentials send tok instead of their own
// token on calls made with ctx (a master forwarding a caller's call).
func WithBearerOverride(ctx context.Context, tok string) context.Context {
	return context.WithValue(ctx, bearerOverrideKey{}, tok)
}

// RequireTransportSecurity implements credentials.PerRPCCredentials: the
// token may travel over plaintext (TLS is a separate, recommended choice).
func (bearerCredentials) RequireTransportSecurity() bool { return false }

// TokenCredentials are per-call credentials carrying "Bearer <token>"; use
// them with grpc.WithPerRPCCredentials. An empty token sends nothing, so
// clients can always install them.
func TokenCredentials(token string) credentials.PerRPCCredentials {
	return bearerCredentials{token: token}
}

// AuthInterceptors guard a gRPC server with the static API tokens (agents
// use them; masters build theirs from an Authorizer with ACLs). With both
// tokens empty every call passes. Otherwise a mutating method (isMutating;
// nil treats every method as mutating) needs the full token; a non-mutating
// one needs the full or the read-only token when readToken is set, and
// nothing when it is not. A refusal is UNAUTHENTICATED ("missing or invalid
// API token"), or PERMISSION_DENIED naming the missing capability, and calls
// onRefused (may be nil) with the method and the reason, never the token.
func AuthInterceptors(token, readToken string, isMutating func(fullMethod string) bool,
	onRefused func(ctx context.Context, fullMethod, reason string)) (grpc.UnaryServerInterceptor, grpc.StreamServerInterceptor) {
	return StaticAuthInterceptors(NewAuthorizer(token, readToken, nil), isMutating, onRefused)
}

// StaticAuthInterceptors are AuthInterceptors over an Authorizer of static
// tokens, which SetTokens can replace at run time (an agent's SIGHUP).
func StaticAuthInterceptors(a *Authorizer, isMutating func(fullMethod string) bool,
	onRefused func(ctx context.Context, fullMethod, reason string)) (grpc.UnaryServerInterceptor, grpc.StreamServerInterceptor) {
	capOf := func(m string) string {
		if openMethods[m] {
			return ""
		}
		if isMutating != nil && !isMutating(m) {
			return CapRead
		}
		if c := MethodCapability(m); c != CapUnknown && c != CapRead && c != "" {
			return c
		}
		return CapUnknown
	}
	return Interceptors(a, capOf, nil, onRefused)
}

// openMethods need no token even when --read-token is set: readiness and
// health probes, which reveal only whether the process is ready.
var openMethods = map[string]bool{
	rpc.GridMaster_Ready_FullMethodName: true,
	"/grpc.health.v1.Health/Check":      true,
	"/grpc.health.v1.Health/Watch":      true,
}

// readOnlyMethods are the methods served on masters' and agents' gRPC ports
// that change nothing: GridMaster and GridAgent reads, the masters'
// read-only StorageService view of the event graph, gRPC health and
// reflection. Every other method counts as mutating, so a method added
// later is guarded by the full token until it is listed here. SaveSnapshot
// changes nothing but exports the whole state (tokens' hashes, every event
// in one file), so it is not listed: it needs the full token. Monitor
// (GridMaster and GridAgent) is deliberately not listed either: it changes
// nothing, but log lines can tell more than a read-only token should see.
var readOnlyMethods = map[string]bool{
	rpc.GridMaster_GetStorageNodeStatus_FullMethodName:               true,
	rpc.GridMaster_ListAgents_FullMethodName:                         true,
	rpc.GridMaster_GetClusterStatus_FullMethodName:                   true,
	rpc.GridMaster_ListStorageNodes_FullMethodName:                   true,
	rpc.GridMaster_QueryEvents_FullMethodName:                        true,
	rpc.GridMaster_StreamEvents_FullMethodName:                       true,
	rpc.GridMaster_AskQuery_FullMethodName:                           true,
	rpc.GridMaster_ListMasters_FullMethodName:                        true,
	rpc.GridMaster_ListMembers_FullMethodName:                        true,
	rpc.GridMaster_Ready_FullMethodName:                              true,
	rpc.GridMaster_GetStateHash_FullMethodName:                       true,
	rpc.GridMaster_VerifyReplicas_FullMethodName:                     true,
	rpc.GridMaster_GetReplicaDigest_FullMethodName:                   true,
	rpc.GridMaster_GetAgent_FullMethodName:                           true,
	rpc.GridMaster_GetAutopilotConfig_FullMethodName:                 true,
	rpc.GridMaster_AutopilotHealth_FullMethodName:                    true,
	rpc.GridMaster_ListAlerts_FullMethodName:                         true,
	rpc.GridMaster_WebhookStatus_FullMethodName:                      true,
	rpc.GridAgent_GetNodeStatus_FullMethodName:                       true,
	rpc.GridAgent_ListNodes_FullMethodName:                           true,
	rpc.StorageService_QueryConcept_FullMethodName:                   true,
	rpc.StorageService_GetNeighbors_FullMethodName:                   true,
	rpc.StorageService_FindPath_FullMethodName:                       true,
	rpc.StorageService_GetStats_FullMethodName:                       true,
	rpc.StorageService_HealthCheck_FullMethodName:                    true,
	rpc.StorageService_VectorSearch_FullMethodName:                   true,
	"/grpc.health.v1.Health/Check":                                   true,
	"/grpc.health.v1.Health/Watch":                                   true,
	"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo":      true,
	"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": true,
}

// IsMutatingGridMethod reports whether a method served on a master's gRPC
// port changes state. For GridMaster: RegisterAgent, Heartbeat,
// UnregisterAgent, SpawnStorageNode, StopStorageNode, ReportNodeStatus,
// EmitEvents, RemovePeer, TransferLeadership, RestoreSnapshot,
// SaveSnapshot (not a change, but a full export: full token only) and
// Monitor (full token for log streaming); the
// StorageService reads, health and reflection are not. Unknown methods
// count as mutating.
func IsMutatingGridMethod(fullMethod string) bool {
	return !readOnlyMethods[fullMethod]
}

// IsMutatingAgentMethod reports whether a GridAgent method changes state
// (SpawnNode, StopNode). Unknown methods count as mutating.
func IsMutatingAgentMethod(fullMethod string) bool {
	return !readOnlyMethods[fullMethod]
}
