package fsm

import (
	"fmt"
	"sort"

	"github.com/gridctl/grid/rpc"
	"google.golang.org/protobuf/proto"
)

// applyMasterRemoval adds a master to the removed set (or, with undo,
// takes it out). Removing twice keeps the newer incarnation; undoing a
// master that is not removed is no error (an operator's retry).
func (f *FSM) applyMasterRemoval(buf []byte, index uint64) interface{} {
	cmd := new(rpc.MasterRemovalCommand)
	decode(MasterRemovalType, buf, index, cmd)
	if cmd.Id == "" {
		return fmt.Errorf("master removal: %w: empty id", ErrInvalid)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if cmd.Undo {
		delete(f.removed, cmd.Id)
		return nil
	}
	f.removed[cmd.Id] = &rpc.RemovedMaster{Id: cmd.Id, Incarnation: cmd.Incarnation, At: cmd.At}
	return nil
}

// RemovedMaster returns the removal record of master id, if it is removed.
func (f *FSM) RemovedMaster(id string) (*rpc.RemovedMaster, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	r, ok := f.removed[id]
	if !ok {
		return nil, false
	}
	return proto.Clone(r).(*rpc.RemovedMaster), true
}

// RemovedMasters lists the removed set, sorted by id.
func (f *FSM) RemovedMasters() []*rpc.RemovedMaster {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]*rpc.RemovedMaster, 0, len(f.removed))
	for _, r := range f.removed {
		out = append(out, proto.Clone(r).(*rpc.RemovedMaster))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Id < out[j].Id })
	return out
}
