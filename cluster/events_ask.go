package cluster

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gridctl/grid/eventstore"
	"github.com/gridctl/grid/rpc"
)

const (
	// maxQuestionBytes is how much of a plain-English question is read; the
	// rest is cut off (and the answer says so).
	maxQuestionBytes = 10 * 1024
	// askResultLimit caps the events a list or timeline answer returns.
	askResultLimit = 100
	// maxKnownEntities caps the ids offered to the compiler's fuzzy matching.
	maxKnownEntities = 10000
)

// AskQuery answers a plain-English question: it compiles the text into an
// interpretation (shown back in the answer), runs it on the event graph or
// the registry, and adds example questions when part of the text was not
// understood or nothing matched. Consistent by default (the leader answers),
// from this master's replica when the call's metadata allows stale reads.
func (s *gridService) AskQuery(ctx context.Context, req *rpc.NaturalQueryRequest) (*rpc.NaturalQueryResponse, error) {
	if req == nil {
		req = &rpc.NaturalQueryRequest{}
	}
	m := s.m
	if m.allowStale(ctx) {
		out, err := m.askLocal(req.GetQuery(), time.Now())
		return out, toStatus(err)
	}
	out, err := forward(ctx, m,
		func(ctx context.Context) (*rpc.NaturalQueryResponse, error) {
			if err := m.verifyLeader(); err != nil {
				return nil, err
			}
			return m.askLocal(req.GetQuery(), time.Now())
		},
		func(ctx context.Context, c rpc.GridMasterClient) (*rpc.NaturalQueryResponse, error) {
			return c.AskQuery(ctx, req)
		})
	return out, toStatus(err)
}

// askLocal answers text from this master's state as of now.
func (m *Master) askLocal(text string, now time.Time) (*rpc.NaturalQueryResponse, error) {
	text, truncated := truncateQuestion(text)
	resp := &rpc.NaturalQueryResponse{Success: true, Query: text}
	err := m.withEventStore(func(store *eventstore.Store) error {
		interp := eventstore.Compile(text, now, m.knownEntities(store))
		resp.Interpretation = interp.ToProto()
		resp.Explanation = interp.Explanation
		resp.Agents, resp.Nodes, resp.Results, resp.Count = nil, nil, nil, 0
		switch interp.Intent {
		case "state":
			m.answerState(resp, interp)
		case "count":
			n, err := store.CountEvents(interp.Filter(0))
			if err != nil {
				return err
			}
			resp.Count = uint32(min(n, uint64(^uint32(0))))
		case "timeline":
			f := interp.Filter(askResultLimit)
			f.Ascending = true
			events, err := store.Events(f)
			if err != nil {
				return err
			}
			resp.Results, resp.Count = events, uint32(len(events))
		default: // list
			f := interp.Filter(askResultLimit)
			f.Ascending = false
			events, err := store.Events(f)
			if err != nil {
				return err
			}
			resp.Results, resp.Count = events, uint32(len(events))
		}
		if len(interp.NotUnderstood) > 0 || resp.Count == 0 {
			resp.Examples = append([]string(nil), eventstore.ExampleQuestions...)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if truncated {
		resp.Explanation = strings.TrimSpace(resp.Explanation + fmt.Sprintf(" (the question was longer than %d KB; only its beginning was read)", maxQuestionBytes/1024))
	}
	return resp, nil
}

// answerState fills the agents or nodes in the status asked (all when no
// status was named) from the registry.
func (m *Master) answerState(resp *rpc.NaturalQueryResponse, interp eventstore.Interpretation) {
	want := strings.ToLower(interp.StateStatus)
	if interp.StateTarget == "nodes" {
		for _, n := range m.fsm.Nodes() {
			if want == "" || strings.EqualFold(n.GetStatus(), want) {
				resp.Nodes = append(resp.Nodes, n)
			}
		}
		resp.Count = uint32(len(resp.Nodes))
		return
	}
	for _, a := range m.fsm.Agents() {
		if want == "" || strings.EqualFold(a.GetStatus(), want) {
			resp.Agents = append(resp.Agents, a)
		}
	}
	resp.Count = uint32(len(resp.Agents))
}

// knownEntities lists the ids the compiler may match words against: agents
// and nodes in the registry, entities in the event graph, and masters.
func (m *Master) knownEntities(store *eventstore.Store) []string {
	seen := make(map[string]bool)
	var out []string
	add := func(id string) {
		if id != "" && !seen[id] && len(out) < maxKnownEntities {
			seen[id] = true
			out = append(out, id)
		}
	}
	for _, a := range m.fsm.Agents() {
		add(a.GetAgentId())
	}
	for _, n := range m.fsm.Nodes() {
		add(n.GetNodeId())
	}
	for _, id := range m.masterIDs() {
		add(id)
	}
	if ids, err := store.Entities("", maxKnownEntities); err == nil {
		for _, id := range ids {
			add(id)
		}
	}
	return out
}

// masterIDs lists the masters in the Raft configuration (none on error).
func (m *Master) masterIDs() []string {
	conf, err := m.raftConfiguration()
	if err != nil {
		return nil
	}
	ids := make([]string, 0, len(conf.Servers))
	for _, srv := range conf.Servers {
		ids = append(ids, string(srv.ID))
	}
	return ids
}

// truncateQuestion cuts text to maxQuestionBytes on a rune boundary.
func truncateQuestion(text string) (string, bool) {
	if len(text) <= maxQuestionBytes {
		return text, false
	}
	cut := maxQuestionBytes
	for cut > 0 && !utf8.RuneStart(text[cut]) {
		cut--
	}
	return text[:cut], true
}
