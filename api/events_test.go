package api

import (
	"bufio"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestEventsListing(t *testing.T) {
	f := newFixture(t, nil)
	f.master.events = []*rpc.Event{{Id: "e1", Seq: 41, Type: rpc.EventType_AGENT_OFFLINE, EntityId: "agent-002", Timestamp: 1_700_000_000_000_001}}
	code, out := f.do("GET", "/api/grid/events?event_type=spawn_failed,12,agent_offline&entity_id=agent-001,cluster&since=2023-11-14T22:13:20Z&until=1700003600&after=5&limit=50&order=asc&stale=true", "")
	if code != 200 {
		t.Fatalf("events = %d %v", code, out)
	}
	requireKeys(t, "events", out, "events", "last_seq", "first_seq")
	ev := out["events"].([]any)[0].(map[string]any)
	requireKeys(t, "event", ev, "id", "seq", "event_type", "entity_id", "timestamp", "details")
	if ev["event_type"] != "agent_offline" || ev["timestamp"] != "2023-11-14T22:13:20.000001Z" || ev["seq"] != float64(41) {
		t.Fatalf("event = %v", ev)
	}
	if _, ok := ev["details"].(map[string]any); !ok {
		t.Fatalf("details = %v, want an object", ev["details"])
	}
	f.master.mu.Lock()
	flt := f.master.filter
	f.master.mu.Unlock()
	wantTypes := []rpc.EventType{rpc.EventType_SPAWN_FAILED, rpc.EventType_SPAWN_FAILED, rpc.EventType_AGENT_OFFLINE}
	if !slices.Equal(flt.GetTypes(), wantTypes) || !slices.Equal(flt.GetEntityIds(), []string{"agent-001", "cluster"}) ||
		flt.GetSince() != 1_700_000_000_000_000 || flt.GetUntil() != 1_700_003_600_000_000 || flt.GetAfter() != 5 ||
		flt.GetLimit() != 50 || !flt.GetAscending() || !flt.GetStale() {
		t.Fatalf("filter = %v", flt)
	}

	before := time.Now()
	if code, out := f.do("GET", "/api/grid/events?hours=2", ""); code != 200 {
		t.Fatalf("hours = %d %v", code, out)
	}
	f.master.mu.Lock()
	flt = f.master.filter
	f.master.mu.Unlock()
	if since := time.UnixMicro(flt.GetSince()); since.After(before.Add(-2*time.Hour)) && since.Sub(before.Add(-2*time.Hour)) > time.Minute {
		t.Fatalf("hours=2 gave since %v", since)
	}
	if flt.GetLimit() != 100 || flt.GetAscending() {
		t.Fatalf("defaults: limit %d ascending %v", flt.GetLimit(), flt.GetAscending())
	}

	bad := map[string]string{
		"event_type=bogus":                  `event_type "bogus"`,
		"event_type=99":                     `event_type "99"`,
		"since=yesterday":                   "since",
		"until=2023-13-01":                  "until",
		"hours=-1":                          "hours",
		"hours=1&since=1700000000":          "hours and since",
		"since=1700003600&until=1700000000": "until must be after since",
		"after=-3":                          "after",
		"limit=0":                           "limit",
		"limit=5000":                        "limit",
		"order=sideways":                    "order",
		"entity_id=a%20b":                   "entity_id",
	}
	for q, want := range bad {
		code, out := f.do("GET", "/api/grid/events?"+q, "")
		f.expectError(400, out, code, want)
	}
}

// sseMessage is one parsed Server-Sent Events message.
type sseMessage struct {
	id, event, data string
	comment         bool
}

// sseReader reads SSE messages from a streaming response.
type sseReader struct {
	t  *testing.T
	sc *bufio.Scanner
}

func openSSE(t *testing.T, url string, headers ...string) (*http.Response, *sseReader) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp, &sseReader{t: t, sc: bufio.NewScanner(resp.Body)}
}

// next returns the next message (comments included), or ok=false at EOF.
func (r *sseReader) next() (sseMessage, bool) {
	var m sseMessage
	seen := false
	for r.sc.Scan() {
		line := r.sc.Text()
		if line == "" {
			if seen {
				return m, true
			}
			continue
		}
		seen = true
		switch {
		case strings.HasPrefix(line, ":"):
			m.comment = true
		case strings.HasPrefix(line, "id: "):
			m.id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			m.event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			m.data = strings.TrimPrefix(line, "data: ")
		}
	}
	return m, seen
}

// nextEvent skips comments and retry lines.
func (r *sseReader) nextEvent() (sseMessage, bool) {
	for {
		m, ok := r.next()
		if !ok || m.event != "" {
			return m, ok
		}
	}
}

func streamEvents() []*rpc.Event {
	return []*rpc.Event{
		{Id: "a", Seq: 3, Type: rpc.EventType_SPAWN_REQUESTED, EntityId: "node-1", Timestamp: 1_700_000_000_000_000},
		{Id: "b", Seq: 4, Type: rpc.EventType_SPAWN_SUCCEEDED, EntityId: "node-1", Timestamp: 1_700_000_001_000_000},
		{Id: "c", Seq: 5, Type: rpc.EventType_AGENT_OFFLINE, EntityId: "agent-002", Timestamp: 1_700_000_002_000_000},
	}
}

func TestStreamFramingAndResume(t *testing.T) {
	f := newFixture(t, nil)
	f.master.events = streamEvents()
	resp, r := openSSE(t, f.srv.URL+"/api/grid/events/stream?after=3")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream = %d %v", resp.StatusCode, resp.Header)
	}
	for _, want := range []string{"4", "5"} {
		m, ok := r.nextEvent()
		if !ok || m.event != "grid_event" || m.id != want {
			t.Fatalf("message = %+v, want grid_event id %s", m, want)
		}
		var ev map[string]any
		if err := json.Unmarshal([]byte(m.data), &ev); err != nil {
			t.Fatalf("data %q: %v", m.data, err)
		}
		if ev["seq"].(float64) != map[string]float64{"4": 4, "5": 5}[want] || ev["event_type"] == "" {
			t.Fatalf("event = %v", ev)
		}
	}
	f.master.mu.Lock()
	after := f.master.streamReq.GetAfter()
	f.master.mu.Unlock()
	if after != 3 {
		t.Fatalf("backend asked to resume after %d, want 3", after)
	}

	// Last-Event-ID (what a reconnecting EventSource sends) wins over ?after.
	_, r = openSSE(t, f.srv.URL+"/api/grid/events/stream?after=1", "Last-Event-ID", "4")
	if m, ok := r.nextEvent(); !ok || m.id != "5" {
		t.Fatalf("resume from Last-Event-ID: %+v", m)
	}

	// Filters apply to the stream.
	_, r = openSSE(t, f.srv.URL+"/api/grid/events/stream?after=0&event_type=agent_offline")
	if m, ok := r.nextEvent(); !ok || m.id != "5" || !strings.Contains(m.data, "agent_offline") {
		t.Fatalf("filtered stream: %+v", m)
	}

	code, out := f.do("GET", "/api/grid/events/stream?after=abc", "")
	f.expectError(400, out, code, "after")
	code, out = f.do("GET", "/api/grid/events/stream", "", "Last-Event-ID", "x")
	f.expectError(400, out, code, "Last-Event-ID")
}

func TestStreamKeepalive(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.KeepaliveInterval = 20 * time.Millisecond })
	_, r := openSSE(t, f.srv.URL+"/api/grid/events/stream?after=0")
	keepalives := 0
	for keepalives < 2 {
		m, ok := r.next()
		if !ok {
			t.Fatal("stream ended before a keepalive")
		}
		if m.comment && m.event == "" {
			keepalives++
		}
	}
}

func TestStreamGap(t *testing.T) {
	f := newFixture(t, nil)
	// Found out before the stream starts: 410 with a JSON error.
	f.master.firstSeq = 10
	code, out := f.do("GET", "/api/grid/events/stream?after=3", "")
	f.expectError(410, out, code, "no longer retained")
	if n := f.master.callCount("StreamEvents"); n != 0 {
		t.Fatalf("stream opened %d times for a gap", n)
	}

	// Found out by the backend after the stream started: an explicit gap
	// event, then the stream closes.
	f.master.firstSeq = 1
	f.master.events = streamEvents()[:1]
	f.master.streamEnd = status.Error(codes.OutOfRange, "after 2: oldest retained seq is 3")
	_, r := openSSE(t, f.srv.URL+"/api/grid/events/stream?after=2")
	if m, ok := r.nextEvent(); !ok || m.id != "3" {
		t.Fatalf("first message = %+v", m)
	}
	m, ok := r.nextEvent()
	if !ok || m.event != "gap" || !strings.Contains(m.data, "oldest retained") || m.id != "" {
		t.Fatalf("gap message = %+v", m)
	}
	if m, ok := r.nextEvent(); ok {
		t.Fatalf("stream continued after the gap: %+v", m)
	}

	// Another failure: a stream_error event, then close.
	f.master.streamEnd = status.Error(codes.Unavailable, "leadership lost")
	_, r = openSSE(t, f.srv.URL+"/api/grid/events/stream?after=5")
	m, ok = r.nextEvent()
	if !ok || m.event != "stream_error" || !strings.Contains(m.data, "leadership lost") {
		t.Fatalf("stream_error message = %+v", m)
	}
}
