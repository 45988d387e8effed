package events

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
func (p *Pipeline) AskQuery(ctx context.Context, req *rpc.NaturalQueryRequest) (*rpc.NaturalQueryResponse, error) {
	if req == nil {
		req = &rpc.NaturalQueryRequest{}
	}
	if _, err := callerNow(req); err != nil {
		return nil, toStatus(err)
	}
	if p.deps.Forwarder.AllowStale(ctx) {
		now, _ := callerNow(req)
		out, err := p.askLocal(req.GetQuery(), now)
		return out, toStatus(err)
	}
	return forward(ctx, p.deps.Forwarder,
		func(ctx context.Context) (*rpc.NaturalQueryResponse, error) {
			if err := p.deps.Leadership.VerifyLeader(); err != nil {
				return nil, err
			}
			now, _ := callerNow(req)
			out, err := p.askLocal(req.GetQuery(), now)
			return out, ownStatus(err)
		},
		func(ctx context.Context, c rpc.GridMasterClient) (*rpc.NaturalQueryResponse, error) {
			return c.AskQuery(ctx, req)
		})
}

// callerNow is the current time in the caller's zone (time_zone, else
// utc_offset_s, else this master's zone), so "today" is the caller's day.
// Both fields are checked whenever they are given.
func callerNow(req *rpc.NaturalQueryRequest) (time.Time, error) {
	now := time.Now()
	tz, off := req.GetTimeZone(), req.GetUtcOffsetS()
	if len(tz) > 64 {
		return now, fmt.Errorf("%w: time_zone is %d bytes; the limit is 64", ErrInvalid, len(tz))
	}
	if req.GetHasUtcOffset() && (off < -14*3600 || off > 14*3600) {
		return now, fmt.Errorf("%w: utc_offset_s %d: want -50400..50400", ErrInvalid, off)
	}
	if tz != "" {
		if loc, err := time.LoadLocation(tz); err == nil {
			return now.In(loc), nil
		} else if !req.GetHasUtcOffset() {
			return now, fmt.Errorf("%w: time_zone %q: not a known IANA zone name", ErrInvalid, tz)
		}
	}
	if req.GetHasUtcOffset() {
		return now.In(time.FixedZone(tz, int(off))), nil
	}
	return now, nil
}

// askLocal answers text from this master's state as of now.
func (p *Pipeline) askLocal(text string, now time.Time) (*rpc.NaturalQueryResponse, error) {
	text, truncated := truncateQuestion(text)
	resp := &rpc.NaturalQueryResponse{Success: true, Query: text}
	err := p.withEventStore(func(store *eventstore.Store) error {
		interp := eventstore.Compile(text, now, p.knownEntities(store))
		if err := store.ResolveAnchor(&interp); err != nil {
			return err
		}
		resp.Interpretation = interp.ToProto()
		resp.Explanation = interp.Explanation
		resp.Agents, resp.Nodes, resp.Results, resp.Count = nil, nil, nil, 0
		if !interp.Answerable() {
			if len(interp.UnknownEntities) == 0 {
				resp.Explanation += " No " + strings.Join(resp.Interpretation.GetAnchor().GetEventTypes(), "/") + " event" +
					ofEntity(interp.Anchor.Entity) + " was found to place the time against, so nothing was looked up."
			}
			resp.Examples = append([]string(nil), eventstore.ExampleQuestions...)
			return nil
		}
		switch interp.Intent {
		case eventstore.IntentAggregate:
			groups, truncated, err := store.Aggregate(interp.Filter(0), interp.GroupBy, interp.Having, interp.Order, interp.Limit)
			if err != nil {
				return err
			}
			for _, g := range groups {
				resp.Groups = append(resp.Groups, &rpc.QueryGroup{Key: g.Key, Count: g.Count})
			}
			resp.Count = uint32(len(groups))
			if truncated {
				resp.Explanation += " (only the oldest 200000 matching events were counted)"
			}
		case eventstore.IntentWhy:
			steps, err := store.Why(interp)
			if err != nil {
				return err
			}
			for _, st := range steps {
				resp.Chain = append(resp.Chain, &rpc.CausalStep{Event: st.Event, Link: st.Link})
				resp.Results = append(resp.Results, st.Event)
			}
			resp.Count = uint32(len(steps))
			if len(steps) == 0 {
				resp.Explanation += " Nothing matching was found to explain."
			}
		case "state":
			p.answerState(resp, interp)
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
func (p *Pipeline) answerState(resp *rpc.NaturalQueryResponse, interp eventstore.Interpretation) {
	want := strings.ToLower(interp.StateStatus)
	if interp.StateTarget == "nodes" {
		for _, n := range p.deps.Store.Nodes() {
			if want == "" || strings.EqualFold(n.GetStatus(), want) {
				resp.Nodes = append(resp.Nodes, n)
			}
		}
		resp.Count = uint32(len(resp.Nodes))
		return
	}
	for _, a := range p.deps.Store.Agents() {
		if want == "" || strings.EqualFold(a.GetStatus(), want) {
			resp.Agents = append(resp.Agents, a)
		}
	}
	resp.Count = uint32(len(resp.Agents))
}

// knownEntities lists the ids the compiler may match words against: agents
// and nodes in the registry, entities in the event graph, and masters.
func (p *Pipeline) knownEntities(store *eventstore.Store) []string {
	seen := make(map[string]bool)
	var out []string
	add := func(id string) {
		if id != "" && !seen[id] && len(out) < maxKnownEntities {
			seen[id] = true
			out = append(out, id)
		}
	}
	for _, a := range p.deps.Store.Agents() {
		add(a.GetAgentId())
	}
	for _, n := range p.deps.Store.Nodes() {
		add(n.GetNodeId())
	}
	if p.deps.MasterIDs != nil {
		for _, id := range p.deps.MasterIDs() {
			add(id)
		}
	}
	if ids, err := store.Entities("", maxKnownEntities); err == nil {
		for _, id := range ids {
			add(id)
		}
	}
	return out
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

func ofEntity(id string) string {
	if id == "" {
		return ""
	}
	return " of " + id
}
