package events

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gridctl/grid/eventstore"
	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/waitfor"
)

// engineOn builds an alert engine over store whose emits commit at once
// (as if through Raft) and whose clock is *now.
func engineOn(t *testing.T, store *eventstore.Store, now *time.Time, rules []AlertRule) *alertEngine {
	t.Helper()
	emit := func(e *rpc.Event) {
		e.Source = "master-1"
		if _, err := store.AppendEvents([]*rpc.Event{e}); err != nil {
			t.Fatal(err)
		}
	}
	eng := newAlertEngine(rules, func() *eventstore.Store { return store }, emit, nil, eventTestLogger(t))
	eng.now = func() time.Time { return *now }
	return eng
}

func alertsIn(t *testing.T, store *eventstore.Store) (fired, resolved []*rpc.Event) {
	t.Helper()
	for _, e := range storedEvents(t, store) {
		switch e.GetType() {
		case rpc.EventType_ALERT_FIRED:
			fired = append(fired, e)
		case rpc.EventType_ALERT_RESOLVED:
			resolved = append(resolved, e)
		}
	}
	return fired, resolved
}

func TestCrashLoopFiresOncePerEpisodeAcrossLeaders(t *testing.T) {
	r := newFakeRaft(t)
	now := time.Now()
	crash := func(node string) {
		t.Helper()
		e := newEvent("agent-001", rpc.EventType_NODE_CRASHED, node, now.UnixMicro())
		if _, err := r.store.AppendEvents([]*rpc.Event{e}); err != nil {
			t.Fatal(err)
		}
	}
	eng := engineOn(t, r.store, &now, DefaultAlertRules())
	if err := eng.rebuild(); err != nil {
		t.Fatal(err)
	}
	crash("node-a")
	crash("node-a")
	crash("node-b")
	_ = eng.consume(r.store)
	if fired, _ := alertsIn(t, r.store); len(fired) != 0 {
		t.Fatalf("fired below threshold: %v", fired)
	}
	crash("node-a")
	crash("node-a") // a fourth crash in the same episode
	_ = eng.consume(r.store)
	_ = eng.consume(r.store)
	fired, _ := alertsIn(t, r.store)
	if len(fired) != 1 || fired[0].GetEntityId() != "node-a" || fired[0].GetDetails()["rule"] != "crash_loop" {
		t.Fatalf("fired = %v", fired)
	}
	if causes := eventstore.CausedBy(fired[0]); len(causes) != 3 {
		t.Fatalf("caused_by = %v", causes)
	}
	// A new leader rebuilds the episode from the store and does not fire again.
	eng2 := engineOn(t, r.store, &now, DefaultAlertRules())
	if err := eng2.rebuild(); err != nil {
		t.Fatal(err)
	}
	crash("node-a")
	_ = eng2.consume(r.store)
	eng2.age()
	if fired, _ := alertsIn(t, r.store); len(fired) != 1 {
		t.Fatalf("fired again after failover: %d", len(fired))
	}
	// Ten minutes later the window is empty: resolved once.
	now = now.Add(11 * time.Minute)
	eng2.age()
	eng2.age()
	fired, resolved := alertsIn(t, r.store)
	if len(resolved) != 1 || resolved[0].GetDetails()["fired_id"] != fired[0].GetId() {
		t.Fatalf("resolved = %v", resolved)
	}
	// Three new crashes are a new episode.
	crash("node-a")
	crash("node-a")
	crash("node-a")
	_ = eng2.consume(r.store)
	if fired, _ := alertsIn(t, r.store); len(fired) != 2 {
		t.Fatalf("second episode: %d fired", len(fired))
	}
}

func TestListAlertsEpisodes(t *testing.T) {
	r := newFakeRaft(t)
	m := newFakeMaster(t, r, "master-1", nil)
	r.setLeader("master-1")
	now := time.Now()
	eng := engineOn(t, r.store, &now, DefaultAlertRules())
	_ = eng.rebuild()
	for range 3 {
		_, _ = r.store.AppendEvents([]*rpc.Event{newEvent("m", rpc.EventType_LEADER_ELECTED, "master-1", now.UnixMicro())})
	}
	_ = eng.consume(r.store)
	list, err := m.pipeline.ListAlerts(t.Context(), &rpc.ListAlertsRequest{})
	if err != nil || len(list.GetAlerts()) != 1 || list.Alerts[0].GetRule() != "failover_storm" || list.Alerts[0].GetState() != "firing" {
		t.Fatalf("alerts = %v, %v", list, err)
	}
	now = now.Add(time.Hour)
	eng.age()
	if list, _ := m.pipeline.ListAlerts(t.Context(), &rpc.ListAlertsRequest{}); len(list.GetAlerts()) != 0 {
		t.Fatalf("firing after resolve: %v", list)
	}
	if list, _ := m.pipeline.ListAlerts(t.Context(), &rpc.ListAlertsRequest{All: true}); len(list.GetAlerts()) != 1 || list.Alerts[0].GetState() != "resolved" {
		t.Fatalf("all = %v", list)
	}
}

func TestLoadAlertFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.hcl", `
alert_rule "crash_loop" {
  threshold = 5
  window    = "15m"
}
alert_rule "quorum_at_risk" {
  enabled = false
}
alert_rule "stop_trouble" {
  event_types = ["stop_failed"]
  threshold   = 2
  window      = "5m"
}
webhook "pager" {
  url         = "https://pager.example/hook"
  secret      = "s3cret"
  event_types = ["*"]
}
`)
	rules, hooks, err := LoadAlertFile(good)
	if err != nil {
		t.Fatal(err)
	}
	merged := MergeAlertRules(DefaultAlertRules(), rules)
	names := map[string]AlertRule{}
	for _, r := range merged {
		names[r.Name] = r
	}
	if names["crash_loop"].Threshold != 5 || names["crash_loop"].Window != 15*time.Minute || names["crash_loop"].EventTypes[0] != rpc.EventType_NODE_CRASHED {
		t.Errorf("crash_loop = %+v", names["crash_loop"])
	}
	if _, on := names["quorum_at_risk"]; on {
		t.Error("quorum_at_risk was not switched off")
	}
	if r := names["stop_trouble"]; r.Threshold != 2 || r.GroupBy != GroupByEntity {
		t.Errorf("custom = %+v", r)
	}
	if len(hooks) != 1 || hooks[0].WebhookName() != "pager" || !hooks[0].wants(rpc.EventType_SPAWN_SUCCEEDED) {
		t.Errorf("hooks = %+v", hooks)
	}
	json := write("rules.json", `{"alert_rule": {"spawn_failures": {"threshold": 2}}}`)
	if rules, _, err := LoadAlertFile(json); err != nil || rules[0].Threshold != 2 || rules[0].Window != 10*time.Minute {
		t.Errorf("json = %+v, %v", rules, err)
	}
	for _, bad := range []struct{ body, want string }{
		{"\n\nalert_rule \"x\" {\n  event_types = [\"node_crashed\"]\n  threshold = 3\n  window = \"0s\"\n}\n", ":3: alert_rule \"x\": rule x: window 0s must be > 0"},
		{"alert_rule \"x\" {\n  event_types = [\"node_crashed\"]\n  threshold = -1\n  window = \"1m\"\n}\n", ":1: alert_rule \"x\": rule x: threshold -1"},
		{"alert_rule \"x\" {\n  event_types = [\"node_exploded\"]\n  threshold = 3\n  window = \"1m\"\n}\n", "unknown event type \"node_exploded\""},
		{"webhook \"w\" {\n  url = \"ftp://example.com/x\"\n}\n", ":1: webhook \"w\": webhook url \"ftp://example.com/x\" must be an http"},
		{"alert_rule \"x\" {\n  threshold = \n}\n", "bad.hcl:2"},
	} {
		p := write("bad.hcl", bad.body)
		_, _, err := LoadAlertFile(p)
		if err == nil || !strings.Contains(err.Error(), bad.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%q: error %v, want %q with the file name", bad.body, err, bad.want)
		}
	}
}

// TestConsumeReadsOnlyRuleTypes: consume passes over events no rule counts
// (more than a page of them) without returning them, moves its cursor past
// them, and still counts the matching events among them.
func TestConsumeReadsOnlyRuleTypes(t *testing.T) {
	r := newFakeRaft(t)
	now := time.Now()
	eng := engineOn(t, r.store, &now, DefaultAlertRules())
	if err := eng.rebuild(); err != nil {
		t.Fatal(err)
	}
	var batch []*rpc.Event
	for i := range 2500 {
		typ := rpc.EventType_NODE_RESTARTED // no default rule counts it
		if i%1000 == 999 {
			typ = rpc.EventType_NODE_CRASHED
		}
		batch = append(batch, newEvent("agent-001", typ, "node-a", now.UnixMicro()+int64(i)))
	}
	if _, err := r.store.AppendEvents(batch); err != nil {
		t.Fatal(err)
	}
	if err := eng.consume(r.store); err != nil {
		t.Fatal(err)
	}
	if eng.cursor != r.store.LastSeq() {
		t.Fatalf("cursor %d, last seq %d", eng.cursor, r.store.LastSeq())
	}
	if w := eng.windows[episodeKey{"crash_loop", "node-a"}]; len(w) != 2 {
		t.Fatalf("crash_loop window holds %d events, want 2", len(w))
	}
	crash := newEvent("agent-001", rpc.EventType_NODE_CRASHED, "node-a", now.UnixMicro()+3000)
	if _, err := r.store.AppendEvents([]*rpc.Event{crash}); err != nil {
		t.Fatal(err)
	}
	if err := eng.consume(r.store); err != nil {
		t.Fatal(err)
	}
	if fired, _ := alertsIn(t, r.store); len(fired) != 1 {
		t.Fatalf("fired %d alerts after the third crash, want 1", len(fired))
	}
}

// TestAlertAgingWaitsForTheTick: commits are consumed (a crash loop fires
// at once) but open episodes are aged and quorum checked only on the first
// pass and on each tick, not after every commit.
func TestAlertAgingWaitsForTheTick(t *testing.T) {
	r := newFakeRaft(t)
	now := time.Now()
	var checks atomic.Int32 // quorum checks: one per age
	tolerance := func() (int32, error) {
		checks.Add(1)
		return 1, nil
	}
	emit := func(e *rpc.Event) {
		e.Source = "master-1"
		if _, err := r.store.AppendEvents([]*rpc.Event{e}); err != nil {
			t.Error(err)
		}
	}
	eng := newAlertEngine(DefaultAlertRules(), func() *eventstore.Store { return r.store }, emit, tolerance, eventTestLogger(t))
	eng.now = func() time.Time { return now }
	ticks := make(chan time.Time)
	eng.ticker = func() (<-chan time.Time, func()) { return ticks, func() {} }
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- eng.run(ctx) }()
	waitfor.True(t, 10*time.Second, "the first pass aged", func() bool { return checks.Load() == 1 })
	for range 3 {
		if _, err := r.store.AppendEvents([]*rpc.Event{newEvent("agent-001", rpc.EventType_NODE_CRASHED, "node-a", now.UnixMicro())}); err != nil {
			t.Fatal(err)
		}
	}
	waitfor.True(t, 10*time.Second, "the crash loop fired", func() bool {
		fired, _ := alertsIn(t, r.store)
		return len(fired) == 1
	})
	if n := checks.Load(); n != 1 {
		t.Fatalf("aged %d times before a tick, want 1 (the first pass)", n)
	}
	ticks <- now
	waitfor.True(t, 10*time.Second, "a tick aged", func() bool { return checks.Load() == 2 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
