package eventstore

import (
	"slices"
	"strings"
)

// anchorWords start a time relative to another event.
var anchorWords = map[string]string{
	"after": "after", "since": "after", "following": "after",
	"before": "before", "until": "before", "till": "before", "preceding": "before",
	"between": "between",
}

// parseAnchor recognises "after the last failover", "before agent-002 went
// offline", "since node-abc last restarted", "between the last two leader
// elections". The words after the anchor word, up to the next placed
// token, are read as an event (types and at most one entity); when they
// name no event type the words are left for the other parsers.
func (q *question) parseAnchor() {
	for i := 0; i < len(q.words); i++ {
		start := i
		if q.words[i] == "prior" && q.free(i+1) && q.words[i+1] == "to" {
			i++ // "prior to" is "before"
		}
		rel, ok := anchorWords[q.words[i]]
		if start != i {
			rel, ok = "before", true
		}
		if !ok || !q.free(i) {
			continue
		}
		end := i + 1
		for end < len(q.words) && q.free(end) && anchorWords[q.words[end]] == "" && !isClauseWord(q.words[end]) {
			end++
		}
		if end == i+1 {
			continue
		}
		sub := &question{now: q.now, known: q.known}
		sub.words = slices.Clone(q.words[i+1 : end])
		sub.stems = slices.Clone(q.stems[i+1 : end])
		sub.used = make([]bool, len(sub.words))
		nth := 1
		for k, w := range sub.words {
			switch w {
			case "the", "last", "latest", "recent", "most", "previous", "a", "an":
				sub.used[k] = true
			case "two", "2":
				if rel == "between" {
					nth = 2
					sub.used[k] = true
				}
			}
		}
		sub.parseEntities(q.known)
		sub.parseTypes()
		if len(sub.types) == 0 {
			continue
		}
		sub.placeLeftovers()
		if len(sub.entities)+len(sub.unknown) > 1 {
			continue
		}
		a := &Anchor{Relation: rel, EventTypes: sub.types, Nth: nth}
		if rel == "between" {
			a.Nth = 2
		}
		if len(sub.entities) == 1 {
			a.Entity = sub.entities[0]
		}
		q.unknown = append(q.unknown, sub.unknown...)
		// Only the words the sub-question placed belong to the anchor.
		last := i
		for k := range sub.words {
			if sub.used[k] {
				last = i + 1 + k
			} else {
				break
			}
		}
		q.take(start, last+1)
		a.Text = strings.Join(q.words[start:last+1], " ")
		q.anchor = a
		q.hasTime = true
		q.understood = true
		return
	}
}

// isClauseWord ends an anchor's words: "before agent-002 went offline and
// on which nodes".
func isClauseWord(w string) bool {
	switch w {
	case "and", "or", "on", "for", "in", "during", "with", "per", "by":
		return true
	}
	return false
}
