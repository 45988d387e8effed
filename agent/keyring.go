package agent

import (
	"context"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/rpc/security"
	"github.com/hashicorp/memberlist"
)

// startKeyring is the agent's gossip keyring at start: the data dir's
// keyring file (security.KeyringFile) when there is one, so a rotation
// survives a restart, else --encrypt; nil when gossip is not encrypted.
func startKeyring(cfg Config) (*memberlist.Keyring, error) {
	keys, err := security.StartKeyring(cfg.DataDir, cfg.GossipKey)
	if err != nil || keys == nil {
		return nil, err
	}
	return memberlist.NewKeyring(keys[1:], keys[0])
}

// keyringService answers GridAgent.Keyring: the masters call it during
// `grid operator keyring` (server certificate and master token required,
// as for SpawnNode).
type keyringService struct {
	agentID, dataDir string
	gossip           *Membership // nil: the agent is not in gossip
}

// Keyring implements GridAgent.Keyring.
func (a *agentService) Keyring(ctx context.Context, req *rpc.KeyringRequest) (*rpc.KeyringMember, error) {
	return a.keyring.apply(ctx, req)
}

// apply runs req on this agent's keyring.
func (k keyringService) apply(_ context.Context, req *rpc.KeyringRequest) (*rpc.KeyringMember, error) {
	var kr security.GossipKeyring
	if k.gossip != nil && k.gossip.keyring != nil {
		kr = k.gossip.keyring
	}
	mb, err := security.ApplyKeyring(kr, k.dataDir, k.agentID, "agent", req)
	if err != nil {
		return nil, rpc.ToStatus(err)
	}
	if req.GetOp() != security.KeyringList && k.gossip != nil {
		k.gossip.logger.Info("gossip keyring changed", "op", req.GetOp(), "keys", len(mb.GetKeys()))
	}
	return mb, nil
}
