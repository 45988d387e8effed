package cluster

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/rpc/security"
	"github.com/hashicorp/memberlist"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// Gossip keyring rotation (`grid operator keyring`), after consul's
// agent/keyring.go: each member keeps its memberlist keyring in its data
// dir (security.KeyringFile), and the contacted master fans an operation
// out to every master and agent alive in gossip. A rotation is install
// (every member learns the new key), use (every member encrypts with it),
// remove (the old key goes); between the steps every member can read
// every other, so no member is lost.

// keyringCallTimeout bounds the call to each member.
const keyringCallTimeout = 10 * time.Second

// Member kinds of a KeyringMember.
const (
	keyringKindMaster = "master"
	keyringKindAgent  = "agent"
)

// startKeyring is the gossip keyring at start: the data dir's keyring file
// when there is one, else --encrypt; nil when gossip is not encrypted.
func (m *Master) startKeyring() (*memberlist.Keyring, error) {
	keys, err := security.StartKeyring(m.config.DataDir, m.config.GossipKey)
	if err != nil {
		return nil, fmt.Errorf("%w: gossip keyring: %w", ErrInvalid, err)
	}
	if keys == nil {
		return nil, nil
	}
	if m.config.GossipKey != nil && !containsKey(keys, m.config.GossipKey) {
		m.logger.Warn("--encrypt is not in the saved gossip keyring and is ignored (the keyring was rotated)",
			"keyring", security.KeyringFile)
	}
	return memberlist.NewKeyring(keys[1:], keys[0])
}

func containsKey(keys [][]byte, key []byte) bool {
	for _, k := range keys {
		if bytes.Equal(k, key) {
			return true
		}
	}
	return false
}

// localKeyring runs req on this master's keyring.
func (m *Master) localKeyring(req *rpc.KeyringRequest) (*rpc.KeyringMember, error) {
	var kr security.GossipKeyring
	if k := m.members.gossip.keyring; k != nil {
		kr = k
	}
	mb, err := security.ApplyKeyring(kr, m.config.DataDir, m.config.ID, keyringKindMaster, req)
	if err == nil && req.GetOp() != security.KeyringList {
		m.logger.Info("gossip keyring changed", "op", req.GetOp(), "keys", len(mb.GetKeys()))
	}
	return mb, err
}

// Keyring implements GridMaster.Keyring: on this master alone (local), or
// on every member alive in gossip, each answering for itself.
func (s *gridService) Keyring(ctx context.Context, req *rpc.KeyringRequest) (*rpc.KeyringResponse, error) {
	if _, err := security.ValidateKeyringRequest(req); err != nil {
		return nil, toStatus(err)
	}
	if req.GetLocal() {
		mb, err := s.m.localKeyring(req)
		if err != nil {
			return nil, toStatus(err)
		}
		return &rpc.KeyringResponse{Members: []*rpc.KeyringMember{mb}}, nil
	}
	return &rpc.KeyringResponse{Members: s.m.keyringFanOut(ctx, req)}, nil
}

// keyringFanOut runs req on every master and agent alive in gossip (this
// master in-process, the others over gRPC with local set) and collects
// their answers, failures included, sorted by kind and id.
func (m *Master) keyringFanOut(ctx context.Context, req *rpc.KeyringRequest) []*rpc.KeyringMember {
	local := &rpc.KeyringRequest{Op: req.GetOp(), Key: req.GetKey(), Local: true}
	var (
		mu  sync.Mutex
		out []*rpc.KeyringMember
		wg  sync.WaitGroup
	)
	add := func(mb *rpc.KeyringMember) {
		mu.Lock()
		out = append(out, mb)
		mu.Unlock()
	}
	failed := func(id, kind string, err error) *rpc.KeyringMember {
		return &rpc.KeyringMember{Id: id, Kind: kind, Error: status.Convert(err).Message()}
	}
	for _, mb := range m.members.gossip.members() {
		id, role, addr := mb.Tags[tagID], mb.Tags[tagRole], mb.Tags[tagGRPCAddr]
		if id == "" {
			id = mb.Name
		}
		switch {
		case role == roleMaster && id == m.config.ID:
			r, err := m.localKeyring(local)
			if err != nil {
				r = failed(id, keyringKindMaster, err)
			}
			add(r)
		case role == roleMaster || role == rpc.RoleAgent:
			kind := keyringKindMaster
			if role == rpc.RoleAgent {
				kind = keyringKindAgent
			}
			if addr == "" {
				add(&rpc.KeyringMember{Id: id, Kind: kind, Error: "no gRPC address in its gossip tags"})
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := m.remoteKeyring(ctx, kind, addr, local)
				if err != nil {
					r = failed(id, kind, err)
				}
				r.Id, r.Kind = id, kind
				add(r)
			}()
		}
	}
	wg.Wait()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind > out[j].Kind // masters first
		}
		return out[i].Id < out[j].Id
	})
	return out
}

// remoteKeyring calls Keyring(local) on another master (the caller's token
// rides along, with this master's server certificate) or on an agent
// (with the agent token).
func (m *Master) remoteKeyring(ctx context.Context, kind, addr string, req *rpc.KeyringRequest) (*rpc.KeyringMember, error) {
	ctx, cancel := context.WithTimeout(ctx, keyringCallTimeout)
	defer cancel()
	if kind == keyringKindMaster {
		conn, err := grpc.NewClient(addr, m.dialOptions()...)
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		resp, err := rpc.NewGridMasterClient(conn).Keyring(m.forwardContext(ctx), req)
		if err != nil {
			return nil, err
		}
		if len(resp.GetMembers()) != 1 {
			return nil, fmt.Errorf("master %s answered for %d members", addr, len(resp.GetMembers()))
		}
		return resp.GetMembers()[0], nil
	}
	conn, err := grpc.NewClient(addr, m.agentDialOptions()...)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return rpc.NewGridAgentClient(conn).Keyring(ctx, req)
}
