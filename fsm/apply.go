package fsm

import (
	"fmt"

	"github.com/gridctl/grid/rpc"
	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"
)

// Apply applies one committed command. It returns the command's response:
// a result message, nil, or an error value for a business failure. It panics
// on an entry it cannot decode: a replica that skipped it would diverge.
func (f *FSM) Apply(l *raft.Log) interface{} {
	if len(l.Data) == 0 {
		panic(fmt.Sprintf("fsm: empty command at index %d", l.Index))
	}
	t, buf := MessageType(l.Data[0]), l.Data[1:]
	defer f.applied.Store(l.Index)
	switch t {
	case RegisterAgentType:
		return f.applyRegisterAgent(buf, l.Index)
	case UnregisterAgentType:
		return f.applyUnregisterAgent(buf, l.Index)
	case AgentStatusType:
		return f.applyAgentStatus(buf, l.Index)
	case UpsertNodeType:
		return f.applyUpsertNode(buf, l.Index)
	case DeleteNodeType:
		return f.applyDeleteNode(buf, l.Index)
	case AppendEventsType:
		return f.applyAppendEvents(buf, l.Index)
	case PruneEventsType:
		return f.applyPruneEvents(buf, l.Index)
	}
	if out, ok := f.applyACL(t, buf, l.Index); ok {
		return out
	}
	panic(fmt.Sprintf("fsm: unknown message type %d at index %d", uint8(t), l.Index))
}

// decode unmarshals buf into msg or panics (see Apply).
func decode(t MessageType, buf []byte, index uint64, msg proto.Message) {
	if err := proto.Unmarshal(buf, msg); err != nil {
		panic(fmt.Sprintf("fsm: undecodable %s at index %d: %v", t, index, err))
	}
}

func (f *FSM) applyRegisterAgent(buf []byte, index uint64) interface{} {
	rec := new(rpc.AgentRecord)
	decode(RegisterAgentType, buf, index, rec)
	if rec.AgentId == "" {
		return fmt.Errorf("register agent: %w: empty agent_id", ErrInvalid)
	}
	// Nodes live in their own map, so a re-registration keeps them; it also
	// keeps the first registration time.
	rec.StorageNodes = nil
	rec.CurrentStorageNodes = 0
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.version.Add(1)
	if old, ok := f.agents[rec.AgentId]; ok && old.RegisteredAt != 0 {
		rec.RegisteredAt = old.RegisteredAt
	}
	f.agents[rec.AgentId] = rec
	return nil
}

func (f *FSM) applyUnregisterAgent(buf []byte, index uint64) interface{} {
	req := new(rpc.AgentId)
	decode(UnregisterAgentType, buf, index, req)
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.version.Add(1)
	if _, ok := f.agents[req.AgentId]; !ok {
		return fmt.Errorf("unregister agent %q: %w", req.AgentId, ErrNotFound)
	}
	delete(f.agents, req.AgentId)
	return nil
}

func (f *FSM) applyAgentStatus(buf []byte, index uint64) interface{} {
	cmd := new(rpc.AgentStatusCommand)
	decode(AgentStatusType, buf, index, cmd)
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.version.Add(1)
	a, ok := f.agents[cmd.AgentId]
	if !ok {
		return fmt.Errorf("agent status %q: %w", cmd.AgentId, ErrNotFound)
	}
	a.Status = cmd.Status
	if cmd.LastHeartbeat != 0 {
		a.LastHeartbeat = uint64(cmd.LastHeartbeat)
	}
	return nil
}

func (f *FSM) applyUpsertNode(buf []byte, index uint64) interface{} {
	n := new(rpc.NodeStatus)
	decode(UpsertNodeType, buf, index, n)
	if n.NodeId == "" {
		return fmt.Errorf("upsert node: %w: empty node_id", ErrInvalid)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.version.Add(1)
	f.nodes[n.NodeId] = n
	return nil
}

func (f *FSM) applyDeleteNode(buf []byte, index uint64) interface{} {
	req := new(rpc.NodeId)
	decode(DeleteNodeType, buf, index, req)
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.version.Add(1)
	if _, ok := f.nodes[req.NodeId]; !ok {
		return fmt.Errorf("delete node %q: %w", req.NodeId, ErrNotFound)
	}
	delete(f.nodes, req.NodeId)
	return nil
}

func (f *FSM) applyAppendEvents(buf []byte, index uint64) interface{} {
	req := new(rpc.EmitEventsRequest)
	decode(AppendEventsType, buf, index, req)
	store := f.Events()
	stored, err := store.AppendEvents(req.Events)
	if err != nil {
		f.logger.Error("append events failed", "index", index, "error", err)
		return fmt.Errorf("append events: %w", err)
	}
	return appendResponse(stored, store.LastSeq())
}

// appendResponse is an AppendEvents entry's response: how many events were
// stored, their ids and the store's last seq after the entry.
func appendResponse(stored []*rpc.Event, lastSeq uint64) *rpc.EmitEventsResponse {
	ids := make([]string, len(stored))
	for i, e := range stored {
		ids[i] = e.Id
	}
	return &rpc.EmitEventsResponse{Accepted: uint32(len(stored)), LastSeq: lastSeq, StoredIds: ids}
}

func (f *FSM) applyPruneEvents(buf []byte, index uint64) interface{} {
	cmd := new(rpc.PruneEventsCommand)
	decode(PruneEventsType, buf, index, cmd)
	removed, err := f.Events().Prune(cmd.Before, cmd.KeepMax)
	if err != nil {
		f.logger.Error("prune events failed", "index", index, "error", err)
		return fmt.Errorf("prune events: %w", err)
	}
	if removed > 0 {
		f.logger.Debug("pruned events", "removed", removed, "index", index)
	}
	return removed
}

var _ raft.BatchingFSM = (*FSM)(nil)

// ApplyBatch applies committed entries in order, the same way Apply does one
// by one, but runs consecutive AppendEvents entries in shared event-store
// transactions (one commit per up to maxEventsPerRun events instead of one
// per entry). Configuration entries get a nil response.
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
	defer f.applied.Store(logs[len(logs)-1].Index)
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
		start = end
	}
}

// maxEventsPerRun bounds the events ApplyBatch writes in one event-store
// transaction; an entry holding more is still applied alone, whole.
const maxEventsPerRun = 8192

// appendEventGroup applies consecutive AppendEvents entries (decoded into
// batches) in one store transaction and fills one response per entry.
func (f *FSM) appendEventGroup(logs []*raft.Log, batches [][]*rpc.Event, out []interface{}) {
	res, err := f.Events().AppendEventBatches(batches)
	if err != nil {
		f.logger.Error("append events failed", "first_index", logs[0].Index, "last_index", logs[len(logs)-1].Index, "error", err)
		for i := range out {
			out[i] = fmt.Errorf("append events: %w", err)
		}
		return
	}
	for i, r := range res {
		out[i] = appendResponse(r.Stored, r.LastSeq)
	}
}
