package eventstore

import (
	"fmt"
	"strings"
	"time"
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
	switch in.Intent {
	case IntentState:
		status := in.StateStatus
		if status == "" {
			fmt.Fprintf(&b, "Listing all %s and their current status", in.StateTarget)
		} else {
			fmt.Fprintf(&b, "Listing %s whose current status is %s", in.StateTarget, status)
		}
	case IntentCount:
		fmt.Fprintf(&b, "Counting %s%s", describeEvents(in), describeTime(in.Since, in.Until, now.Location()))
	case IntentTimeline:
		fmt.Fprintf(&b, "Showing %s%s, oldest first", describeEvents(in), describeTime(in.Since, in.Until, now.Location()))
	default:
		fmt.Fprintf(&b, "Listing %s%s, newest first", describeEvents(in), describeTime(in.Since, in.Until, now.Location()))
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
