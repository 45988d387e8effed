package eventstore

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
)

// compileNow is Friday 2026-11-20 15:30 UTC.
var compileNow = time.Date(2026, 11, 20, 15, 30, 0, 0, time.UTC)

var compileKnown = []string{"agent-001", "agent-002", "node-abc123", "master-1", "cluster"}

// at is a UTC time on November 2026 in micros.
func at(day, hour, minute int) int64 {
	return time.Date(2026, 11, day, hour, minute, 0, 0, time.UTC).UnixMicro()
}

func ago(d time.Duration) int64 { return compileNow.Add(-d).UnixMicro() }

type E = rpc.EventType

const (
	spawnFailed   = rpc.EventType_SPAWN_FAILED
	spawnReq      = rpc.EventType_SPAWN_REQUESTED
	spawnOK       = rpc.EventType_SPAWN_SUCCEEDED
	stopFailed    = rpc.EventType_STOP_FAILED
	stopReq       = rpc.EventType_STOP_REQUESTED
	stopOK        = rpc.EventType_STOP_SUCCEEDED
	crashed       = rpc.EventType_NODE_CRASHED
	restarted     = rpc.EventType_NODE_RESTARTED
	nodeFailed    = rpc.EventType_NODE_FAILED
	offline       = rpc.EventType_AGENT_OFFLINE
	degraded      = rpc.EventType_AGENT_DEGRADED
	recovered     = rpc.EventType_AGENT_RECOVERED
	registered    = rpc.EventType_AGENT_REGISTERED
	unregistered  = rpc.EventType_AGENT_UNREGISTERED
	elected       = rpc.EventType_LEADER_ELECTED
	masterJoined  = rpc.EventType_MASTER_JOINED
	masterRemoved = rpc.EventType_MASTER_REMOVED
	dropped       = rpc.EventType_EVENTS_DROPPED
	clusterCrit   = rpc.EventType_CLUSTER_CRITICAL
	clusterDeg    = rpc.EventType_CLUSTER_DEGRADED
)

func TestCompilePhrasings(t *testing.T) {
	h := time.Hour
	cases := []struct {
		text         string
		intent       string
		types        []E
		entities     []string
		since, until int64
		state        string // target/status for intent=state
		partial      bool   // NotUnderstood expected non-empty
	}{
		// Time.
		{text: "what happened today", intent: "list", since: at(20, 0, 0)},
		{text: "events yesterday", intent: "list", since: at(19, 0, 0), until: at(20, 0, 0)},
		{text: "last 30 minutes", intent: "list", since: ago(30 * time.Minute)},
		{text: "in the last 2 hours", intent: "list", since: ago(2 * h)},
		{text: "past 3 days", intent: "list", since: ago(72 * h)},
		{text: "in the past hour", intent: "list", since: ago(h)},
		{text: "last 24h", intent: "list", since: ago(24 * h)},
		{text: "this week", intent: "list", since: at(16, 0, 0)},
		{text: "last week", intent: "list", since: at(9, 0, 0), until: at(16, 0, 0)},
		{text: "since 2026-11-18", intent: "list", since: at(18, 0, 0)},
		{text: "since 14:00", intent: "list", since: at(20, 14, 0)},
		{text: "since 16:00", intent: "list", since: at(19, 16, 0)}, // later than now: yesterday
		{text: "this morning", intent: "list", since: at(20, 0, 0), until: at(20, 12, 0)},
		{text: "2 hours ago", intent: "list", since: ago(2 * h)},
		{text: "between 2026-11-18 and 2026-11-19", intent: "list", since: at(18, 0, 0), until: at(19, 0, 0)},
		{text: "on 2026-11-19", intent: "list", since: at(19, 0, 0), until: at(20, 0, 0)},
		{text: "since monday", intent: "list", since: at(16, 0, 0)},
		{text: "after 9am", intent: "list", since: at(20, 9, 0)},
		{text: "before 10:00", intent: "list", until: at(20, 10, 0)},
		{text: "since nov 19", intent: "list", since: at(19, 0, 0)},
		{text: "in the past 100000 days", intent: "list", since: compileNow.Add(-maxLookback).UnixMicro()},
		// Event types.
		{text: "spawn failures", intent: "list", types: []E{spawnFailed}},
		{text: "failed spawns", intent: "list", types: []E{spawnFailed}},
		{text: "spawns that failed", intent: "list", types: []E{spawnFailed}},
		{text: "nodes that failed to spawn", intent: "list", types: []E{spawnFailed}},
		{text: "spawn_failed", intent: "list", types: []E{spawnFailed}},
		{text: "spawn requests", intent: "list", types: []E{spawnReq}},
		{text: "successful spawns", intent: "list", types: []E{spawnOK}},
		{text: "spawns", intent: "list", types: []E{spawnReq, spawnOK, spawnFailed}},
		{text: "crashes", intent: "list", types: []E{crashed}},
		{text: "nodes that crashed", intent: "list", types: []E{crashed}},
		{text: "restarts", intent: "list", types: []E{restarted}},
		{text: "went offline", intent: "list", types: []E{offline}},
		{text: "agents that went offline", intent: "list", types: []E{offline}},
		{text: "degraded agents yesterday", intent: "list", types: []E{degraded}, since: at(19, 0, 0), until: at(20, 0, 0)},
		{text: "agents that recovered", intent: "list", types: []E{recovered}},
		{text: "came back online", intent: "list", types: []E{recovered}},
		{text: "registered agents", intent: "list", types: []E{registered}},
		{text: "agents joined", intent: "list", types: []E{registered}},
		{text: "unregistered agents", intent: "list", types: []E{unregistered}},
		{text: "stop failures", intent: "list", types: []E{stopFailed}},
		{text: "stop requests", intent: "list", types: []E{stopReq}},
		{text: "stopped nodes", intent: "list", types: []E{stopOK}},
		{text: "node failed", intent: "list", types: []E{nodeFailed}},
		{text: "leader elections", intent: "list", types: []E{elected}},
		{text: "failovers", intent: "list", types: []E{elected}},
		{text: "leader changes in the past hour", intent: "list", types: []E{elected}, since: ago(h)},
		{text: "new masters joined", intent: "list", types: []E{masterJoined}},
		{text: "masters removed", intent: "list", types: []E{masterRemoved}},
		{text: "replica divergence", intent: "list", types: []E{rpc.EventType_REPLICA_DIVERGED}},
		{text: "dropped events", intent: "list", types: []E{dropped}},
		{text: "cluster went critical", intent: "list", types: []E{clusterCrit}},
		{text: "is the cluster degraded", intent: "list", types: []E{clusterDeg}},
		// Entities.
		{text: "agent-001", intent: "list", entities: []string{"agent-001"}},
		{text: "crashes on agent 1", intent: "list", types: []E{crashed}, entities: []string{"agent-001"}},
		{text: "agnet-001 crashes", intent: "list", types: []E{crashed}, entities: []string{"agent-001"}},
		{text: "agent-0001", intent: "list", entities: []string{"agent-001"}},
		{text: "restarts of node-abc123 since 2026-11-20", intent: "list", types: []E{restarted}, entities: []string{"node-abc123"}, since: at(20, 0, 0)},
		{text: "node-abc12 restarts", intent: "list", types: []E{restarted}}, // unknown: see TestCompileHarderQuestions
		{text: "events of node-zzz", intent: "list"},
		{text: "agent 1 and agent 2", intent: "list", entities: []string{"agent-001", "agent-002"}},
		// Intents.
		{text: "how many nodes crashed yesterday", intent: "count", types: []E{crashed}, since: at(19, 0, 0), until: at(20, 0, 0)},
		{text: "count spawn failures today", intent: "count", types: []E{spawnFailed}, since: at(20, 0, 0)},
		{text: "number of failed spawns", intent: "count", types: []E{spawnFailed}},
		{text: "how often did node-abc123 restart", intent: "count", types: []E{restarted}, entities: []string{"node-abc123"}},
		{text: "what happened to agent-001 today", intent: "timeline", entities: []string{"agent-001"}, since: at(20, 0, 0)},
		{text: "everything about master 1", intent: "timeline", entities: []string{"master-1"}},
		{text: "history of agent-2", intent: "timeline", entities: []string{"agent-002"}},
		{text: "what happened to the cluster", intent: "timeline", entities: []string{"cluster"}},
		{text: "which agents are offline", intent: "state", state: "agents/offline"},
		{text: "which nodes failed", intent: "state", state: "nodes/failed"},
		{text: "list offline agents", intent: "state", state: "agents/offline"},
		{text: "how many agents are degraded", intent: "state", state: "agents/degraded"},
		{text: "which nodes are running?", intent: "state", state: "nodes/running"},
		{text: "list agents", intent: "state", state: "agents/"},
		// Not understood.
		{text: "purple monkey dishwasher", intent: "list", partial: true},
		{text: "purple monkey crashes", intent: "list", types: []E{crashed}, partial: true},
		{text: "", intent: "list"},
		{text: "🙂🙂 \u200f\u202e crashes \x00 today", intent: "list", types: []E{crashed}, since: at(20, 0, 0)},
	}
	if len(cases) < 60 {
		t.Fatalf("only %d phrasings", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.text, func(t *testing.T) {
			in := Compile(tc.text, compileNow, compileKnown)
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
			if got := in.StateTarget + "/" + in.StateStatus; tc.intent == "state" && got != tc.state {
				t.Errorf("state = %q, want %q", got, tc.state)
			}
			if (len(in.NotUnderstood) > 0) != tc.partial {
				t.Errorf("not understood = %q, want partial=%v", in.NotUnderstood, tc.partial)
			}
			if in.Explanation == "" {
				t.Error("empty explanation")
			}
			t.Log(in.Explanation)
		})
	}
}

func fmtMicros(us int64) string {
	if us == 0 {
		return "-"
	}
	return time.UnixMicro(us).UTC().Format(time.RFC3339)
}

func TestCompileNotUnderstoodExplains(t *testing.T) {
	in := Compile("purple monkey dishwasher", compileNow, nil)
	if !strings.Contains(in.Explanation, "purple monkey dishwasher") || len(in.NotUnderstood) != 1 {
		t.Fatalf("explanation %q, not understood %q", in.Explanation, in.NotUnderstood)
	}
	if len(ExampleQuestions) == 0 {
		t.Fatal("no example questions")
	}
	for _, q := range ExampleQuestions {
		if in := Compile(q, compileNow, compileKnown); len(in.NotUnderstood) > 0 {
			t.Errorf("example %q is not fully understood: %q", q, in.NotUnderstood)
		}
	}
}

func TestCompileBoundsWork(t *testing.T) {
	long := strings.Repeat("crashes agent-001 🙂 \u200f ", 2000) // ~40 KB
	in := Compile(long, compileNow, compileKnown)
	if in.Intent != "list" || !slices.Equal(in.Entities, []string{"agent-001"}) {
		t.Fatalf("long question: %+v", in)
	}
	many := make([]string, 100_000)
	for i := range many {
		many[i] = "agent-" + strings.Repeat("x", i%50)
	}
	Compile("agent-xxxxxxy crashes", compileNow, many)
}

func TestInterpretationFilterAndProto(t *testing.T) {
	in := Compile("what happened to agent-001 since 2026-11-18", compileNow, compileKnown)
	f := in.Filter(50)
	if !f.Ascending || f.Limit != 50 || f.Since != at(18, 0, 0) || !slices.Equal(f.Entities, []string{"agent-001"}) {
		t.Fatalf("filter = %+v", f)
	}
	p := Compile("spawn failures", compileNow, nil).ToProto()
	if p.GetIntent() != "list" || !slices.Equal(p.GetEventTypes(), []string{"spawn_failed"}) {
		t.Fatalf("proto = %v", p)
	}
}

func FuzzCompile(f *testing.F) {
	for _, q := range ExampleQuestions {
		f.Add(q)
	}
	f.Add("since 99:99 between and last -5 hours ago 0h")
	f.Fuzz(func(t *testing.T, q string) {
		in := Compile(q, compileNow, compileKnown)
		switch in.Intent {
		case IntentList, IntentCount, IntentTimeline, IntentState, IntentAggregate, IntentWhy:
		default:
			t.Fatalf("intent %q", in.Intent)
		}
		if in.Explanation == "" {
			t.Fatal("empty explanation")
		}
		if again := Compile(q, compileNow, compileKnown); !reflect.DeepEqual(in, again) {
			t.Fatalf("not deterministic:\n%+v\n%+v", in, again)
		}
		for _, typ := range in.EventTypes {
			if _, ok := rpc.EventType_name[int32(typ)]; !ok || typ == rpc.EventType_EVENT_TYPE_UNSPECIFIED {
				t.Fatalf("event type %d", typ)
			}
		}
		for i, e := range in.Entities {
			if validateID(e) != nil || slices.Contains(in.Entities[:i], e) {
				t.Fatalf("entities %q", in.Entities)
			}
		}
		if in.Intent != IntentState && (in.StateTarget != "" || in.StateStatus != "") {
			t.Fatalf("state target %q status %q with intent %q", in.StateTarget, in.StateStatus, in.Intent)
		}
		_ = in.Filter(0)
		_ = in.ToProto()
	})
}
