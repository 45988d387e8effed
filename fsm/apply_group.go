package fsm

import (
	"fmt"

	"github.com/gridctl/grid/fsm/faults"
	"github.com/gridctl/grid/rpc"
	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"
)

// Grouped apply: ApplyBatch applies a run of consecutive registry and
// AppendEvents entries under one hold of f.mu, with every entry's events
// going into one event-store transaction (one bbolt commit for the run
// instead of one per entry). Each entry is decided in order against the
// state the entries before it left, exactly as Apply decides it; its
// registry change is made at once and remembered (the value it replaced),
// and its events are staged. When the store then refuses the staged events
// deterministically, the run's registry changes are undone and the entries
// are applied again one by one, each with its own verdict, so the result
// never depends on the batch boundaries (which differ between masters).

// groupable reports whether ApplyBatch may apply l inside a group.
func groupable(l *raft.Log) bool {
	if l.Type != raft.LogCommand || len(l.Data) == 0 {
		return false
	}
	switch MessageType(l.Data[0]) {
	case RegisterAgentType, RegisterAgentEventsType, UnregisterAgentType, UnregisterAgentEventsType,
		AgentStatusType, AgentStatusBatchType, UpsertNodeType, UpsertNodeEventsType,
		DeleteNodeType, DeleteNodeEventsType, AppendEventsType:
		return true
	}
	return false
}

// groupStage is one group's staged events and undo records.
type groupStage struct {
	batches [][]*rpc.Event
	events  int
	appends []stagedAppend // AppendEvents entries, answered after the commit
	changes uint64         // registry changes (version bumps) to publish
	agents  map[string]savedAgent
	nodes   map[string]savedNode
}

// stagedAppend is an AppendEvents entry of the group: its response comes
// from batch's result, or (no events) from the batch staged before it.
type stagedAppend struct{ entry, batch, before int }

type savedAgent struct {
	rec *rpc.AgentRecord
	ok  bool
}

type savedNode struct {
	rec *rpc.NodeStatus
	ok  bool
}

// keepEventsLocked stores one command's events (storeEventsLocked), or,
// inside a group, stages them for the group's transaction.
func (f *FSM) keepEventsLocked(index uint64, batches ...[]*rpc.Event) error {
	if f.stage == nil {
		return f.storeEventsLocked(index, batches...)
	}
	for _, b := range batches {
		if len(b) > 0 {
			f.stage.batches = append(f.stage.batches, b)
			f.stage.events += len(b)
		}
	}
	return nil
}

// changedLocked counts one registry change (see Version); inside a group
// the count is published once the group's events are committed.
func (f *FSM) changedLocked() {
	if f.stage != nil {
		f.stage.changes++
		return
	}
	f.version.Add(1)
}

// applyGroup applies consecutive groupable entries, in groups of at most
// about maxEventsPerRun staged events, and fills one response per entry.
func (f *FSM) applyGroup(logs []*raft.Log, out []interface{}) {
	if len(logs) == 1 {
		if MessageType(logs[0].Data[0]) == AgentStatusBatchType {
			faults.Hit(faults.BatchApply)
		}
		out[0] = f.Apply(logs[0])
		return
	}
	for start := 0; start < len(logs); {
		start += f.applyStaged(logs[start:], out[start:])
	}
}

// applyStaged stages entries from logs until they hold maxEventsPerRun
// events or logs ends, commits their events in one transaction and returns
// how many entries it applied.
func (f *FSM) applyStaged(logs []*raft.Log, out []interface{}) int {
	f.mu.Lock()
	first := f.store.LastSeq()
	st := &groupStage{agents: make(map[string]savedAgent), nodes: make(map[string]savedNode)}
	n := func() int {
		f.stage = st
		defer func() { f.stage = nil }()
		n := 0
		for n < len(logs) && (n == 0 || st.events < maxEventsPerRun) {
			out[n] = f.stageLocked(logs[n], n)
			n++
		}
		return n
	}()
	res, err := f.store.AppendEventBatches(st.batches)
	if err != nil {
		st.undoLocked(f)
		f.mu.Unlock()
		f.failUnlessRefused(logs[0].Index, fmt.Sprintf("store events (entries %d-%d)", logs[0].Index, logs[n-1].Index), err)
		for k := 0; k < n; k++ {
			out[k] = f.Apply(logs[k])
		}
		return n
	}
	for _, a := range st.appends {
		if a.batch < 0 {
			seq := first
			if a.before > 0 {
				seq = res[a.before-1].LastSeq
			}
			out[a.entry] = appendResponse(nil, seq)
			continue
		}
		out[a.entry] = appendResponse(res[a.batch].Stored, res[a.batch].LastSeq)
	}
	f.version.Add(st.changes)
	f.setApplied(logs[n-1].Index)
	f.mu.Unlock()
	return n
}

// stageLocked applies one entry inside a group: it remembers what the
// entry's change replaces, then runs the same code Apply runs.
func (f *FSM) stageLocked(l *raft.Log, entry int) interface{} {
	t, buf, i := MessageType(l.Data[0]), l.Data[1:], l.Index
	switch t {
	case RegisterAgentType:
		rec := new(rpc.AgentRecord)
		decode(t, buf, i, rec)
		f.stage.saveAgent(f, rec.GetAgentId())
		return f.registerAgentLocked(rec, nil, i)
	case RegisterAgentEventsType:
		cmd := new(rpc.RegisterAgentCommand)
		decode(t, buf, i, cmd)
		f.stage.saveAgent(f, cmd.GetAgent().GetAgentId())
		return f.registerAgentLocked(cmd.GetAgent(), cmd.Events, i)
	case UnregisterAgentType:
		req := new(rpc.AgentId)
		decode(t, buf, i, req)
		f.stage.saveAgent(f, req.AgentId)
		return f.unregisterAgentLocked(req.AgentId, nil, i)
	case UnregisterAgentEventsType:
		cmd := new(rpc.UnregisterAgentCommand)
		decode(t, buf, i, cmd)
		f.stage.saveAgent(f, cmd.AgentId)
		return f.unregisterAgentLocked(cmd.AgentId, cmd.Events, i)
	case AgentStatusType:
		cmd := new(rpc.AgentStatusCommand)
		decode(t, buf, i, cmd)
		f.stage.saveAgent(f, cmd.AgentId)
		return f.agentStatusesLocked([]*rpc.AgentStatusCommand{cmd}, i)[0]
	case AgentStatusBatchType:
		faults.Hit(faults.BatchApply)
		cmd := new(rpc.AgentStatusBatch)
		decode(t, buf, i, cmd)
		for _, c := range cmd.Changes {
			f.stage.saveAgent(f, c.AgentId)
		}
		return f.agentStatusesLocked(cmd.Changes, i)
	case UpsertNodeType:
		n := new(rpc.NodeStatus)
		decode(t, buf, i, n)
		f.stage.saveNode(f, n.GetNodeId())
		return f.upsertNodeLocked(n, nil, i)
	case UpsertNodeEventsType:
		cmd := new(rpc.UpsertNodeCommand)
		decode(t, buf, i, cmd)
		f.stage.saveNode(f, cmd.GetNode().GetNodeId())
		return f.upsertNodeLocked(cmd.GetNode(), cmd.Events, i)
	case DeleteNodeType:
		req := new(rpc.NodeId)
		decode(t, buf, i, req)
		f.stage.saveNode(f, req.NodeId)
		return f.deleteNodeLocked(req.NodeId, nil, i)
	case DeleteNodeEventsType:
		cmd := new(rpc.DeleteNodeCommand)
		decode(t, buf, i, cmd)
		f.stage.saveNode(f, cmd.NodeId)
		return f.deleteNodeLocked(cmd.NodeId, cmd.Events, i)
	case AppendEventsType:
		req := new(rpc.EmitEventsRequest)
		decode(t, buf, i, req)
		a := stagedAppend{entry: entry, batch: -1, before: len(f.stage.batches)}
		if len(req.Events) > 0 {
			a.batch = len(f.stage.batches)
			f.stage.batches = append(f.stage.batches, req.Events)
			f.stage.events += len(req.Events)
		}
		f.stage.appends = append(f.stage.appends, a)
		return nil // answered once the group is committed
	}
	panic(fmt.Sprintf("fsm: %s is not groupable (index %d)", t, i))
}

// saveAgent remembers agent id's record (a copy: status changes edit it in
// place) the first time the group touches it.
func (s *groupStage) saveAgent(f *FSM, id string) {
	if _, done := s.agents[id]; done {
		return
	}
	a, ok := f.agents[id]
	if ok {
		a = proto.Clone(a).(*rpc.AgentRecord)
	}
	s.agents[id] = savedAgent{rec: a, ok: ok}
}

// saveNode remembers node id's record the first time the group touches it
// (node records are replaced whole, never edited).
func (s *groupStage) saveNode(f *FSM, id string) {
	if _, done := s.nodes[id]; done {
		return
	}
	n, ok := f.nodes[id]
	s.nodes[id] = savedNode{rec: n, ok: ok}
}

// undoLocked puts back every record the group changed.
func (s *groupStage) undoLocked(f *FSM) {
	for id, a := range s.agents {
		if a.ok {
			f.agents[id] = a.rec
		} else {
			delete(f.agents, id)
		}
	}
	for id, n := range s.nodes {
		if n.ok {
			f.nodes[id] = n.rec
		} else {
			delete(f.nodes, id)
		}
	}
}
