package fsm

import (
	"github.com/hashicorp/raft"
)

var _ raft.BatchingFSM = (*FSM)(nil)

// ApplyBatch applies committed entries in order and gives each entry the
// response Apply would, whatever the batch boundaries (they differ between
// leader and followers): consecutive registry and AppendEvents entries are
// applied as groups that share one event-store transaction (apply_group.go),
// and when the store refuses a group's events deterministically the group
// is applied again entry by entry. Other entries are applied alone;
// configuration entries get a nil response.
func (f *FSM) ApplyBatch(logs []*raft.Log) []interface{} {
	out := make([]interface{}, len(logs))
	for i := 0; i < len(logs); {
		l := logs[i]
		if l.Type != raft.LogCommand {
			f.setApplied(l.Index)
			i++
			continue
		}
		if !groupable(l) {
			out[i] = f.Apply(l)
			i++
			continue
		}
		j := i + 1
		for j < len(logs) && groupable(logs[j]) {
			j++
		}
		f.applyGroup(logs[i:j], out[i:j])
		i = j
	}
	return out
}

// maxEventsPerRun bounds the events ApplyBatch writes in one event-store
// transaction (an entry holding more is still applied alone, whole): bbolt
// slows down more than linearly with the size of one write transaction,
// and a restarted or lagging master is handed up to MaxAppendEntries
// entries of thousands of events each at once.
const maxEventsPerRun = 8192
