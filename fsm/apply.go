package fsm

import (
	"fmt"

	"github.com/gridctl/grid/rpc"
	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"
)

// Apply applies one committed command. It returns the command's response:
// a result message, nil, or an error value for a business failure. It panics
// on an entry it cannot decode: a replica that skipped it would diverge. A
// store I/O error stops the master (see fail) before it applies past the entry.
func (f *FSM) Apply(l *raft.Log) interface{} {
	if len(l.Data) == 0 {
		panic(fmt.Sprintf("fsm: empty command at index %d", l.Index))
	}
	resp := f.dispatch(MessageType(l.Data[0]), l.Data[1:], l.Index)
	f.setApplied(l.Index)
	return resp
}

// dispatch applies one command of type t with body buf.
func (f *FSM) dispatch(t MessageType, buf []byte, i uint64) interface{} {
	switch t {
	case RegisterAgentType:
		rec := new(rpc.AgentRecord)
		decode(t, buf, i, rec)
		return f.registerAgent(rec, nil, i)
	case RegisterAgentEventsType:
		cmd := new(rpc.RegisterAgentCommand)
		decode(t, buf, i, cmd)
		return f.registerAgent(cmd.GetAgent(), cmd.Events, i)
	case UnregisterAgentType:
		req := new(rpc.AgentId)
		decode(t, buf, i, req)
		return f.unregisterAgent(req.AgentId, nil, i)
	case UnregisterAgentEventsType:
		cmd := new(rpc.UnregisterAgentCommand)
		decode(t, buf, i, cmd)
		return f.unregisterAgent(cmd.AgentId, cmd.Events, i)
	case AgentStatusType:
		cmd := new(rpc.AgentStatusCommand)
		decode(t, buf, i, cmd)
		return f.agentStatuses([]*rpc.AgentStatusCommand{cmd}, i)[0]
	case AgentStatusBatchType:
		cmd := new(rpc.AgentStatusBatch)
		decode(t, buf, i, cmd)
		return f.agentStatuses(cmd.Changes, i)
	case UpsertNodeType:
		n := new(rpc.NodeStatus)
		decode(t, buf, i, n)
		return f.upsertNode(n, nil, i)
	case UpsertNodeEventsType:
		cmd := new(rpc.UpsertNodeCommand)
		decode(t, buf, i, cmd)
		return f.upsertNode(cmd.GetNode(), cmd.Events, i)
	case DeleteNodeType:
		req := new(rpc.NodeId)
		decode(t, buf, i, req)
		return f.deleteNode(req.NodeId, nil, i)
	case DeleteNodeEventsType:
		cmd := new(rpc.DeleteNodeCommand)
		decode(t, buf, i, cmd)
		return f.deleteNode(cmd.NodeId, cmd.Events, i)
	case AppendEventsType:
		return f.applyAppendEvents(buf, i)
	case PruneEventsType:
		return f.applyPruneEvents(buf, i)
	case VerifyMarkerType:
		return f.applyVerifyMarker(buf, i)
	case MasterRemovalType:
		return f.applyMasterRemoval(buf, i)
	case RecordRequestType:
		return f.applyRecordRequest(buf, i)
	case AgentSchedulingType:
		return f.applyAgentScheduling(buf, i)
	case AutopilotConfigType:
		return f.applyAutopilotConfig(buf, i)
	case WebhookAckType:
		return f.applyWebhookAck(buf, i)
	}
	if out, ok := f.applyACL(t, buf, i); ok {
		return out
	}
	panic(f.unknownTypeError(t, i))
}

// decode unmarshals buf into msg or panics (see Apply).
func decode(t MessageType, buf []byte, index uint64, msg proto.Message) {
	if err := proto.Unmarshal(buf, msg); err != nil {
		panic(fmt.Sprintf("fsm: undecodable %s at index %d: %v", t, index, err))
	}
}

// Each registry command below checks the change, then stores its events
// (one event-store transaction) and only then changes the registry, all
// under f.mu: an event exists exactly when its change was applied.

func (f *FSM) registerAgent(rec *rpc.AgentRecord, events []*rpc.Event, index uint64) interface{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.registerAgentLocked(rec, events, index)
}

func (f *FSM) registerAgentLocked(rec *rpc.AgentRecord, events []*rpc.Event, index uint64) interface{} {
	if rec.GetAgentId() == "" {
		return fmt.Errorf("register agent: %w: empty agent_id", ErrInvalid)
	}
	// Nodes live in their own map, so a re-registration keeps them; it also
	// keeps the first registration time.
	rec.StorageNodes = nil
	rec.CurrentStorageNodes = 0
	if err := f.keepEventsLocked(index, events); err != nil {
		return fmt.Errorf("register agent %q: %w", rec.AgentId, err)
	}
	defer f.changedLocked()
	if old, ok := f.agents[rec.AgentId]; ok {
		if old.RegisteredAt != 0 {
			rec.RegisteredAt = old.RegisteredAt
		}
		// Eligibility and drain are the operator's, not the agent's.
		rec.Ineligible, rec.Drain = old.Ineligible, old.Drain
	}
	f.agents[rec.AgentId] = rec
	return nil
}

func (f *FSM) unregisterAgent(id string, events []*rpc.Event, index uint64) interface{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.unregisterAgentLocked(id, events, index)
}

func (f *FSM) unregisterAgentLocked(id string, events []*rpc.Event, index uint64) interface{} {
	if _, ok := f.agents[id]; !ok {
		return fmt.Errorf("unregister agent %q: %w", id, ErrNotFound)
	}
	if err := f.keepEventsLocked(index, events); err != nil {
		return fmt.Errorf("unregister agent %q: %w", id, err)
	}
	defer f.changedLocked()
	delete(f.agents, id)
	return nil
}

// agentStatuses applies status changes in order, each compared against the
// status it expects to replace (as left by the changes before it). It
// returns one result per change: nil, ErrNotFound or ErrStaleStatus. The
// accepted changes' events are stored in one transaction; if the store
// refuses them deterministically, every change of the entry gets that error.
func (f *FSM) agentStatuses(changes []*rpc.AgentStatusCommand, index uint64) []error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.agentStatusesLocked(changes, index)
}

func (f *FSM) agentStatusesLocked(changes []*rpc.AgentStatusCommand, index uint64) []error {
	out := make([]error, len(changes))
	now := make(map[string]string, len(changes))
	var accepted []*rpc.AgentStatusCommand
	var events [][]*rpc.Event
	for i, c := range changes {
		a, ok := f.agents[c.AgentId]
		if !ok {
			out[i] = fmt.Errorf("agent status %q: %w", c.AgentId, ErrNotFound)
			continue
		}
		cur, ok := now[c.AgentId]
		if !ok {
			cur = a.Status
		}
		if c.ExpectedStatus != "" && c.ExpectedStatus != cur {
			out[i] = fmt.Errorf("agent status %q: %w: change to %s expects %s, registry holds %s", c.AgentId, ErrStaleStatus, c.Status, c.ExpectedStatus, cur)
			continue
		}
		now[c.AgentId] = c.Status
		accepted = append(accepted, c)
		events = append(events, c.Events)
	}
	if err := f.keepEventsLocked(index, events...); err != nil {
		for i := range out {
			out[i] = fmt.Errorf("agent status: %w", err)
		}
		return out
	}
	defer f.changedLocked()
	for _, c := range accepted {
		a := f.agents[c.AgentId]
		a.Status = c.Status
		if c.LastHeartbeat != 0 {
			a.LastHeartbeat = uint64(c.LastHeartbeat)
		}
	}
	return out
}

func (f *FSM) upsertNode(n *rpc.NodeStatus, events []*rpc.Event, index uint64) interface{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.upsertNodeLocked(n, events, index)
}

func (f *FSM) upsertNodeLocked(n *rpc.NodeStatus, events []*rpc.Event, index uint64) interface{} {
	if n.GetNodeId() == "" {
		return fmt.Errorf("upsert node: %w: empty node_id", ErrInvalid)
	}
	if err := f.keepEventsLocked(index, events); err != nil {
		return fmt.Errorf("upsert node %q: %w", n.NodeId, err)
	}
	defer f.changedLocked()
	f.nodes[n.NodeId] = n
	return nil
}

func (f *FSM) deleteNode(id string, events []*rpc.Event, index uint64) interface{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.deleteNodeLocked(id, events, index)
}

func (f *FSM) deleteNodeLocked(id string, events []*rpc.Event, index uint64) interface{} {
	if _, ok := f.nodes[id]; !ok {
		return fmt.Errorf("delete node %q: %w", id, ErrNotFound)
	}
	if err := f.keepEventsLocked(index, events); err != nil {
		return fmt.Errorf("delete node %q: %w", id, err)
	}
	defer f.changedLocked()
	delete(f.nodes, id)
	return nil
}

func (f *FSM) applyAppendEvents(buf []byte, index uint64) interface{} {
	req := new(rpc.EmitEventsRequest)
	decode(AppendEventsType, buf, index, req)
	store := f.Events()
	stored, err := store.AppendEvents(req.Events)
	if err != nil {
		f.failUnlessRefused(index, "append events", err)
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
		f.failUnlessRefused(index, "prune events", err)
		return fmt.Errorf("prune events: %w", err)
	}
	if removed > 0 {
		f.logger.Debug("pruned events", "removed", removed, "index", index)
	}
	return removed
}
