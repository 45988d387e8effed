package fsm

import (
	"fmt"

	"github.com/gridctl/grid/fsm/faults"
	"github.com/gridctl/grid/rpc"
	"github.com/hashicorp/raft"
)

var _ raft.BatchingFSM = (*FSM)(nil)

// ApplyBatch applies committed entries in order and gives each entry the
// response Apply would, whatever the batch boundaries (they differ between
// leader and followers): consecutive AppendEvents entries share event-store
// transactions, and when the store refuses one group deterministically the
// group is applied again entry by entry. Configuration entries get a nil
// response.
func (f *FSM) ApplyBatch(logs []*raft.Log) []interface{} {
	out := make([]interface{}, len(logs))
	for i := 0; i < len(logs); {
		l := logs[i]
		if l.Type != raft.LogCommand {
			f.applied.Store(l.Index)
			i++
			continue
		}
		if !isAppendEvents(l) {
			if len(l.Data) > 0 && MessageType(l.Data[0]) == AgentStatusBatchType {
				faults.Hit(faults.BatchApply)
			}
			out[i] = f.Apply(l)
			i++
			continue
		}
		j := i + 1
		for j < len(logs) && logs[j].Type == raft.LogCommand && isAppendEvents(logs[j]) {
			j++
		}
		f.applyAppendEventsRun(logs[i:j], out[i:j])
		i = j
	}
	return out
}

// isAppendEvents reports whether l is an AppendEvents command.
func isAppendEvents(l *raft.Log) bool {
	return len(l.Data) > 0 && MessageType(l.Data[0]) == AppendEventsType
}

// applyAppendEventsRun applies consecutive AppendEvents entries in store
// transactions of at most maxEventsPerRun events and fills one response per
// entry, as applyAppendEvents would.
func (f *FSM) applyAppendEventsRun(logs []*raft.Log, out []interface{}) {
	if len(logs) == 1 {
		out[0] = f.Apply(logs[0])
		return
	}
	batches := make([][]*rpc.Event, len(logs))
	for i, l := range logs {
		req := new(rpc.EmitEventsRequest)
		decode(AppendEventsType, l.Data[1:], l.Index, req)
		batches[i] = req.Events
	}
	// One transaction per group of at most maxEventsPerRun events: bbolt
	// slows down more than linearly with the size of one write
	// transaction, and a restarted or lagging master is handed up to
	// MaxAppendEntries entries of thousands of events each at once.
	for start := 0; start < len(batches); {
		end, n := start+1, len(batches[start])
		for end < len(batches) && n+len(batches[end]) <= maxEventsPerRun {
			n += len(batches[end])
			end++
		}
		f.appendEventGroup(logs[start:end], batches[start:end], out[start:end])
		f.applied.Store(logs[end-1].Index)
		start = end
	}
}

// maxEventsPerRun bounds the events ApplyBatch writes in one event-store
// transaction; an entry holding more is still applied alone, whole.
const maxEventsPerRun = 8192

// appendEventGroup applies consecutive AppendEvents entries (decoded into
// batches) in one store transaction and fills one response per entry. A
// deterministic refusal rolls the whole transaction back, so the group is
// then applied entry by entry: each entry gets its own verdict, the one
// Apply gives it. A store I/O error stops the master (fail).
func (f *FSM) appendEventGroup(logs []*raft.Log, batches [][]*rpc.Event, out []interface{}) {
	res, err := f.Events().AppendEventBatches(batches)
	if err != nil {
		f.failUnlessRefused(logs[0].Index, fmt.Sprintf("append events (entries %d-%d)", logs[0].Index, logs[len(logs)-1].Index), err)
		for i, l := range logs {
			out[i] = f.Apply(l)
		}
		return
	}
	for i, r := range res {
		out[i] = appendResponse(r.Stored, r.LastSeq)
	}
}
