package eventstore

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Entity matching limits.
const (
	// maxKnownEntities bounds how many known ids fuzzy matching compares.
	maxKnownEntities = 5000
	// maxFuzzyRunes bounds the words fuzzy matching compares.
	maxFuzzyRunes = 64
)

var (
	// entityWord is an id such as agent-001, node-7f3a, master-1, agent1.
	entityWord = regexp.MustCompile(`^(agent|node|master|sn|storage-node|m)-?[a-z0-9][a-z0-9_.-]*$`)
	// entityKind is a kind word followed by a separate id: "agent 1".
	entityKinds = map[string]string{"agent": "agent", "node": "node", "master": "master", "storage-node": "node"}
	// numberedID splits agent-001 into agent and 001.
	numberedID = regexp.MustCompile(`^([a-z][a-z-]*?)-?0*([0-9]+)$`)
	idPart     = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)
)

// parseEntities finds entity ids and resolves them against known ids.
func (q *question) parseEntities(known []string) {
	if len(known) > maxKnownEntities {
		known = known[:maxKnownEntities]
	}
	for i := 0; i < len(q.words); i++ {
		if !q.free(i) {
			continue
		}
		w := q.words[i]
		switch {
		case w == "cluster":
			if !q.clusterTypeWord(i) {
				q.addEntity("cluster", i, i+1)
			}
		case slices.Contains(known, w):
			q.addEntity(w, i, i+1)
		case entityKinds[w] != "" && q.free(i+1) && idPart.MatchString(q.words[i+1]) && strings.ContainsAny(q.words[i+1], "0123456789"):
			cand := entityKinds[w] + "-" + q.words[i+1]
			q.addResolved(cand, q.resolveEntity(cand, known), i, i+2)
			i++
		case entityWord.MatchString(w) && strings.ContainsAny(w, "0123456789-") && !isKindWord(w):
			q.addResolved(w, q.resolveEntity(w, known), i, i+1)
		case !isASCII(w) && len([]rune(w)) >= 5 && strings.ContainsAny(w, "-0123456789"):
			// A homoglyph ("аgent-001" with a Cyrillic а) is never taken
			// for the id it imitates: it is unknown, and the id is offered.
			q.addUnknown(w, i, i+1)
		case len(w) >= 5 && strings.ContainsAny(w, "-0123456789") && !isTimeWord(w) && w[0] != '-':
			if m, ok := fuzzyEntity(w, known); ok && sameDigits(m, w) {
				q.addEntity(m, i, i+1)
			}
		}
	}
}

// isKindWord reports plain words the entity pattern would otherwise catch.
func isKindWord(w string) bool {
	switch w {
	case "agents", "nodes", "masters", "storage-node", "storage-nodes", "node-", "agent-":
		return true
	}
	return false
}

// isTimeWord reports tokens that are dates or clock times.
func isTimeWord(w string) bool {
	return clockTime.MatchString(w) || compactDuration.MatchString(w) || strings.Count(w, "-") == 2 && w[0] >= '0' && w[0] <= '9'
}

// clusterTypeWord reports whether "cluster" at i starts a cluster_* event phrase.
func (q *question) clusterTypeWord(i int) bool {
	j := i + 1
	for j < len(q.words) && clusterVerbs[q.words[j]] {
		j++
	}
	if j >= len(q.words) {
		return false
	}
	switch stem(q.words[j]) {
	case "health", "healthy", "degrade", "critical", "status", "state":
		return true
	}
	return false
}

// clusterVerbs may sit between "cluster" and its state: "cluster went critical".
var clusterVerbs = map[string]bool{"is": true, "was": true, "went": true, "became": true, "got": true, "turned": true, "been": true, "has": true}

func (q *question) addEntity(id string, i, j int) {
	if !slices.Contains(q.entities, id) {
		q.entities = append(q.entities, id)
	}
	q.take(i, j)
	q.understood = true
}

// addResolved adds the resolved id, or records written as unknown when
// resolution found none.
func (q *question) addResolved(written, resolved string, i, j int) {
	if resolved == "" {
		q.addUnknown(written, i, j)
		return
	}
	q.addEntity(resolved, i, j)
}

// addUnknown records an id the history has never seen, with suggestions,
// and places its tokens: it is understood, just not known.
func (q *question) addUnknown(written string, i, j int) {
	for _, u := range q.unknown {
		if u.Entity == written {
			q.take(i, j)
			return
		}
	}
	q.unknown = append(q.unknown, UnknownEntity{Entity: written, Suggestions: suggestEntities(written, q.known)})
	q.take(i, j)
	q.understood = true
}

// resolveEntity maps a written id to a known one: exact, then the same
// kind and number (agent-1 -> agent-001), then the closest within a small
// edit distance when only letters differ (agnet-001 -> agent-001, never
// agent-009 -> agent-001). It returns "" for an id nobody has seen.
func (q *question) resolveEntity(cand string, known []string) string {
	if slices.Contains(known, cand) {
		return cand
	}
	if m := numberedID.FindStringSubmatch(cand); m != nil {
		if q.numbered == nil {
			q.numbered = make([]numberedKnown, 0, len(known))
			for _, k := range known {
				if km := numberedID.FindStringSubmatch(k); km != nil {
					q.numbered = append(q.numbered, numberedKnown{id: k, kind: km[1], num: km[2]})
				}
			}
		}
		for _, k := range q.numbered {
			if k.kind == m[1] && sameNumber(k.num, m[2]) {
				return k.id
			}
		}
	}
	if m, ok := fuzzyEntity(cand, known); ok && sameDigits(m, cand) {
		return m
	}
	if cand == "cluster" {
		return cand
	}
	return ""
}

// numberedKnown is a known id split into kind and number, parsed once per question.
type numberedKnown struct{ id, kind, num string }

func sameNumber(a, b string) bool {
	x, err1 := strconv.ParseUint(a, 10, 64)
	y, err2 := strconv.ParseUint(b, 10, 64)
	return err1 == nil && err2 == nil && x == y
}

// fuzzyEntity finds the known id closest to w: edit distance 1 for short
// ids, 2 for longer ones; ties go to the smaller id.
func fuzzyEntity(w string, known []string) (string, bool) {
	wr := []rune(w)
	if len(wr) > maxFuzzyRunes {
		return "", false
	}
	limit := 1
	if len(wr) > 6 {
		limit = 2
	}
	best, bestD := "", limit+1
	for _, k := range known {
		kr := []rune(k)
		if len(kr) > maxFuzzyRunes || abs(len(kr)-len(wr)) > limit {
			continue
		}
		d := editDistance(wr, kr, limit)
		if d < bestD || (d == bestD && k < best) {
			best, bestD = k, d
		}
	}
	return best, bestD <= limit
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// editDistance is the Damerau (optimal string alignment) distance between a
// and b, or limit+1 once it must exceed limit.
func editDistance(a, b []rune, limit int) int {
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
			rowMin = min(rowMin, cur[j])
		}
		if rowMin > limit {
			return limit + 1
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
