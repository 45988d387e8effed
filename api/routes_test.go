package api

import (
	"fmt"
	"github.com/gridctl/grid/rpc/security"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/gridctl/grid/rpc"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func requireKeys(t *testing.T, what string, m map[string]any, want ...string) {
	t.Helper()
	for _, k := range want {
		if _, ok := m[k]; !ok {
			t.Fatalf("%s: missing key %q (have %v)", what, k, keys(m))
		}
	}
}

func TestHealthAndReady(t *testing.T) {
	f := newFixture(t, nil)
	code, out := f.do("GET", "/healthz", "")
	if code != 200 || out["status"] != "ok" {
		t.Fatalf("healthz = %d %v", code, out)
	}
	code, out = f.do("GET", "/readyz", "")
	if code != 200 || out["ready"] != true || out["leader_id"] != "m1" {
		t.Fatalf("readyz = %d %v", code, out)
	}
	f.master.mu.Lock()
	f.master.ready = &rpc.ReadyResponse{Ready: false, Reason: "no leader"}
	f.master.mu.Unlock()
	code, out = f.do("GET", "/readyz", "")
	if code != 503 || out["reason"] != "no leader" {
		t.Fatalf("readyz not ready = %d %v", code, out)
	}
	f.master.setErr("Ready", status.Error(codes.Unavailable, "shutting down"))
	code, out = f.do("GET", "/readyz", "")
	if code != 503 || !strings.Contains(fmt.Sprint(out["reason"]), "shutting down") {
		t.Fatalf("readyz on backend error = %d %v", code, out)
	}
}

func TestStatusShape(t *testing.T) {
	f := newFixture(t, nil)
	code, out := f.do("GET", "/api/grid/status", "")
	if code != 200 {
		t.Fatalf("status = %d %v", code, out)
	}
	requireKeys(t, "status", out, "status", "reason", "total_agents", "healthy_agents", "total_storage_nodes",
		"running_storage_nodes", "leader", "masters", "failure_tolerance", "timestamp")
	leader := out["leader"].(map[string]any)
	if leader["id"] != "m1" || leader["grpc_addr"] != "127.0.0.1:7000" || leader["http_addr"] != "127.0.0.1:9000" {
		t.Fatalf("leader = %v", leader)
	}
	masters := out["masters"].([]any)
	if len(masters) != 2 {
		t.Fatalf("masters = %v", masters)
	}
	m := masters[1].(map[string]any)
	requireKeys(t, "master", m, "id", "raft_addr", "grpc_addr", "http_addr", "suffrage", "state", "healthy", "last_contact_ms")
	if m["state"] != "follower" || m["last_contact_ms"] != float64(12) {
		t.Fatalf("master = %v", m)
	}
	if out["timestamp"] != "2023-11-14T22:13:20Z" || out["total_agents"] != float64(2) {
		t.Fatalf("timestamp/total_agents = %v/%v", out["timestamp"], out["total_agents"])
	}
}

func TestAgentsNodesMasters(t *testing.T) {
	f := newFixture(t, nil)
	code, out := f.do("GET", "/api/grid/agents", "")
	if code != 200 {
		t.Fatalf("agents = %d %v", code, out)
	}
	a := out["agents"].([]any)[0].(map[string]any)
	requireKeys(t, "agent", a, "agent_id", "hostname", "platform", "status", "max_storage_nodes",
		"current_storage_nodes", "last_heartbeat", "storage_nodes")
	n := a["storage_nodes"].([]any)[0].(map[string]any)
	requireKeys(t, "agent node", n, "node_id", "status", "pid", "endpoint")
	if n["pid"] != float64(4242) {
		t.Fatalf("pid = %v", n["pid"])
	}

	code, out = f.do("GET", "/api/grid/nodes", "")
	if code != 200 || len(out["nodes"].([]any)) != 1 {
		t.Fatalf("nodes = %d %v", code, out)
	}
	code, out = f.do("GET", "/api/grid/nodes/node-1", "")
	if code != 200 {
		t.Fatalf("node = %d %v", code, out)
	}
	requireKeys(t, "node", out, "node_id", "agent_id", "status", "pid", "port", "endpoint", "storage_path",
		"memory_limit_mb", "restart_count", "last_exit_code")
	if out["memory_limit_mb"] != float64(512) || out["last_exit_code"] != float64(-1) || out["last_signal"] != "killed" {
		t.Fatalf("node = %v", out)
	}
	code, out = f.do("GET", "/api/grid/nodes/node-404", "")
	f.expectError(404, out, code, `"node-404"`)
	code, out = f.do("GET", "/api/grid/nodes/bad%20id", "")
	f.expectError(400, out, code, "node_id")

	code, out = f.do("GET", "/api/grid/masters", "")
	if code != 200 || out["leader_id"] != "m1" || out["term"] != float64(3) || len(out["masters"].([]any)) != 2 {
		t.Fatalf("masters = %d %v", code, out)
	}
}

func TestStaleReadsReachBackend(t *testing.T) {
	f := newFixture(t, nil)
	if code, out := f.do("GET", "/api/grid/agents?stale=true", ""); code != 200 {
		t.Fatalf("agents = %d %v", code, out)
	}
	if !f.master.stale("ListAgents") {
		t.Fatal("?stale=true did not reach the backend")
	}
	if code, _ := f.do("GET", "/api/grid/agents", ""); code != 200 {
		t.Fatal(code)
	}
	if f.master.stale("ListAgents") {
		t.Fatal("a read without ?stale reached the backend as stale")
	}
	if code, out := f.do("POST", "/api/grid/query?stale=true", `{"query":"spawn failures"}`); code != 200 || !f.master.stale("AskQuery") {
		t.Fatalf("query ?stale=true = %d %v, stale %v", code, out, f.master.stale("AskQuery"))
	}
	code, out := f.do("GET", "/api/grid/status?stale=maybe", "")
	f.expectError(400, out, code, "stale")
}

func TestSpawn(t *testing.T) {
	f := newFixture(t, nil)
	code, out := f.do("POST", "/api/grid/spawn", `{"agent_id":"agent-001","port":50052,"storage_path":"data/n2","memory_limit_mb":256}`)
	if code != 200 || out["success"] != true || out["node_id"] != "node-2" || out["endpoint"] != "127.0.0.1:50052" {
		t.Fatalf("spawn = %d %v", code, out)
	}
	requireKeys(t, "spawn", out, "success", "node_id", "endpoint", "error")
	f.master.mu.Lock()
	req := f.master.spawnReq
	f.master.mu.Unlock()
	if req.GetAgentId() != "agent-001" || req.GetPort() != 50052 || req.GetStoragePath() != "data/n2" || req.GetMemoryLimitMb() != 256 {
		t.Fatalf("backend got %v", req)
	}
	// An empty body lets the master pick everything.
	if code, out := f.do("POST", "/api/grid/spawn", ""); code != 200 {
		t.Fatalf("empty spawn = %d %v", code, out)
	}
}

func TestPostValidation(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MaxBodyBytes = 256 })
	cases := []struct {
		name, path, body string
		code             int
		want             string
	}{
		{"malformed", "/api/grid/spawn", `{"port": 5`, 400, "malformed JSON"},
		{"syntax", "/api/grid/spawn", `{"port": x}`, 400, "malformed JSON at byte"},
		{"wrong type", "/api/grid/spawn", `{"port": "abc"}`, 400, `field "port"`},
		{"negative", "/api/grid/spawn", `{"memory_limit_mb": -1}`, 400, "memory_limit_mb -1 is out of range"},
		{"id with a colon", "/api/grid/spawn", `{"node_id": "a:b"}`, 400, "outside [A-Za-z0-9._-]"},
		{"unknown field", "/api/grid/spawn", `{"agent": "a"}`, 400, `unknown field "agent"`},
		{"port range", "/api/grid/spawn", `{"port": 70000}`, 400, "port 70000"},
		{"bad agent id", "/api/grid/spawn", `{"agent_id": "a b"}`, 400, "agent_id"},
		{"not an object", "/api/grid/spawn", `[1,2]`, 400, "JSON object"},
		{"trailing", "/api/grid/spawn", `{} {}`, 400, "single JSON object"},
		{"too large", "/api/grid/spawn", `{"storage_path":"` + strings.Repeat("a", 400) + `"}`, 413, "too large"},
		{"stop empty", "/api/grid/stop", ``, 400, "empty"},
		{"stop no id", "/api/grid/stop", `{}`, 400, "node_id is empty"},
		{"stop wrong type", "/api/grid/stop", `{"node_id": 5}`, 400, `field "node_id"`},
		{"query empty", "/api/grid/query", `{"query": "  "}`, 400, "query is required"},
		{"query zone wrong type", "/api/grid/query", `{"query": "today", "utc_offset_s": "+01:00"}`, 400, `field "utc_offset_s"`},
		{"remove no id", "/api/grid/operator/remove-peer", `{"force": true}`, 400, "id is required"},
		{"remove wrong type", "/api/grid/operator/remove-peer", `{"id": "m2", "force": "yes"}`, 400, `field "force"`},
		{"transfer bad id", "/api/grid/operator/transfer-leadership", `{"id": "m 1"}`, 400, "id"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out := f.do("POST", tc.path, tc.body, "Content-Type", "application/json")
			f.expectError(tc.code, out, code, tc.want)
		})
	}
	for _, m := range []string{"SpawnStorageNode", "StopStorageNode", "AskQuery", "RemovePeer", "TransferLeadership"} {
		if n := f.master.callCount(m); n != 0 {
			t.Fatalf("%s called %d times for invalid input", m, n)
		}
	}
}

func TestStopQueryOperator(t *testing.T) {
	f := newFixture(t, nil)
	code, out := f.do("POST", "/api/grid/stop", `{"node_id":"node-1"}`)
	if code != 200 || out["success"] != true {
		t.Fatalf("stop = %d %v", code, out)
	}
	code, out = f.do("POST", "/api/grid/stop", `{"node_id":"node-404"}`)
	f.expectError(404, out, code, "node-404")

	code, out = f.do("POST", "/api/grid/query", `{"query":"spawn failures today"}`)
	if code != 200 || out["count"] != float64(1) || out["query"] != "spawn failures today" {
		t.Fatalf("query = %d %v", code, out)
	}
	if q := f.master.lastQuery(); q.GetTimeZone() != "" || q.GetHasUtcOffset() {
		t.Fatalf("a query without a zone reached the backend with one: %v", q)
	}
	// The caller's zone goes to the master, which reads "today" in it.
	code, _ = f.do("POST", "/api/grid/query", `{"query":"spawn failures today","time_zone":" Europe/Berlin ","utc_offset_s":3600}`)
	if q := f.master.lastQuery(); code != 200 || q.GetTimeZone() != "Europe/Berlin" || !q.GetHasUtcOffset() || q.GetUtcOffsetS() != 3600 {
		t.Fatalf("query with a zone = %d, backend got %v", code, q)
	}
	in := out["interpretation"].(map[string]any)
	requireKeys(t, "interpretation", in, "intent", "event_types", "entities", "since", "until")
	if fmt.Sprint(in["event_types"]) != "[spawn_failed]" || in["until"] != nil || in["since"] != "2023-11-14T22:13:20Z" {
		t.Fatalf("interpretation = %v", in)
	}
	ev := out["results"].([]any)[0].(map[string]any)
	if ev["event_type"] != "spawn_failed" || ev["timestamp"] != "2023-11-14T22:13:20.123456Z" {
		t.Fatalf("result = %v", ev)
	}

	code, out = f.do("POST", "/api/grid/operator/remove-peer", `{"id":"m2","force":true}`)
	if code != 200 || out["success"] != true {
		t.Fatalf("remove-peer = %d %v", code, out)
	}
	code, out = f.do("POST", "/api/grid/operator/remove-peer", `{"id":"m9"}`)
	f.expectError(404, out, code, "m9")
	code, out = f.do("POST", "/api/grid/operator/transfer-leadership", "")
	if code != 200 || out["new_leader_id"] != "m2" {
		t.Fatalf("transfer = %d %v", code, out)
	}
}

func TestTokenGuardsMutations(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.APIToken = "s3cret" })
	code, out := f.do("POST", "/api/grid/spawn", `{}`)
	f.expectError(401, out, code, "Authorization")
	code, out = f.do("POST", "/api/grid/stop", `{"node_id":"node-1"}`, "Authorization", "Bearer nope")
	f.expectError(401, out, code, "not valid")
	code, out = f.do("POST", "/api/grid/spawn", `{}`, "Authorization", "Basic czNjcmV0")
	f.expectError(401, out, code, "Bearer")
	if n := f.master.callCount("SpawnStorageNode") + f.master.callCount("StopStorageNode"); n != 0 {
		t.Fatalf("backend called %d times without a valid token", n)
	}
	code, out = f.do("POST", "/api/grid/spawn", `{}`, "Authorization", "Bearer s3cret")
	if code != 200 {
		t.Fatalf("spawn with token = %d %v", code, out)
	}
	// Reads need no token.
	if code, out := f.do("GET", "/api/grid/status", ""); code != 200 {
		t.Fatalf("status = %d %v", code, out)
	}
}

// With a read token every read needs it or the full token (the masters'
// gRPC port asks the same); refusals reach OnRefused with the REST method
// and the caller's address, and never the backend. Probes stay open.
func TestReadTokenGuardsReads(t *testing.T) {
	var mu sync.Mutex
	var refusals []string
	f := newFixture(t, func(c *Config) {
		c.APIToken, c.ReadToken = "s3cret", "r3ad"
		c.OnRefused = func(peer, method, reason string) {
			mu.Lock()
			defer mu.Unlock()
			if peer == "" {
				t.Errorf("refusal of %s without the caller's address", method)
			}
			refusals = append(refusals, method+": "+reason)
		}
	})
	reads := []struct{ method, path, body string }{
		{"GET", "/api/grid/status", ""}, {"GET", "/api/grid/agents", ""}, {"GET", "/api/grid/nodes", ""},
		{"GET", "/api/grid/nodes/node-1", ""}, {"GET", "/api/grid/masters", ""}, {"GET", "/api/grid/events", ""},
		{"GET", "/api/grid/events/stream", ""}, {"POST", "/api/grid/query", `{"query":"spawn failures"}`},
	}
	for _, rd := range reads {
		code, out := f.do(rd.method, rd.path, rd.body)
		f.expectError(401, out, code, "Authorization")
		code, out = f.do(rd.method, rd.path, rd.body, "Authorization", "Bearer nope")
		f.expectError(401, out, code, "not valid")
	}
	f.master.mu.Lock()
	calls := len(f.master.calls)
	f.master.mu.Unlock()
	if calls != 0 {
		t.Fatalf("backend called without a valid read token: %v", f.master.calls)
	}
	mu.Lock()
	if len(refusals) != 2*len(reads) || !slices.Contains(refusals, "GET /api/grid/agents: "+security.RefusedMissingToken) ||
		!slices.Contains(refusals, "POST /api/grid/query: "+security.RefusedInvalidToken) {
		t.Fatalf("refusals = %v", refusals)
	}
	mu.Unlock()
	for _, tok := range []string{"r3ad", "s3cret"} {
		for _, rd := range reads {
			if rd.path == "/api/grid/events/stream" {
				continue // never ends; covered by the events tests
			}
			if code, out := f.do(rd.method, rd.path, rd.body, "Authorization", "Bearer "+tok); code != 200 {
				t.Fatalf("%s %s with token %q = %d %v", rd.method, rd.path, tok, code, out)
			}
		}
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if code, out := f.do("GET", p, ""); code != 200 {
			t.Fatalf("%s without a token = %d %v", p, code, out)
		}
	}
}

func TestBackendErrorMapping(t *testing.T) {
	f := newFixture(t, nil)
	cases := []struct {
		code codes.Code
		http int
	}{
		{codes.InvalidArgument, 400}, {codes.NotFound, 404}, {codes.AlreadyExists, 409},
		{codes.FailedPrecondition, 409}, {codes.ResourceExhausted, 429}, {codes.Unauthenticated, 401},
		{codes.PermissionDenied, 403}, {codes.Unavailable, 503}, {codes.DeadlineExceeded, 504},
		{codes.OutOfRange, 400}, {codes.Internal, 500}, {codes.Unknown, 500},
	}
	for _, tc := range cases {
		f.master.setErr("GetClusterStatus", status.Errorf(tc.code, "agent_id %q: %s", "x", tc.code))
		code, out := f.do("GET", "/api/grid/status", "")
		f.expectError(tc.http, out, code, `agent_id "x"`)
		if out["code"] != codeName(tc.code) {
			t.Fatalf("code = %v, want %s", out["code"], codeName(tc.code))
		}
	}
}

func TestRoutingErrorsAndCORS(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.CORSOrigins = []string{"http://127.0.0.1:9001"} })
	code, out := f.do("DELETE", "/api/grid/status", "")
	f.expectError(405, out, code, "DELETE")
	code, out = f.do("GET", "/api/grid/spawn", "")
	f.expectError(405, out, code, "use POST")
	code, out = f.do("GET", "/api/grid/nope", "")
	f.expectError(404, out, code, "/api/grid/nope")
	code, out = f.do("GET", "/nope.html", "")
	f.expectError(404, out, code, "/nope.html")

	req, _ := http.NewRequest("OPTIONS", f.srv.URL+"/api/grid/spawn", nil)
	req.Header.Set("Origin", "http://127.0.0.1:9001")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "http://127.0.0.1:9001" ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Authorization") ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "POST") {
		t.Fatalf("preflight = %d %v", resp.StatusCode, resp.Header)
	}
	resp, err = http.Get(f.srv.URL + "/api/grid/status")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Fatalf("GET without Origin got Access-Control-Allow-Origin %q; never a wildcard", got)
	}
	req, _ = http.NewRequest("OPTIONS", f.srv.URL+"/api/grid/spawn", nil)
	req.Header.Set("Origin", "http://evil.example")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("preflight from an unlisted origin = %d %v", resp.StatusCode, resp.Header)
	}
}

func TestMetricsAndDashboard(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "grid_test_master_metric", Help: "t"})
	reg.MustRegister(c)
	c.Inc()
	f := newFixture(t, func(cfg *Config) { cfg.Gatherer = reg })
	f.do("GET", "/api/grid/status", "")
	f.do("GET", "/api/grid/nodes/node-404", "")
	body := get(t, f.srv.URL+"/metrics")
	for _, want := range []string{
		"grid_test_master_metric 1",
		`grid_api_requests_total{code="200",method="GET",route="/api/grid/status"} 1`,
		`grid_api_requests_total{code="404",method="GET",route="/api/grid/nodes/{node_id}"} 1`,
		`grid_api_request_duration_seconds_count{method="GET",route="/api/grid/status"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Fatalf("/metrics lacks %q:\n%s", want, body)
		}
	}
	for _, p := range []string{"/", "/grid"} {
		if page := get(t, f.srv.URL+p); !strings.Contains(page, `data-testid="masters-table"`) {
			t.Fatalf("%s is not the dashboard", p)
		}
	}
	if js := get(t, f.srv.URL+"/app.js"); !strings.Contains(js, "EventSource") {
		t.Fatal("/app.js is not the dashboard script")
	}
	if css := get(t, f.srv.URL+"/style.css"); !strings.Contains(css, "@media") {
		t.Fatal("/style.css is not the dashboard style")
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s = %d: %s", url, resp.StatusCode, b)
	}
	return string(b)
}

// TestPeerMasterOrigins: a page served by another master of the cluster
// (the dashboard after a failover) may call the API; a page on another
// port of the same host, or with a path, may not.
func TestPeerMasterOrigins(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.PeerHosts = func() []string { return []string{"127.0.0.1:9002"} } })
	for origin, want := range map[string]int{
		"http://127.0.0.1:9002":    204,
		"https://127.0.0.1:9002":   204,
		"http://127.0.0.1:9003":    403,
		"http://127.0.0.1:9002/x":  403,
		"ftp://127.0.0.1:9002":     403,
		"http://evil.example:9002": 403,
	} {
		req, _ := http.NewRequest("OPTIONS", f.srv.URL+"/api/grid/spawn", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		allowed := resp.Header.Get("Access-Control-Allow-Origin")
		if resp.StatusCode != want || (want == 204) != (allowed == origin) {
			t.Errorf("preflight from %s = %d (allow-origin %q), want %d", origin, resp.StatusCode, allowed, want)
		}
	}
}
