package eventstore

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gridctl/grid/rpc"
	bolt "go.etcd.io/bbolt"
)

// Answer limits.
const (
	// maxAggregateScan bounds the events one aggregate reads.
	maxAggregateScan = 200_000
	// WhyWindow is how far before the explained event "why" looks.
	WhyWindow = 30 * time.Minute
	// maxWhySteps bounds a why chain.
	maxWhySteps = 40
)

// Group is one row of an aggregate answer.
type Group struct {
	Key   string
	Count uint64
}

// ResolveAnchor finds in.Anchor's event(s) and narrows in's time range to
// after, before or between them. It does nothing without an anchor; an
// anchor that matches no event leaves in unanswerable (Answerable).
func (s *Store) ResolveAnchor(in *Interpretation) error {
	a := in.Anchor
	if a == nil {
		return nil
	}
	f := Filter{Types: a.EventTypes, Limit: max(a.Nth, 1)}
	if a.Entity != "" {
		f.Entities = []string{a.Entity}
	}
	events, err := s.Events(f)
	if err != nil {
		return err
	}
	a.Resolved = true
	if len(events) < f.Limit {
		a.Events = nil
		return nil
	}
	a.Events = events
	newest, oldest := events[0].GetTimestamp(), events[len(events)-1].GetTimestamp()
	switch a.Relation {
	case "after":
		in.Since = max(in.Since, newest+1)
	case "before":
		in.Until = narrowUntil(in.Until, newest)
	case "between":
		in.Since = max(in.Since, oldest+1)
		in.Until = narrowUntil(in.Until, newest)
	}
	return nil
}

func narrowUntil(have, want int64) int64 {
	if have == 0 || want < have {
		return want
	}
	return have
}

// Aggregate counts the events matching f by key (GroupAgent, GroupNode,
// GroupEntity, GroupType), keeps the groups passing having, orders them
// (desc: most first; asc: fewest first; ties by key) and returns at most
// limit (0 = all). truncated reports that the scan stopped at its bound.
func (s *Store) Aggregate(f Filter, key string, having Having, order string, limit int) (groups []Group, truncated bool, err error) {
	counts := map[string]uint64{}
	f.Ascending, f.Limit = true, MaxEventLimit
	scanned := 0
	for {
		page, err := s.Events(f)
		if err != nil {
			return nil, false, err
		}
		for _, e := range page {
			if k := GroupKey(e, key); k != "" {
				counts[k]++
			}
		}
		scanned += len(page)
		if len(page) < f.Limit {
			break
		}
		if scanned >= maxAggregateScan {
			truncated = true
			break
		}
		f.After = page[len(page)-1].GetSeq()
	}
	for k, n := range counts {
		if having.Passes(n) {
			groups = append(groups, Group{Key: k, Count: n})
		}
	}
	slices.SortFunc(groups, func(a, b Group) int {
		c := cmp.Compare(b.Count, a.Count)
		if order == "asc" {
			c = -c
		}
		if c != 0 {
			return c
		}
		return cmp.Compare(a.Key, b.Key)
	})
	if limit > 0 && len(groups) > limit {
		groups = groups[:limit]
	}
	return groups, truncated, nil
}

// GroupKey is the aggregate key of e: its agent (details agent_id, or the
// entity of an agent_* event), its node (details node_id, or the entity of
// a node event), its entity or its type name. "" leaves e out.
func GroupKey(e *rpc.Event, key string) string {
	switch key {
	case GroupAgent:
		if id := e.GetDetails()["agent_id"]; id != "" {
			return id
		}
		if strings.HasPrefix(e.GetType().Name(), "agent_") {
			return e.GetEntityId()
		}
		return ""
	case GroupNode:
		if id := e.GetDetails()["node_id"]; id != "" {
			return id
		}
		switch e.GetType() {
		case rpc.EventType_NODE_CRASHED, rpc.EventType_NODE_RESTARTED, rpc.EventType_NODE_FAILED,
			rpc.EventType_SPAWN_REQUESTED, rpc.EventType_SPAWN_SUCCEEDED, rpc.EventType_SPAWN_FAILED,
			rpc.EventType_STOP_REQUESTED, rpc.EventType_STOP_SUCCEEDED, rpc.EventType_STOP_FAILED:
			return e.GetEntityId()
		}
		return ""
	case GroupType:
		return e.GetType().Name()
	}
	return e.GetEntityId()
}

// Step is one link of a why chain.
type Step struct {
	Event *rpc.Event
	Link  string
}

// Why explains the latest event of in's entities and types (in's time range
// applies) by walking back: the same entity's events in the WhyWindow before
// it, the hosting agent's status changes, leader changes, and the events an
// alert names as its causes. Steps are oldest first, the explained event
// last; nil when there is nothing to explain.
func (s *Store) Why(in Interpretation) ([]Step, error) {
	types := in.EventTypes
	if len(types) == 0 {
		types = whyDefault
	}
	target, err := s.Events(Filter{Types: types, Entities: in.Entities, Since: in.Since, Until: in.Until, Limit: 1})
	if err != nil || len(target) == 0 {
		return nil, err
	}
	t := target[0]
	from, to := t.GetTimestamp()-WhyWindow.Microseconds(), t.GetTimestamp()+1
	seen := map[string]bool{t.GetId(): true}
	var steps []Step
	add := func(events []*rpc.Event, link string) {
		for _, e := range events {
			if !seen[e.GetId()] && e.GetSeq() < t.GetSeq() {
				seen[e.GetId()] = true
				steps = append(steps, Step{Event: e, Link: link})
			}
		}
	}
	entity := t.GetEntityId()
	if len(in.Entities) > 0 {
		entity = in.Entities[0]
	}
	same, err := s.Events(Filter{Entities: []string{entity}, Since: from, Until: to, Limit: maxWhySteps})
	if err != nil {
		return nil, err
	}
	add(withoutHeartbeats(same), "same entity "+entity)
	if agent := t.GetDetails()["agent_id"]; agent != "" && agent != entity {
		status, err := s.Events(Filter{Entities: []string{agent}, Since: from, Until: to, Limit: maxWhySteps,
			Types: []rpc.EventType{rpc.EventType_AGENT_DEGRADED, rpc.EventType_AGENT_OFFLINE,
				rpc.EventType_AGENT_RECOVERED, rpc.EventType_AGENT_REGISTERED, rpc.EventType_AGENT_UNREGISTERED}})
		if err != nil {
			return nil, err
		}
		add(status, "hosting agent "+agent)
	}
	leaders, err := s.Events(Filter{Types: []rpc.EventType{rpc.EventType_LEADER_ELECTED}, Since: from, Until: to, Limit: 5})
	if err != nil {
		return nil, err
	}
	add(leaders, "leader change")
	for _, st := range slices.Clone(steps) {
		if causes, err := s.EventsByID(CausedBy(st.Event)); err == nil {
			add(causes, fmt.Sprintf("caused_by of %s", st.Event.GetId()))
		}
	}
	if causes, err := s.EventsByID(CausedBy(t)); err == nil {
		add(causes, "caused_by")
	}
	slices.SortFunc(steps, func(a, b Step) int { return cmp.Compare(a.Event.GetSeq(), b.Event.GetSeq()) })
	if len(steps) > maxWhySteps {
		steps = steps[len(steps)-maxWhySteps:]
	}
	return append(steps, Step{Event: t, Link: "explained event"}), nil
}

func withoutHeartbeats(events []*rpc.Event) []*rpc.Event {
	return slices.DeleteFunc(events, func(e *rpc.Event) bool { return e.GetType() == rpc.EventType_AGENT_HEARTBEAT })
}

// EventsByID returns the stored events with these ids, in the given order;
// ids not (or no longer) stored are skipped.
func (s *Store) EventsByID(ids []string) ([]*rpc.Event, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var out []*rpc.Event
	err := s.view(func(tx *bolt.Tx) error {
		g := newGView(tx, s.ix)
		for _, id := range ids {
			seq := g.lookupID(id)
			if seq == 0 {
				continue
			}
			e, err := loadEventWith(tx, g.in, seq)
			if err != nil {
				return err
			}
			if e != nil {
				out = append(out, e)
			}
		}
		return nil
	})
	return out, err
}
