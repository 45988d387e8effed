package cluster

import (
	"context"
	"fmt"
	"time"

	"github.com/gridctl/grid/fsm"
	"github.com/gridctl/grid/rpc"
)

// Removed masters stay removed. An operator's remove-peer records the
// master's id and incarnation (the token its data dir was created with,
// published in gossip) in the replicated removed set before the raft
// configuration changes, so every later leader knows it too. reconcile
// does not add a removed master back while it shows the same incarnation;
// it comes back only when an operator clears the removal (remove-peer
// --undo) or when it rejoins with a fresh data dir (a new incarnation),
// which clears the removal.

// incarnationOf is the incarnation master id last showed in gossip ("" if
// it was never seen).
func (m *Master) incarnationOf(id string) string {
	inc := ""
	for _, mb := range m.members.gossip.allMembers() {
		if mb.isMaster() && mb.Tags[tagID] == id && mb.Tags[tagIncarnation] != "" {
			inc = mb.Tags[tagIncarnation]
			if mb.Status == "alive" {
				break
			}
		}
	}
	return inc
}

// recordRemoval commits master id's removal (leader only).
func (m *Master) recordRemoval(id string) error {
	_, err := m.raftApply(fsm.MasterRemovalType, &rpc.MasterRemovalCommand{
		Id: id, Incarnation: m.incarnationOf(id), At: time.Now().UnixMicro(),
	})
	if err != nil {
		return fmt.Errorf("record removal of %q: %w", id, err)
	}
	return nil
}

// clearRemoval commits the end of master id's removal (leader only).
func (m *Master) clearRemoval(id string) error {
	_, err := m.raftApply(fsm.MasterRemovalType, &rpc.MasterRemovalCommand{Id: id, Undo: true, At: time.Now().UnixMicro()})
	if err != nil {
		return fmt.Errorf("clear removal of %q: %w", id, err)
	}
	return nil
}

// staysRemoved reports whether reconcile must leave the gossip master id
// (showing incarnation inc) out of raft. A removed master that shows
// another incarnation came back with a fresh data dir: its removal is
// cleared and it may join. A removal recorded without an incarnation (the
// master was never seen in gossip) ends only by --undo.
func (m *Master) staysRemoved(id, inc string) bool {
	rm, ok := m.fsm.RemovedMaster(id)
	if !ok {
		return false
	}
	if rm.Incarnation == "" || inc == "" || rm.Incarnation == inc {
		return true
	}
	if err := m.clearRemoval(id); err != nil {
		m.logger.Warn("reconcile: clear removal of master with fresh data dir", "id", id, "error", err)
		return true
	}
	m.logger.Info("removed master came back with a fresh data dir: removal cleared", "id", id, "incarnation", inc)
	return false
}

// undoRemovePeer clears master id's removal and asks reconcile to look at
// gossip again. Clearing a master that is not removed succeeds (a retry).
func (m *Master) undoRemovePeer(_ context.Context, id string) (*rpc.Empty, error) {
	if err := m.clearRemoval(id); err != nil {
		return nil, err
	}
	m.logger.Info("removal of master cleared by operator", "id", id)
	select {
	case m.members.reconcileCh <- struct{}{}:
	default:
	}
	return &rpc.Empty{}, nil
}
