package eventstore

import (
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/gridctl/grid/rpc"
)

// Compile limits: a question is cut to this much before any work.
const (
	maxQuestionRunes = 512
	maxQuestionWords = 64
)

// Intents an Interpretation can carry.
const (
	IntentList     = "list"
	IntentCount    = "count"
	IntentTimeline = "timeline"
	IntentState    = "state"
	// IntentAggregate groups matching events and counts each group
	// ("which agent has the most crashes", "restarts per node").
	IntentAggregate = "aggregate"
	// IntentWhy walks the graph back from an entity's latest matching event.
	IntentWhy = "why"
)

// Aggregate group keys.
const (
	GroupAgent  = "agent"
	GroupNode   = "node"
	GroupEntity = "entity"
	GroupType   = "type"
)

// Having keeps aggregate rows whose count compares to Count with Op
// (gt|ge|lt|le|eq); the zero value keeps every row.
type Having struct {
	Op    string
	Count uint32
}

// UnknownEntity is an id the history has never seen, with close known ids.
type UnknownEntity struct {
	Entity      string
	Suggestions []string
}

// Anchor is an event another time is relative to: "after the last
// failover", "before agent-002 went offline", "between the last two leader
// elections". Compile only names it; Store.ResolveAnchor finds it.
type Anchor struct {
	Text       string          // the words it came from
	Relation   string          // after|before|between
	EventTypes []rpc.EventType // the anchor event is any of these
	Entity     string          // of this entity; "" = any
	Nth        int             // 1 = the latest; between uses the latest two
	Events     []*rpc.Event    // filled by ResolveAnchor: newest first
	Resolved   bool            // ResolveAnchor ran
}

// Interpretation is what Compile understood of a plain-English question.
type Interpretation struct {
	Intent        string          // list|count|timeline|state|aggregate|why
	EventTypes    []rpc.EventType // any of these; empty = any
	Entities      []string        // any of these; empty = any
	Since, Until  int64           // unix micros; 0 = unbounded
	StateTarget   string          // intent=state: "agents" or "nodes"
	StateStatus   string          // intent=state: offline|degraded|healthy|failed|running|...
	NotUnderstood []string        // words or phrases it could not place
	Explanation   string          // one sentence saying what it will look for

	GroupBy         string          // intent=aggregate: agent|node|entity|type
	Order           string          // intent=aggregate: desc|asc
	Limit           int             // intent=aggregate: rows; 0 = all
	Having          Having          // intent=aggregate: row filter
	UnknownEntities []UnknownEntity // named ids the history has never seen
	Anchor          *Anchor         // a time relative to another event
	Followed        []string        // intent=why: associations walked
}

// Answerable reports whether the interpretation may be run: not when it
// names an entity nobody has seen (nothing is answered for an entity the
// user did not name) or an anchor event that could not be found.
func (i Interpretation) Answerable() bool {
	if len(i.UnknownEntities) > 0 {
		return false
	}
	return i.Anchor == nil || !i.Anchor.Resolved || len(i.Anchor.Events) > 0
}

// ExampleQuestions are shown when a question could not be placed.
var ExampleQuestions = []string{
	"what happened to agent-001 today",
	"spawn failures in the last 2 hours",
	"how many nodes crashed yesterday",
	"which agents are offline",
	"which nodes failed",
	"leader elections this week",
	"agents that went offline since 14:00",
	"restarts of node-abc since 2026-11-20",
}

// Filter turns the interpretation into an event filter; timelines are
// oldest first, everything else newest first.
func (i Interpretation) Filter(limit int) Filter {
	return Filter{
		Types:     slices.Clone(i.EventTypes),
		Entities:  slices.Clone(i.Entities),
		Since:     i.Since,
		Until:     i.Until,
		Limit:     limit,
		Ascending: i.Intent == IntentTimeline,
	}
}

// ToProto renders the interpretation for the wire (event types by name).
func (i Interpretation) ToProto() *rpc.QueryInterpretation {
	names := make([]string, len(i.EventTypes))
	for k, t := range i.EventTypes {
		names[k] = t.Name()
	}
	return &rpc.QueryInterpretation{
		Intent:          i.Intent,
		EventTypes:      names,
		Entities:        slices.Clone(i.Entities),
		Since:           i.Since,
		Until:           i.Until,
		NotUnderstood:   slices.Clone(i.NotUnderstood),
		StateTarget:     i.StateTarget,
		StateStatus:     i.StateStatus,
		GroupBy:         i.GroupBy,
		Order:           i.Order,
		Limit:           uint32(max(i.Limit, 0)),
		Followed:        slices.Clone(i.Followed),
		Having:          havingProto(i.Having),
		UnknownEntities: unknownProto(i.UnknownEntities),
		Anchor:          anchorProto(i.Anchor),
	}
}

// question is a tokenised question with the tokens already placed.
type question struct {
	words []string // lower-cased tokens
	stems []string // stem of each token
	used  []bool
	now   time.Time

	since, until int64
	hasTime      bool
	timeText     []string
	types        []rpc.EventType
	entities     []string
	intent       string
	stateTarget  string
	stateStatus  string
	understood   bool // some word besides fillers was placed
	numbered     []numberedKnown
	known        []string
	unknown      []UnknownEntity

	groupBy, order string
	limit          int
	having         Having
	anchor         *Anchor
}

// Compile turns a plain-English question into an Interpretation. It never
// fails: what it cannot place goes to NotUnderstood and the Explanation says
// so. now anchors relative times (its location is used for "today" etc.);
// knownEntities lets "agent 1" or "agnet-001" resolve to "agent-001".
// Work is bounded: only the first 512 runes and 64 words are read.
func Compile(text string, now time.Time, knownEntities []string) Interpretation {
	q := &question{now: now}
	q.words = tokenize(text)
	q.stems = make([]string, len(q.words))
	for i, w := range q.words {
		q.stems[i] = stem(w)
	}
	q.used = make([]bool, len(q.words))

	q.known = knownEntities
	q.parseTimes()
	q.parseAnchor()
	q.parseEntities(knownEntities)
	q.parseWhy()
	q.parseAggregate()
	if q.intent == "" {
		q.parseIntent()
	}
	if q.intent != IntentState {
		q.parseTypes()
	}
	q.placeLeftovers()
	return q.interpretation()
}

// tokenize lower-cases the first maxQuestionRunes runes and splits them into
// at most maxQuestionWords words. Letters, digits and - _ : / . + inside
// words are kept; everything else (punctuation, emoji, control and format
// characters such as RTL marks, NUL) separates words.
func tokenize(text string) []string {
	var b strings.Builder
	n := 0
	for _, r := range text {
		if n >= maxQuestionRunes {
			break
		}
		n++
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(unicode.ToLower(r))
		case r == '-' || r == '_' || r == ':' || r == '/' || r == '.' || r == '+':
			b.WriteRune(r)
		case r == '\'' || r == '’':
			// didn't -> didnt
		default:
			b.WriteByte(' ')
		}
	}
	var out []string
	for _, w := range strings.Fields(b.String()) {
		neg := len(w) > 1 && w[0] == '-' && w[1] >= '0' && w[1] <= '9'
		w = strings.Trim(w, "-_:/.+")
		if neg && w != "" {
			w = "-" + w // "-5 hours" must not read as "5 hours"
		}
		if w == "" {
			continue
		}
		if len(out) == maxQuestionWords {
			break
		}
		out = append(out, w)
	}
	return out
}

// take marks tokens i..j-1 as placed.
func (q *question) take(i, j int) {
	for k := max(i, 0); k < j && k < len(q.used); k++ {
		q.used[k] = true
	}
}

// free reports whether token i exists and is not yet placed.
func (q *question) free(i int) bool { return i >= 0 && i < len(q.words) && !q.used[i] }

// hasWord reports whether any unplaced token is one of words.
func (q *question) hasWord(words ...string) bool {
	for i, w := range q.words {
		if !q.used[i] && slices.Contains(words, w) {
			return true
		}
	}
	return false
}

// phrase finds the unplaced consecutive words ws; returns its start or -1.
func (q *question) phrase(ws ...string) int {
	for i := 0; i+len(ws) <= len(q.words); i++ {
		ok := true
		for k, w := range ws {
			if q.used[i+k] || q.words[i+k] != w {
				ok = false
				break
			}
		}
		if ok {
			return i
		}
	}
	return -1
}

// placeLeftovers consumes filler words and collects the rest, in runs, as
// not understood.
func (q *question) placeLeftovers() {
	for i, w := range q.words {
		if !q.used[i] && isFiller(w) {
			q.used[i] = true
		}
	}
}

// notUnderstood joins consecutive unplaced tokens into phrases.
func (q *question) notUnderstood() []string {
	var out []string
	var run []string
	flush := func() {
		if len(run) > 0 {
			out = append(out, strings.Join(run, " "))
			run = nil
		}
	}
	for i, w := range q.words {
		if q.used[i] {
			flush()
			continue
		}
		run = append(run, w)
	}
	flush()
	return out
}

func (q *question) interpretation() Interpretation {
	in := Interpretation{
		Intent:          q.intent,
		EventTypes:      q.types,
		Entities:        q.entities,
		Since:           q.since,
		Until:           q.until,
		StateTarget:     q.stateTarget,
		StateStatus:     q.stateStatus,
		NotUnderstood:   q.notUnderstood(),
		GroupBy:         q.groupBy,
		Order:           q.order,
		Limit:           q.limit,
		Having:          q.having,
		UnknownEntities: q.unknown,
		Anchor:          q.anchor,
	}
	if in.Intent == IntentWhy {
		in.Followed = WhyFollowed
	}
	if in.Intent == "" {
		in.Intent = IntentList
	}
	understood := q.understood || len(q.types) > 0 || len(q.entities) > 0 || q.hasTime || len(in.NotUnderstood) == 0 || len(q.unknown) > 0
	in.Explanation = explain(in, q.now, understood, len(q.words) == 0)
	return in
}
