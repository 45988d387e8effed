package api

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gridctl/grid/rpc"
)

// FuzzEventsQuery sends arbitrary query strings to GET /api/grid/events. The
// handler must never panic and must answer JSON: 400 with an error (and no
// backend call), or 200 after passing the backend a filter within the
// contract: known event types, well-formed entity ids, a limit in
// 1..MaxEventLimit, non-negative times with until after since.
func FuzzEventsQuery(f *testing.F) {
	for _, q := range []string{
		"",
		"event_type=spawn_failed,12,agent_offline&entity_id=agent-001,cluster&since=2023-11-14T22:13:20Z&until=1700003600&after=5&limit=50&order=asc&stale=true",
		"hours=2", "hours=0.0001", "hours=1e300", "hours=NaN", "hours=-Inf", "hours=1&since=1700000000",
		"event_type=bogus", "event_type=0", "event_type=99", "event_type=%20spawn_failed%20,,", "event_type=SPAWN_FAILED",
		"since=yesterday", "since=-1", "since=1099511627777", "since=0001-01-01T00:00:00Z", "since=9999-12-31T23:59:59.999999999Z",
		"until=2023-13-01", "since=1700003600&until=1700000000", "since=1700000000&until=1700000000",
		"after=-3", "after=18446744073709551615", "after=18446744073709551616",
		"limit=0", "limit=1000", "limit=1001", "limit=4294967296",
		"order=sideways", "order=ASC", "stale=maybe", "stale=1",
		"entity_id=a%20b", "entity_id=" + string(make([]byte, 129)), "entity_id=%ff", "a=%zz&b;c",
		"since=1&since=2&until=3",
	} {
		f.Add(q)
	}
	h, fm := newFuzzAPI(f)
	f.Fuzz(func(t *testing.T, rawQuery string) {
		before := fuzzBackendCalls(fm)
		req := httptest.NewRequest(http.MethodGet, "/api/grid/events", nil)
		req.URL.RawQuery = rawQuery
		code, out := fuzzServe(t, h, req)
		called := fuzzBackendCalls(fm) > before
		switch code {
		case http.StatusBadRequest:
			if called {
				t.Fatalf("?%s: 400 but the backend was called", rawQuery)
			}
		case http.StatusOK:
			if !called {
				t.Fatalf("?%s: 200 without a backend call", rawQuery)
			}
			fm.mu.Lock()
			flt := fm.filter
			fm.mu.Unlock()
			fuzzCheckFilter(t, rawQuery, flt)
		default:
			t.Fatalf("?%s: status %d %v, want 200 or 400", rawQuery, code, out)
		}
	})
}

// fuzzCheckFilter fails unless flt is within the REST contract.
func fuzzCheckFilter(t *testing.T, rawQuery string, flt *rpc.EventFilter) {
	t.Helper()
	max := DefaultConfig().MaxEventLimit
	if flt.GetLimit() < 1 || flt.GetLimit() > max {
		t.Fatalf("?%s: filter limit %d outside 1..%d", rawQuery, flt.GetLimit(), max)
	}
	for _, typ := range flt.GetTypes() {
		if _, ok := rpc.EventType_name[int32(typ)]; !ok || typ == rpc.EventType_EVENT_TYPE_UNSPECIFIED {
			t.Fatalf("?%s: filter has event type %d", rawQuery, typ)
		}
	}
	for _, id := range flt.GetEntityIds() {
		if !fuzzIDPattern.MatchString(id) {
			t.Fatalf("?%s: filter has entity id %q", rawQuery, id)
		}
	}
	since, until := flt.GetSince(), flt.GetUntil()
	if since < 0 || until < 0 || (since != 0 && until != 0 && until <= since) {
		t.Fatalf("?%s: filter times since=%d until=%d", rawQuery, since, until)
	}
}
