package fsm

import (
	"encoding/hex"
	"fmt"
	"io"
	"sort"
	"sync"

	"github.com/gridctl/grid/rpc"
	"google.golang.org/protobuf/proto"
)

// ACL command types (issue 16's range is 32-39).
const (
	// ACLBootstrapType: rpc.ACLTokenRecord, the first management token;
	// refused (ErrACLBootstrapped) once any bootstrap has been applied.
	ACLBootstrapType MessageType = 32
	// ACLTokenUpsertType: rpc.ACLTokenRecord.
	ACLTokenUpsertType MessageType = 33
	// ACLTokenRevokeType: rpc.ACLAccessor.
	ACLTokenRevokeType MessageType = 34
	// ACLPolicyUpsertType: rpc.ACLPolicy.
	ACLPolicyUpsertType MessageType = 35
	// ACLPolicyDeleteType: rpc.ACLPolicyName.
	ACLPolicyDeleteType MessageType = 36
)

// ErrACLBootstrapped refuses a second ACL bootstrap.
var ErrACLBootstrapped = rpc.NewSentinel("ACL already bootstrapped", rpc.ErrPrecondition)

// aclState is the replicated ACL state: tokens (secrets only as hashes)
// and custom policies.
type aclState struct {
	mu           sync.RWMutex
	bootstrapped bool
	tokens       map[string]*rpc.ACLTokenRecord // by accessor id
	byHash       map[string]string              // hex(secret hash) -> accessor id
	policies     map[string]*rpc.ACLPolicy
}

func (a *aclState) resetLocked() {
	a.bootstrapped = false
	a.tokens = map[string]*rpc.ACLTokenRecord{}
	a.byHash = map[string]string{}
	a.policies = map[string]*rpc.ACLPolicy{}
}

func aclTypeName(t MessageType) (string, bool) {
	switch t {
	case ACLBootstrapType:
		return "acl_bootstrap", true
	case ACLTokenUpsertType:
		return "acl_token_upsert", true
	case ACLTokenRevokeType:
		return "acl_token_revoke", true
	case ACLPolicyUpsertType:
		return "acl_policy_upsert", true
	case ACLPolicyDeleteType:
		return "acl_policy_delete", true
	}
	return "", false
}

// applyACL applies an ACL command; ok is false for other types.
func (f *FSM) applyACL(t MessageType, buf []byte, index uint64) (interface{}, bool) {
	a := &f.acl
	switch t {
	case ACLBootstrapType, ACLTokenUpsertType:
		rec := new(rpc.ACLTokenRecord)
		decode(t, buf, index, rec)
		if rec.AccessorId == "" || len(rec.SecretHash) == 0 {
			return fmt.Errorf("%s: %w: empty accessor or secret hash", t, ErrInvalid), true
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.tokens == nil {
			a.resetLocked()
		}
		if t == ACLBootstrapType {
			if a.bootstrapped {
				return ErrACLBootstrapped, true
			}
			a.bootstrapped = true
		}
		if old, ok := a.tokens[rec.AccessorId]; ok {
			delete(a.byHash, hex.EncodeToString(old.SecretHash))
		}
		a.tokens[rec.AccessorId] = rec
		a.byHash[hex.EncodeToString(rec.SecretHash)] = rec.AccessorId
		return nil, true
	case ACLTokenRevokeType:
		req := new(rpc.ACLAccessor)
		decode(t, buf, index, req)
		a.mu.Lock()
		defer a.mu.Unlock()
		old, ok := a.tokens[req.AccessorId]
		if !ok {
			return fmt.Errorf("revoke token %q: %w", req.AccessorId, ErrNotFound), true
		}
		delete(a.byHash, hex.EncodeToString(old.SecretHash))
		delete(a.tokens, req.AccessorId)
		return nil, true
	case ACLPolicyUpsertType:
		p := new(rpc.ACLPolicy)
		decode(t, buf, index, p)
		if p.Name == "" {
			return fmt.Errorf("%s: %w: empty policy name", t, ErrInvalid), true
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.tokens == nil {
			a.resetLocked()
		}
		a.policies[p.Name] = p
		return nil, true
	case ACLPolicyDeleteType:
		req := new(rpc.ACLPolicyName)
		decode(t, buf, index, req)
		a.mu.Lock()
		defer a.mu.Unlock()
		if _, ok := a.policies[req.Name]; !ok {
			return fmt.Errorf("delete policy %q: %w", req.Name, ErrNotFound), true
		}
		delete(a.policies, req.Name)
		return nil, true
	}
	return nil, false
}

// ACLBootstrapped reports whether the ACL bootstrap has been applied.
func (f *FSM) ACLBootstrapped() bool {
	f.acl.mu.RLock()
	defer f.acl.mu.RUnlock()
	return f.acl.bootstrapped
}

// ACLTokenByHash returns a copy of the token whose secret hashes to h.
func (f *FSM) ACLTokenByHash(h []byte) (*rpc.ACLTokenRecord, bool) {
	f.acl.mu.RLock()
	defer f.acl.mu.RUnlock()
	acc, ok := f.acl.byHash[hex.EncodeToString(h)]
	if !ok {
		return nil, false
	}
	return proto.Clone(f.acl.tokens[acc]).(*rpc.ACLTokenRecord), true
}

// ACLTokens returns copies of every token, sorted by accessor id.
func (f *FSM) ACLTokens() []*rpc.ACLTokenRecord {
	f.acl.mu.RLock()
	defer f.acl.mu.RUnlock()
	out := make([]*rpc.ACLTokenRecord, 0, len(f.acl.tokens))
	for _, t := range f.acl.tokens {
		out = append(out, proto.Clone(t).(*rpc.ACLTokenRecord))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].AccessorId < out[j].AccessorId })
	return out
}

// ACLPolicy returns a copy of a custom policy.
func (f *FSM) ACLPolicy(name string) (*rpc.ACLPolicy, bool) {
	f.acl.mu.RLock()
	defer f.acl.mu.RUnlock()
	p, ok := f.acl.policies[name]
	if !ok {
		return nil, false
	}
	return proto.Clone(p).(*rpc.ACLPolicy), true
}

// ACLPolicies returns copies of every custom policy, sorted by name.
func (f *FSM) ACLPolicies() []*rpc.ACLPolicy {
	f.acl.mu.RLock()
	defer f.acl.mu.RUnlock()
	out := make([]*rpc.ACLPolicy, 0, len(f.acl.policies))
	for _, p := range f.acl.policies {
		out = append(out, proto.Clone(p).(*rpc.ACLPolicy))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// aclSnapshot is the ACL part of a snapshot.
type aclSnapshot struct {
	bootstrapped bool
	tokens       []*rpc.ACLTokenRecord
	policies     []*rpc.ACLPolicy
}

func (f *FSM) aclSnapshot() aclSnapshot {
	return aclSnapshot{bootstrapped: f.ACLBootstrapped(), tokens: f.ACLTokens(), policies: f.ACLPolicies()}
}

// hashACL adds the ACL state to a StateHash: the bootstrap flag, tokens by
// accessor id, policies by name. An empty ACL state adds nothing, so the
// digest of a cluster without ACLs is the one a build without ACL support
// computes (replica verification across a rolling upgrade).
func (f *FSM) hashACL(h io.Writer, opts proto.MarshalOptions) {
	a := &f.acl
	a.mu.RLock()
	defer a.mu.RUnlock()
	if !a.bootstrapped && len(a.tokens) == 0 && len(a.policies) == 0 {
		return
	}
	_, _ = h.Write([]byte("acl\n"))
	b := []byte{0}
	if a.bootstrapped {
		b[0] = 1
	}
	_, _ = h.Write(b)
	writeSorted(h, opts, a.tokens)
	_, _ = h.Write([]byte("policies\n"))
	writeSorted(h, opts, a.policies)
}

// restoreACL replaces the ACL state with a snapshot's.
func (f *FSM) restoreACL(s aclSnapshot) {
	a := &f.acl
	a.mu.Lock()
	defer a.mu.Unlock()
	a.resetLocked()
	a.bootstrapped = s.bootstrapped
	for _, t := range s.tokens {
		a.tokens[t.AccessorId] = t
		a.byHash[hex.EncodeToString(t.SecretHash)] = t.AccessorId
	}
	for _, p := range s.policies {
		a.policies[p.Name] = p
	}
}
