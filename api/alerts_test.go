package api

import "testing"

func TestAlertsView(t *testing.T) {
	f := newFixture(t, nil)
	code, out := f.do("GET", "/api/grid/alerts", "")
	alerts, _ := out["alerts"].([]any)
	if code != 200 || len(alerts) != 1 {
		t.Fatalf("alerts = %d %v", code, out)
	}
	a, _ := alerts[0].(map[string]any)
	triggers, _ := a["trigger_event_ids"].([]any)
	if a["rule"] != "crash_loop" || a["state"] != "firing" || a["fired_at"] == nil || a["resolved_at"] != nil || len(triggers) != 3 {
		t.Errorf("alert = %v", a)
	}
	code, out = f.do("GET", "/api/grid/alerts?all=true&stale=true", "")
	if alerts, _ := out["alerts"].([]any); code != 200 || len(alerts) != 2 {
		t.Fatalf("all alerts = %d %v", code, out)
	}
	code, out = f.do("GET", "/api/grid/alerts?all=maybe", "")
	f.expectError(400, out, code, "all=")
	code, out = f.do("POST", "/api/grid/alerts", "{}")
	f.expectError(405, out, code, "not allowed")
}
