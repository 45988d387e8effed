package eventstore

import "strings"

// defaultTopLimit is the rows "top nodes by restarts" shows without a number.
const defaultTopLimit = 5

// groupWords map a word to the aggregate key it groups by.
var groupWords = map[string]string{
	"agent": GroupAgent, "agents": GroupAgent, "node": GroupNode, "nodes": GroupNode,
	"storage-node": GroupNode, "storage-nodes": GroupNode, "master": GroupEntity, "masters": GroupEntity,
	"entity": GroupEntity, "entities": GroupEntity, "type": GroupType, "types": GroupType, "kind": GroupType,
}

// timesWords are counts written as words ("more than twice").
var timesWords = map[string]int{"once": 1, "twice": 2, "thrice": 3}

// parseAggregate recognises grouping and ranking: "which agent has the most
// crashes", "top 3 nodes by restarts", "crashes per agent", "nodes that
// restarted more than twice", "at least 3 times".
func (q *question) parseAggregate() {
	if q.intent != "" {
		return
	}
	found := q.parseRank() || q.parseTop()
	if q.parsePer() {
		found = true
	}
	if q.parseHaving() {
		found = true
	}
	if !found {
		return
	}
	q.intent = IntentAggregate
	q.understood = true
	if q.groupBy == "" {
		if key, i := q.firstGroupWord(0); i >= 0 {
			q.groupBy = key
			q.take(i, i+1)
		} else {
			q.groupBy = GroupEntity
		}
	}
	if q.order == "" {
		q.order = "desc"
	}
	for _, ph := range [][]string{{"how", "many"}, {"number", "of"}, {"count", "of"}, {"count"}} {
		if i := q.phrase(ph...); i >= 0 {
			q.take(i, i+len(ph))
		}
	}
}

// firstGroupWord finds the first unplaced group word at or after from.
func (q *question) firstGroupWord(from int) (string, int) {
	for i := from; i < len(q.words); i++ {
		if key, ok := groupWords[q.words[i]]; ok && q.free(i) {
			return key, i
		}
	}
	return "", -1
}

// parseRank: "which agent has the most crashes", "fewest restarts".
func (q *question) parseRank() bool {
	for i, w := range q.words {
		if !q.free(i) || (w != "most" && w != "fewest" && w != "least") || (i > 0 && q.words[i-1] == "at") {
			continue
		}
		q.order = "desc"
		if w != "most" {
			q.order = "asc"
		}
		q.take(i, i+1)
		if q.free(i-1) && q.words[i-1] == "the" {
			q.take(i-1, i)
		}
		// The group is the kind word before "most" (which agent has the most).
		for k := i - 1; k >= 0; k-- {
			if key, ok := groupWords[q.words[k]]; ok && q.free(k) {
				q.groupBy = key
				if !strings.HasSuffix(q.words[k], "s") {
					q.limit = 1
				}
				q.take(k, k+1)
				break
			}
		}
		return true
	}
	return false
}

// parseTop: "top 3 nodes by restarts", "top agents".
func (q *question) parseTop() bool {
	i := q.phrase("top")
	if i < 0 {
		return false
	}
	q.take(i, i+1)
	q.limit = defaultTopLimit
	j := i + 1
	if q.free(j) {
		if n, ok := number(q.words[j]); ok && n <= MaxEventLimit {
			q.limit = n
			q.take(j, j+1)
			j++
		}
	}
	if q.free(j) {
		if key, ok := groupWords[q.words[j]]; ok {
			q.groupBy = key
			q.take(j, j+1)
			j++
		}
	}
	if q.free(j) && q.words[j] == "by" {
		q.take(j, j+1)
	}
	q.order = "desc"
	return true
}

// parsePer: "crashes per agent", "for each node", "grouped by type".
func (q *question) parsePer() bool {
	for _, ph := range [][]string{{"for", "each"}, {"grouped", "by"}, {"group", "by"}, {"broken", "down", "by"},
		{"per"}, {"each"}, {"by", "event"}, {"by"}} {
		i := q.phrase(ph...)
		if i < 0 {
			continue
		}
		k := i + len(ph)
		key, ok := "", false
		if q.free(k) {
			key, ok = groupWords[q.words[k]]
		}
		if !ok {
			continue
		}
		q.groupBy = key
		q.take(i, k+1)
		return true
	}
	return false
}

// parseHaving: "more than N times", "at least N times", "N or more times",
// "more than twice", "fewer than 3 times", "exactly 2 times".
func (q *question) parseHaving() bool {
	for i := range q.words {
		if !q.free(i) {
			continue
		}
		op, n, j := q.havingAt(i)
		if op == "" {
			continue
		}
		if q.free(j) && (q.words[j] == "times" || q.words[j] == "time") {
			j++
		}
		q.having = Having{Op: op, Count: uint32(n)}
		q.take(i, j)
		return true
	}
	return false
}

// havingAt parses a comparison starting at token i; j is the token after it.
func (q *question) havingAt(i int) (op string, n, j int) {
	count := func(k int) (int, bool) {
		if !q.free(k) {
			return 0, false
		}
		if v, ok := timesWords[q.words[k]]; ok {
			return v, true
		}
		v, ok := number(q.words[k])
		if ok && (q.words[k] == "a" || q.words[k] == "an") {
			return 0, false
		}
		return v, ok && v <= 1_000_000
	}
	two := func(a, b string) bool {
		return q.free(i) && q.free(i+1) && q.words[i] == a && q.words[i+1] == b
	}
	switch {
	case two("more", "than"), two("greater", "than"):
		if v, ok := count(i + 2); ok {
			return "gt", v, i + 3
		}
	case two("at", "least"):
		if v, ok := count(i + 2); ok {
			return "ge", v, i + 3
		}
	case two("fewer", "than"), two("less", "than"):
		if v, ok := count(i + 2); ok {
			return "lt", v, i + 3
		}
	case two("at", "most"):
		if v, ok := count(i + 2); ok {
			return "le", v, i + 3
		}
	case q.words[i] == "exactly":
		if v, ok := count(i + 1); ok {
			return "eq", v, i + 2
		}
	case q.words[i] == "over":
		if v, ok := count(i + 1); ok && q.free(i+2) && strings.HasPrefix(q.words[i+2], "time") {
			return "gt", v, i + 2
		}
	}
	if v, ok := count(i); ok && q.free(i+1) && q.free(i+2) && q.words[i+1] == "or" && q.words[i+2] == "more" {
		return "ge", v, i + 3
	}
	return "", 0, i
}

// Passes reports whether a count passes the having clause.
func (h Having) Passes(n uint64) bool {
	c := uint64(h.Count)
	switch h.Op {
	case "gt":
		return n > c
	case "ge":
		return n >= c
	case "lt":
		return n < c
	case "le":
		return n <= c
	case "eq":
		return n == c
	}
	return true
}
