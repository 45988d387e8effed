package cluster

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gridctl/grid/api"
)

// TestQueryTodayIsTheCallersDay: POST /api/grid/query on a real master
// (its REST API over its in-process backend, as `grid master` serves it)
// reads "today" as the caller's day: midnight in the IANA time_zone sent,
// else in the utc_offset_s sent; an unknown zone without an offset is a 400
// naming time_zone, an offset beyond ±14 h a 400 naming utc_offset_s.
func TestQueryTodayIsTheCallersDay(t *testing.T) {
	m := waitForLeader(t, newTestCluster(t, 1))
	srv := httptest.NewServer(api.New(m.Backend(), api.Config{Logger: testLogger(t)}).Handler())
	t.Cleanup(srv.Close)
	url := srv.URL + "/api/grid/query"
	post := func(body string) (int, map[string]any) {
		t.Helper()
		resp, err := http.Post(url, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatalf("POST %s: %d, body not JSON: %v", body, resp.StatusCode, err)
		}
		return resp.StatusCode, out
	}
	midnight := func(loc *time.Location) time.Time {
		y, mo, d := time.Now().In(loc).Date()
		return time.Date(y, mo, d, 0, 0, 0, 0, loc)
	}
	mustZone := func(name string) *time.Location {
		loc, err := time.LoadLocation(name)
		if err != nil {
			t.Fatal(err)
		}
		return loc
	}
	for _, tc := range []struct {
		body string
		loc  *time.Location
	}{
		{`{"query":"spawn failures today","time_zone":"Pacific/Kiritimati"}`, mustZone("Pacific/Kiritimati")}, // UTC+14
		{`{"query":"spawn failures today","time_zone":"Etc/GMT+12"}`, mustZone("Etc/GMT+12")},                 // UTC-12
		{`{"query":"spawn failures today","time_zone":"Mars/Olympus","utc_offset_s":19800}`, time.FixedZone("", 19800)},
		{`{"query":"spawn failures today","utc_offset_s":-36000}`, time.FixedZone("", -36000)},
	} {
		before := midnight(tc.loc)
		code, out := post(tc.body)
		after := midnight(tc.loc) // the day may turn during the call
		in, _ := out["interpretation"].(map[string]any)
		s, _ := in["since"].(string)
		since, err := time.Parse(time.RFC3339Nano, s)
		if code != 200 || err != nil || (!since.Equal(before) && !since.Equal(after)) {
			t.Fatalf("%s: %d since %q, want %s (the caller's midnight)\n%v", tc.body, code, s, before.UTC().Format(time.RFC3339), out)
		}
	}
	for body, want := range map[string]string{
		`{"query":"today","time_zone":"Mars/Olympus"}`:                       "time_zone",
		`{"query":"today","time_zone":"Europe/Berlin","utc_offset_s":99999}`: "utc_offset_s",
		`{"query":"today","time_zone":"` + strings.Repeat("A", 65) + `"}`:    "time_zone",
	} {
		code, out := post(body)
		if msg, _ := out["error"].(string); code != 400 || !strings.Contains(msg, want) {
			t.Fatalf("%s: %d %v, want 400 naming %s", body, code, out, want)
		}
	}
}
