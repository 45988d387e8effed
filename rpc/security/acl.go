package security

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/gridctl/grid/rpc"
)

// Capabilities: what a policy allows. Every gRPC method and REST endpoint
// needs exactly one (MethodCapability; the REST routes name theirs).
const (
	// CapRead: status, agents, nodes, masters, members, events (listing,
	// stream, natural-language query) and the event graph's reads.
	CapRead = "read"
	// CapAgentRegister: RegisterAgent.
	CapAgentRegister = "agent:register"
	// CapAgentHeartbeat: Heartbeat.
	CapAgentHeartbeat = "agent:heartbeat"
	// CapNodeReport: ReportNodeStatus (an agent's report on its own node).
	CapNodeReport = "node:report"
	// CapEventsEmit: EmitEvents.
	CapEventsEmit = "events:emit"
	// CapNodeData: FetchNodeData on an agent, a stopped node's data
	// directory, which another agent copies when a drain migrates the node.
	CapNodeData = "node:data"
	// CapAgentWrite: UnregisterAgent, RemoveAgent, SetAgentEligibility and
	// DrainAgent.
	CapAgentWrite = "agent:write"
	// CapNodeSpawn: SpawnStorageNode.
	CapNodeSpawn = "node:spawn"
	// CapNodeStop: StopStorageNode.
	CapNodeStop = "node:stop"
	// CapOperatorRaft: RemovePeer, TransferLeadership, SetAutopilotConfig.
	CapOperatorRaft = "operator:raft"
	// CapOperatorRead: GetStateHash, VerifyReplicas and GetReplicaDigest
	// (operator verify), GetAutopilotConfig and AutopilotHealth.
	CapOperatorRead = "operator:read"
	// CapMonitor: Monitor, a member's live log lines (masters' and
	// agents'); not in the read policy, as logs tell more than reads.
	CapMonitor = "operator:monitor"
	// CapSnapshotSave: SaveSnapshot.
	CapSnapshotSave = "snapshot:save"
	// CapSnapshotRestore: RestoreSnapshot.
	CapSnapshotRestore = "snapshot:restore"
	// CapKeyring: the gossip keyring (list, install, use, remove).
	CapKeyring = "operator:keyring"
	// CapACLRead: list ACL tokens and policies.
	CapACLRead = "acl:read"
	// CapACLWrite: create and revoke ACL tokens, write and delete policies.
	CapACLWrite = "acl:write"
	// CapStorageWrite: the StorageService writes (never allowed on masters'
	// read-only view; named so they can be refused with a capability).
	CapStorageWrite = "storage:write"
	// CapUnknown: a method no table lists; only management has it.
	CapUnknown = "unknown"
)

// Built-in policy names.
const (
	PolicyManagement = "management"
	PolicyOperator   = "operator"
	PolicyRead       = "read"
	PolicyAgent      = "agent"
)

// AllCapabilities lists every capability a custom policy may name.
var AllCapabilities = []string{
	CapRead, CapAgentRegister, CapAgentHeartbeat, CapNodeReport, CapEventsEmit,
	CapAgentWrite, CapNodeSpawn, CapNodeStop, CapOperatorRaft, CapOperatorRead,
	CapSnapshotSave, CapSnapshotRestore, CapKeyring, CapACLRead, CapACLWrite, CapStorageWrite,
	CapMonitor, CapNodeData,
}

// ErrACL marks a bad ACL request: an unknown policy or capability, a bad
// name, a bound agent id on a policy that is not agent.
var ErrACL = rpc.NewSentinel("invalid ACL request", rpc.ErrInvalid)

// builtinPolicies are the capabilities of the built-in policies.
var builtinPolicies = map[string][]string{
	PolicyManagement: append(append([]string{}, AllCapabilities...), CapUnknown),
	PolicyOperator: {CapRead, CapAgentRegister, CapAgentHeartbeat, CapNodeReport, CapEventsEmit,
		CapAgentWrite, CapNodeSpawn, CapNodeStop, CapOperatorRaft, CapOperatorRead,
		CapSnapshotSave, CapSnapshotRestore, CapKeyring, CapMonitor, CapNodeData},
	PolicyRead:  {CapRead, CapOperatorRead},
	PolicyAgent: {CapAgentRegister, CapAgentHeartbeat, CapNodeReport, CapEventsEmit, CapNodeData},
}

// BuiltinPolicy returns a built-in policy's capabilities.
func BuiltinPolicy(name string) ([]string, bool) {
	caps, ok := builtinPolicies[name]
	return caps, ok
}

// IsBuiltinPolicy reports whether name is a built-in policy.
func IsBuiltinPolicy(name string) bool { _, ok := builtinPolicies[name]; return ok }

// policyNameRe is what a custom policy's name may look like.
var policyNameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// ValidatePolicy checks a custom policy: a lower-case name that is not a
// built-in one and known, distinct capabilities (at least one).
func ValidatePolicy(name string, caps []string) error {
	if !policyNameRe.MatchString(name) {
		return fmt.Errorf("%w: policy name %q: want [a-z0-9][a-z0-9_-]{0,63}", ErrACL, name)
	}
	if IsBuiltinPolicy(name) {
		return fmt.Errorf("%w: %q is a built-in policy", ErrACL, name)
	}
	if len(caps) == 0 {
		return fmt.Errorf("%w: policy %q lists no capability", ErrACL, name)
	}
	known := map[string]bool{}
	for _, c := range AllCapabilities {
		known[c] = true
	}
	seen := map[string]bool{}
	for _, c := range caps {
		if !known[c] {
			return fmt.Errorf("%w: unknown capability %q (known: %s)", ErrACL, c, strings.Join(AllCapabilities, ", "))
		}
		if seen[c] {
			return fmt.Errorf("%w: capability %q listed twice", ErrACL, c)
		}
		seen[c] = true
	}
	return nil
}

// methodCaps maps every gRPC method served on masters' and agents' ports to
// the capability it needs; "" marks the open probes.
var methodCaps = map[string]string{
	rpc.GridMaster_RegisterAgent_FullMethodName:                      CapAgentRegister,
	rpc.GridMaster_Heartbeat_FullMethodName:                          CapAgentHeartbeat,
	rpc.GridMaster_HeartbeatStream_FullMethodName:                    CapAgentHeartbeat,
	rpc.GridMaster_UnregisterAgent_FullMethodName:                    CapAgentWrite,
	rpc.GridMaster_SpawnStorageNode_FullMethodName:                   CapNodeSpawn,
	rpc.GridMaster_StopStorageNode_FullMethodName:                    CapNodeStop,
	rpc.GridMaster_GetStorageNodeStatus_FullMethodName:               CapRead,
	rpc.GridMaster_ListAgents_FullMethodName:                         CapRead,
	rpc.GridMaster_GetClusterStatus_FullMethodName:                   CapRead,
	rpc.GridMaster_ListStorageNodes_FullMethodName:                   CapRead,
	rpc.GridMaster_ReportNodeStatus_FullMethodName:                   CapNodeReport,
	rpc.GridMaster_EmitEvents_FullMethodName:                         CapEventsEmit,
	rpc.GridMaster_QueryEvents_FullMethodName:                        CapRead,
	rpc.GridMaster_StreamEvents_FullMethodName:                       CapRead,
	rpc.GridMaster_AskQuery_FullMethodName:                           CapRead,
	rpc.GridMaster_ListMasters_FullMethodName:                        CapRead,
	rpc.GridMaster_ListMembers_FullMethodName:                        CapRead,
	rpc.GridMaster_RemovePeer_FullMethodName:                         CapOperatorRaft,
	rpc.GridMaster_TransferLeadership_FullMethodName:                 CapOperatorRaft,
	rpc.GridMaster_SaveSnapshot_FullMethodName:                       CapSnapshotSave,
	rpc.GridMaster_RestoreSnapshot_FullMethodName:                    CapSnapshotRestore,
	rpc.GridMaster_Ready_FullMethodName:                              "",
	rpc.GridMaster_GetStateHash_FullMethodName:                       CapOperatorRead,
	rpc.GridMaster_VerifyReplicas_FullMethodName:                     CapOperatorRead,
	rpc.GridMaster_GetReplicaDigest_FullMethodName:                   CapOperatorRead,
	rpc.GridMaster_ListAlerts_FullMethodName:                         CapRead,
	rpc.GridMaster_WebhookStatus_FullMethodName:                      CapOperatorRead,
	rpc.GridMaster_GetAgent_FullMethodName:                           CapRead,
	rpc.GridMaster_RemoveAgent_FullMethodName:                        CapAgentWrite,
	rpc.GridMaster_SetAgentEligibility_FullMethodName:                CapAgentWrite,
	rpc.GridMaster_DrainAgent_FullMethodName:                         CapAgentWrite,
	rpc.GridMaster_GetAutopilotConfig_FullMethodName:                 CapOperatorRead,
	rpc.GridMaster_SetAutopilotConfig_FullMethodName:                 CapOperatorRaft,
	rpc.GridMaster_AutopilotHealth_FullMethodName:                    CapOperatorRead,
	rpc.GridAgent_FetchNodeData_FullMethodName:                       CapNodeData, // agent to agent (drain with migration)
	rpc.GridMaster_Monitor_FullMethodName:                            CapMonitor,
	rpc.GridAgent_Monitor_FullMethodName:                             CapMonitor,
	rpc.GridMaster_ACLBootstrap_FullMethodName:                       "", // allowed once, by anyone who can reach it
	rpc.GridMaster_ACLTokenCreate_FullMethodName:                     CapACLWrite,
	rpc.GridMaster_ACLTokenList_FullMethodName:                       CapACLRead,
	rpc.GridMaster_ACLTokenRevoke_FullMethodName:                     CapACLWrite,
	rpc.GridMaster_ACLPolicyUpsert_FullMethodName:                    CapACLWrite,
	rpc.GridMaster_ACLPolicyList_FullMethodName:                      CapACLRead,
	rpc.GridMaster_ACLPolicyDelete_FullMethodName:                    CapACLWrite,
	rpc.GridMaster_Keyring_FullMethodName:                            CapKeyring,
	rpc.StorageService_QueryConcept_FullMethodName:                   CapRead,
	rpc.StorageService_GetNeighbors_FullMethodName:                   CapRead,
	rpc.StorageService_FindPath_FullMethodName:                       CapRead,
	rpc.StorageService_GetStats_FullMethodName:                       CapRead,
	rpc.StorageService_HealthCheck_FullMethodName:                    CapRead,
	rpc.StorageService_VectorSearch_FullMethodName:                   CapRead,
	rpc.StorageService_LearnConcept_FullMethodName:                   CapStorageWrite,
	rpc.StorageService_LearnAssociation_FullMethodName:               CapStorageWrite,
	rpc.StorageService_Flush_FullMethodName:                          CapStorageWrite,
	"/grpc.health.v1.Health/Check":                                   "",
	"/grpc.health.v1.Health/Watch":                                   "",
	"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo":      CapRead,
	"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": CapRead,
}

// MethodCapability is the capability a gRPC method needs: "" for the open
// probes (Ready, health) and ACLBootstrap, CapUnknown for a method no table
// lists (only management may call it).
func MethodCapability(fullMethod string) string {
	c, ok := methodCaps[fullMethod]
	if !ok {
		return CapUnknown
	}
	return c
}

// Identity is who a call comes from once its token is resolved.
type Identity struct {
	// Accessor is the ACL token's accessor id; "" for the static tokens
	// and for anonymous callers.
	Accessor string
	// Name describes the identity in refusals and logs (never a secret).
	Name string
	// AgentID, when set, is the only agent this identity may act as.
	AgentID string
	caps    map[string]bool
}

// NewIdentity is an identity allowed caps.
func NewIdentity(accessor, name, agentID string, caps []string) *Identity {
	m := make(map[string]bool, len(caps))
	for _, c := range caps {
		m[c] = true
	}
	return &Identity{Accessor: accessor, Name: name, AgentID: agentID, caps: m}
}

// Allows reports whether the identity holds capability c ("" always).
func (id *Identity) Allows(c string) bool { return c == "" || id.caps[c] }

// Capabilities lists the identity's capabilities, sorted.
func (id *Identity) Capabilities() []string {
	out := make([]string, 0, len(id.caps))
	for c := range id.caps {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// SecretHash is what Raft stores of a token's secret: its SHA-256.
func SecretHash(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// NewUUID returns a random RFC 4122 version 4 id (accessor and secret ids).
func NewUUID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("read random id: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}

// ErrNoSuchToken: the presented secret matches no live ACL token (unknown,
// revoked or expired). Callers answer UNAUTHENTICATED / 401.
var ErrNoSuchToken = errors.New("ACL token not found, revoked or expired")
