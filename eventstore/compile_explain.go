package eventstore

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gridctl/grid/rpc"
)

// explain says in one sentence what the interpretation will look for and,
// when needed, what it could not place.
func explain(in Interpretation, now time.Time, understood, empty bool) string {
	if empty {
		return "Empty question: showing the most recent events."
	}
	var b strings.Builder
	if !understood {
		fmt.Fprintf(&b, "Could not understand %s; showing the most recent events instead.", quoteAll(in.NotUnderstood))
		return b.String()
	}
	if len(in.UnknownEntities) > 0 {
		return describeUnknown(in.UnknownEntities)
	}
	switch in.Intent {
	case IntentAggregate:
		fmt.Fprintf(&b, "%s%s%s", describeAggregate(in), describeAnchor(in.Anchor), describeTime(in.Since, in.Until, now.Location()))
	case IntentWhy:
		fmt.Fprintf(&b, "Explaining the latest %s by walking the event graph back from it (same entity, hosting agent, leader changes, alert triggers)", describeEvents(in))
	case IntentState:
		status := in.StateStatus
		if status == "" {
			fmt.Fprintf(&b, "Listing all %s and their current status", in.StateTarget)
		} else {
			fmt.Fprintf(&b, "Listing %s whose current status is %s", in.StateTarget, status)
		}
	case IntentCount:
		fmt.Fprintf(&b, "Counting %s%s%s", describeEvents(in), describeAnchor(in.Anchor), describeTime(in.Since, in.Until, now.Location()))
	case IntentTimeline:
		fmt.Fprintf(&b, "Showing %s%s%s, oldest first", describeEvents(in), describeAnchor(in.Anchor), describeTime(in.Since, in.Until, now.Location()))
	default:
		fmt.Fprintf(&b, "Listing %s%s%s, newest first", describeEvents(in), describeAnchor(in.Anchor), describeTime(in.Since, in.Until, now.Location()))
	}
	b.WriteString(".")
	if len(in.NotUnderstood) > 0 {
		fmt.Fprintf(&b, " Ignored what I could not place: %s.", quoteAll(in.NotUnderstood))
	}
	return b.String()
}

func describeEvents(in Interpretation) string {
	what := "all events"
	if len(in.EventTypes) > 0 {
		names := make([]string, len(in.EventTypes))
		for i, t := range in.EventTypes {
			names[i] = t.Name()
		}
		what = strings.Join(names, ", ") + " events"
	}
	if len(in.Entities) > 0 {
		what += " of " + strings.Join(in.Entities, ", ")
	}
	return what
}

func describeTime(since, until int64, loc *time.Location) string {
	const layout = "2006-01-02 15:04 MST"
	s := time.UnixMicro(since).In(loc).Format(layout)
	u := time.UnixMicro(until).In(loc).Format(layout)
	switch {
	case since != 0 && until != 0:
		return " from " + s + " until " + u
	case since != 0:
		return " since " + s
	case until != 0:
		return " before " + u
	}
	return ""
}

func quoteAll(ws []string) string {
	q := make([]string, len(ws))
	for i, w := range ws {
		q[i] = fmt.Sprintf("%q", w)
	}
	return strings.Join(q, ", ")
}

func havingProto(h Having) *rpc.QueryHaving {
	if h.Op == "" {
		return nil
	}
	return &rpc.QueryHaving{Op: h.Op, Count: h.Count}
}

func unknownProto(us []UnknownEntity) []*rpc.UnknownEntity {
	var out []*rpc.UnknownEntity
	for _, u := range us {
		out = append(out, &rpc.UnknownEntity{Entity: u.Entity, Suggestions: slices.Clone(u.Suggestions)})
	}
	return out
}

func anchorProto(a *Anchor) *rpc.QueryAnchor {
	if a == nil {
		return nil
	}
	names := make([]string, len(a.EventTypes))
	for k, t := range a.EventTypes {
		names[k] = t.Name()
	}
	return &rpc.QueryAnchor{Text: a.Text, Relation: a.Relation, EventTypes: names, Entity: a.Entity,
		Nth: uint32(max(a.Nth, 0)), Events: a.Events}
}

// describeUnknown says which named ids the history has never seen.
func describeUnknown(us []UnknownEntity) string {
	var b strings.Builder
	for _, u := range us {
		fmt.Fprintf(&b, "No %s in the history", u.Entity)
		if len(u.Suggestions) > 0 {
			fmt.Fprintf(&b, "; did you mean %s?", strings.Join(u.Suggestions, " or "))
		} else {
			b.WriteString(".")
		}
		b.WriteString(" ")
	}
	b.WriteString("Nothing was looked up for an entity that was not named.")
	return b.String()
}

func describeAggregate(in Interpretation) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Counting %s by %s", describeEvents(in), in.GroupBy)
	if in.Having.Op != "" {
		fmt.Fprintf(&b, ", keeping %ss with a count %s %d", in.GroupBy, opWords[in.Having.Op], in.Having.Count)
	}
	switch {
	case in.Limit > 0 && in.Order == "asc":
		fmt.Fprintf(&b, ", the %d with the fewest", in.Limit)
	case in.Limit > 0:
		fmt.Fprintf(&b, ", the top %d", in.Limit)
	case in.Order == "asc":
		b.WriteString(", fewest first")
	default:
		b.WriteString(", most first")
	}
	return b.String()
}

var opWords = map[string]string{"gt": "above", "ge": "of at least", "lt": "below", "le": "of at most", "eq": "of exactly"}

func describeAnchor(a *Anchor) string {
	if a == nil {
		return ""
	}
	what := "the latest"
	if a.Relation == "between" {
		what = "the latest two"
	}
	names := make([]string, len(a.EventTypes))
	for k, t := range a.EventTypes {
		names[k] = t.Name()
	}
	s := fmt.Sprintf(" %s %s %s event", a.Relation, what, strings.Join(names, "/"))
	if a.Entity != "" {
		s += " of " + a.Entity
	}
	return s
}
