package events

import (
	"fmt"
	"strings"
	"time"

	"github.com/gridctl/grid/rpc"
)

// Alert rule kinds.
const (
	// RuleCount fires when Threshold events of EventTypes with one group key
	// commit within Window; it resolves when fewer remain in the window.
	RuleCount = "count"
	// RuleQuorum fires when the cluster's failure tolerance has been 0 for
	// For; it resolves when the tolerance is back above 0.
	RuleQuorum = "quorum"
)

// Group keys of count rules.
const (
	GroupByEntity  = "entity"  // the event's entity_id
	GroupByCluster = "cluster" // one group for the whole cluster
	// GroupByDetailPrefix + KEY groups by a detail ("details.agent_id").
	GroupByDetailPrefix = "details."
)

// AlertRule is one rule the leader evaluates on events as they commit.
type AlertRule struct {
	Name       string
	Kind       string          // count (default) | quorum
	EventTypes []rpc.EventType // count: the events counted
	GroupBy    string          // count: entity | cluster | details.KEY
	Threshold  int             // count: events in the window that fire it
	Window     time.Duration   // count: how far back events count
	For        time.Duration   // quorum: how long tolerance 0 must last
	Disabled   bool
}

// DefaultAlertRules are the built-in rules (issue 18), each changeable or
// switched off by a rule of the same name in --alert-rules.
func DefaultAlertRules() []AlertRule {
	return []AlertRule{
		{Name: "crash_loop", Kind: RuleCount, EventTypes: []rpc.EventType{rpc.EventType_NODE_CRASHED},
			GroupBy: GroupByEntity, Threshold: 3, Window: 10 * time.Minute},
		// An offline->recovered cycle ends with a recovery: three of them in
		// the window is three cycles.
		{Name: "agent_flapping", Kind: RuleCount, EventTypes: []rpc.EventType{rpc.EventType_AGENT_RECOVERED},
			GroupBy: GroupByEntity, Threshold: 3, Window: 30 * time.Minute},
		{Name: "failover_storm", Kind: RuleCount, EventTypes: []rpc.EventType{rpc.EventType_LEADER_ELECTED},
			GroupBy: GroupByCluster, Threshold: 3, Window: 10 * time.Minute},
		{Name: "spawn_failures", Kind: RuleCount, EventTypes: []rpc.EventType{rpc.EventType_SPAWN_FAILED},
			GroupBy: GroupByCluster, Threshold: 5, Window: 10 * time.Minute},
		{Name: "quorum_at_risk", Kind: RuleQuorum, For: time.Minute},
	}
}

// Validate checks one rule: a name, known event types, a positive
// threshold and window, a known group key.
func (r AlertRule) Validate() error {
	if r.Name == "" || len(r.Name) > 64 || strings.ContainsAny(r.Name, " \t\n/") {
		return fmt.Errorf("rule name %q must be 1-64 characters without spaces or /", r.Name)
	}
	switch r.Kind {
	case RuleQuorum:
		if r.For <= 0 {
			return fmt.Errorf("rule %s: for must be > 0", r.Name)
		}
		return nil
	case RuleCount, "":
	default:
		return fmt.Errorf("rule %s: unknown kind %q (count or quorum)", r.Name, r.Kind)
	}
	if len(r.EventTypes) == 0 {
		return fmt.Errorf("rule %s: event_types is empty", r.Name)
	}
	for _, t := range r.EventTypes {
		if err := validateEventType("event type", t); err != nil {
			return fmt.Errorf("rule %s: %w", r.Name, err)
		}
	}
	if r.Threshold <= 0 {
		return fmt.Errorf("rule %s: threshold %d must be > 0", r.Name, r.Threshold)
	}
	if r.Window <= 0 {
		return fmt.Errorf("rule %s: window %s must be > 0", r.Name, r.Window)
	}
	switch {
	case r.GroupBy == GroupByEntity, r.GroupBy == GroupByCluster, r.GroupBy == "":
	case strings.HasPrefix(r.GroupBy, GroupByDetailPrefix) && len(r.GroupBy) > len(GroupByDetailPrefix):
	default:
		return fmt.Errorf("rule %s: group_by %q must be entity, cluster or details.KEY", r.Name, r.GroupBy)
	}
	return nil
}

// groupKey is e's group under r: "" when e does not belong to any.
func (r AlertRule) groupKey(e *rpc.Event) string {
	switch {
	case r.GroupBy == GroupByCluster:
		return "cluster"
	case strings.HasPrefix(r.GroupBy, GroupByDetailPrefix):
		return e.GetDetails()[strings.TrimPrefix(r.GroupBy, GroupByDetailPrefix)]
	}
	return e.GetEntityId()
}

// matches reports whether r counts events of type t.
func (r AlertRule) matches(t rpc.EventType) bool {
	for _, x := range r.EventTypes {
		if x == t {
			return true
		}
	}
	return false
}

// MergeAlertRules applies overrides to the built-in rules by name (a rule
// of a new name is added) and returns the enabled ones.
func MergeAlertRules(base, overrides []AlertRule) []AlertRule {
	out := append([]AlertRule(nil), base...)
	for _, o := range overrides {
		replaced := false
		for i := range out {
			if out[i].Name == o.Name {
				out[i], replaced = o, true
			}
		}
		if !replaced {
			out = append(out, o)
		}
	}
	enabled := out[:0]
	for _, r := range out {
		if !r.Disabled {
			enabled = append(enabled, r)
		}
	}
	return enabled
}
