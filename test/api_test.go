package test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gridctl/grid/test/harness"
	"github.com/gridctl/grid/test/waitfor"
)

const testAPIToken = "test-token-0123"

// restCall makes one REST call against a master's HTTP address and decodes
// the JSON object it answers with.
func restCall(t *testing.T, m *harness.Master, method, path, body string, headers ...string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://"+m.HTTP+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	client := &http.Client{Timeout: 45 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s on %s: %v", method, path, m.ID, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if ct := resp.Header.Get("Content-Type"); strings.HasPrefix(ct, "application/json") {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: not a JSON object: %v: %s", method, path, err, raw)
		}
	}
	return resp.StatusCode, out
}

// authed is the header pair carrying the test token.
func authed() []string { return []string{"Authorization", "Bearer " + testAPIToken} }

// requireRESTError asserts a 4xx/5xx JSON error whose message mentions want.
func requireRESTError(t *testing.T, what string, code int, out map[string]any, wantCode int, want string) {
	t.Helper()
	if wantCode > 0 && code != wantCode || wantCode == 0 && (code < 400 || code >= 500) {
		t.Fatalf("%s: status %d, want %d (body %v)", what, code, wantCode, out)
	}
	msg, _ := out["error"].(string)
	if out["success"] != false || msg == "" || !strings.Contains(msg, want) {
		t.Fatalf("%s: error body %v, want success=false and an error mentioning %q", what, out, want)
	}
}

func TestRESTAPIAgainstRealMasters(t *testing.T) {
	c := harness.NewCluster(t, harness.Options{Security: &harness.Security{APIToken: testAPIToken}})
	leader := c.WaitLeader(30 * time.Second)

	t.Run("health and readiness on every master", func(t *testing.T) {
		for _, m := range c.Masters {
			if code, out := restCall(t, m, "GET", "/healthz", ""); code != 200 || out["status"] != "ok" {
				t.Fatalf("%s /healthz = %d %v", m.ID, code, out)
			}
			waitfor.Until(t, 20*time.Second, m.ID+" ready", func() (bool, string) {
				code, out := restCall(t, m, "GET", "/readyz", "")
				return code == 200, fmt.Sprint(code, out)
			})
		}
	})

	t.Run("status and masters from any master", func(t *testing.T) {
		for _, m := range c.Masters {
			code, out := restCall(t, m, "GET", "/api/grid/status", "")
			if code != 200 {
				t.Fatalf("%s status = %d %v", m.ID, code, out)
			}
			l, _ := out["leader"].(map[string]any)
			if l["id"] != leader.ID || l["http_addr"] != leader.HTTP || l["grpc_addr"] != leader.GRPC {
				t.Fatalf("%s says leader %v, want %s (%s, %s)", m.ID, l, leader.ID, leader.HTTP, leader.GRPC)
			}
			masters, _ := out["masters"].([]any)
			if len(masters) != 3 {
				t.Fatalf("%s lists %d masters: %v", m.ID, len(masters), masters)
			}
			for _, k := range []string{"status", "total_agents", "healthy_agents", "total_storage_nodes", "running_storage_nodes", "failure_tolerance", "timestamp"} {
				if _, ok := out[k]; !ok {
					t.Fatalf("status lacks %q: %v", k, out)
				}
			}
			if out["failure_tolerance"] != float64(1) {
				t.Fatalf("failure_tolerance = %v, want 1 with 3 voters", out["failure_tolerance"])
			}
		}
		code, out := restCall(t, c.Masters[1], "GET", "/api/grid/masters?stale=true", "")
		if code != 200 || len(out["masters"].([]any)) != 3 {
			t.Fatalf("masters = %d %v", code, out)
		}
	})

	t.Run("agents and their events", func(t *testing.T) {
		follower := c.Followers(leader)[0]
		code, out := restCall(t, follower, "GET", "/api/grid/events?limit=1", "")
		if code != 200 {
			t.Fatalf("events = %d %v", code, out)
		}
		start := uint64(out["last_seq"].(float64))

		// Follow the live stream from a follower while an agent registers.
		resp, err := http.Get(fmt.Sprintf("http://%s/api/grid/events/stream?after=%d&event_type=agent_registered", follower.HTTP, start))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("stream = %d %v", resp.StatusCode, resp.Header)
		}
		register(t, leader, "agent-rest")

		got := make(chan string, 1)
		go func() {
			sc := bufio.NewScanner(resp.Body)
			var id string
			for sc.Scan() {
				line := sc.Text()
				if strings.HasPrefix(line, "id: ") {
					id = strings.TrimPrefix(line, "id: ")
				}
				if strings.HasPrefix(line, "data: ") && strings.Contains(line, `"agent-rest"`) {
					got <- id + " " + line
					return
				}
			}
		}()
		select {
		case msg := <-got:
			if !strings.Contains(msg, `"event_type":"agent_registered"`) || strings.HasPrefix(msg, " ") {
				t.Fatalf("stream message = %q", msg)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("no agent_registered event on the stream within 20 s")
		}

		code, out = restCall(t, follower, "GET", "/api/grid/agents", "")
		if code != 200 {
			t.Fatalf("agents = %d %v", code, out)
		}
		var found bool
		for _, a := range out["agents"].([]any) {
			a := a.(map[string]any)
			if a["agent_id"] == "agent-rest" {
				found = true
				if _, ok := a["storage_nodes"].([]any); !ok {
					t.Fatalf("agent storage_nodes = %v", a["storage_nodes"])
				}
			}
		}
		if !found {
			t.Fatalf("agents lacks agent-rest: %v", out)
		}
		code, out = restCall(t, follower, "GET", "/api/grid/events?event_type=agent_registered,1&entity_id=agent-rest&hours=1&order=asc", "")
		if code != 200 || len(out["events"].([]any)) != 1 {
			t.Fatalf("events for agent-rest = %d %v", code, out)
		}
		ev := out["events"].([]any)[0].(map[string]any)
		if _, err := time.Parse(time.RFC3339Nano, ev["timestamp"].(string)); err != nil || ev["entity_id"] != "agent-rest" {
			t.Fatalf("event = %v (%v)", ev, err)
		}
	})

	t.Run("nodes", func(t *testing.T) {
		code, out := restCall(t, c.Masters[2], "GET", "/api/grid/nodes", "")
		if code != 200 {
			t.Fatalf("nodes = %d %v", code, out)
		}
		if _, ok := out["nodes"].([]any); !ok {
			t.Fatalf("nodes = %v, want a list", out)
		}
		code, out = restCall(t, c.Masters[2], "GET", "/api/grid/nodes/no-such-node", "")
		requireRESTError(t, "unknown node", code, out, 404, "no-such-node")
	})

	t.Run("query", func(t *testing.T) {
		code, out := restCall(t, c.Masters[0], "POST", "/api/grid/query", `{"query":"spawn failures today"}`, authed()...)
		if code != 200 || out["success"] != true {
			t.Fatalf("query = %d %v", code, out)
		}
		in := out["interpretation"].(map[string]any)
		types, _ := in["event_types"].([]any)
		if !slices.Contains(types, any("spawn_failed")) || in["since"] == nil {
			t.Fatalf("interpretation = %v", in)
		}
		if _, ok := out["results"].([]any); !ok {
			t.Fatalf("results = %v", out["results"])
		}
	})

	t.Run("mutations need the token", func(t *testing.T) {
		m := c.Masters[1]
		code, out := restCall(t, m, "POST", "/api/grid/spawn", `{}`)
		requireRESTError(t, "spawn without token", code, out, 401, "Authorization")
		code, out = restCall(t, m, "POST", "/api/grid/stop", `{"node_id":"x"}`, "Authorization", "Bearer wrong")
		requireRESTError(t, "stop with a wrong token", code, out, 401, "not valid")
		code, out = restCall(t, m, "POST", "/api/grid/operator/transfer-leadership", ``)
		requireRESTError(t, "transfer without token", code, out, 401, "Authorization")
	})

	t.Run("bad input is refused with a JSON error", func(t *testing.T) {
		m := c.Masters[2]
		cases := []struct {
			path, body string
			code       int
			want       string
		}{
			{"/api/grid/spawn", `{"port": 5`, 400, "malformed JSON"},
			{"/api/grid/spawn", `{"port": "fifty"}`, 400, `"port"`},
			{"/api/grid/spawn", `{"memory_limit_mb": -5}`, 400, "memory_limit_mb -5 is out of range"},
			{"/api/grid/spawn", `{"agent_id": "agent-rest", "colour": "red"}`, 400, `unknown field "colour"`},
			{"/api/grid/spawn", `{"port": 99999}`, 400, "port"},
			{"/api/grid/spawn", `{"agent_id": "no-such-agent"}`, 0, "no-such-agent"},
			{"/api/grid/stop", `{}`, 400, "node_id"},
			{"/api/grid/stop", `{"node_id": "no-such-node"}`, 404, "no-such-node"},
			{"/api/grid/query", `{"query": 42}`, 400, `"query"`},
			{"/api/grid/operator/remove-peer", `{}`, 400, "id"},
			{"/api/grid/operator/remove-peer", `{"id": "no-such-master"}`, 0, "no-such-master"},
		}
		for _, tc := range cases {
			code, out := restCall(t, m, "POST", tc.path, tc.body, authed()...)
			requireRESTError(t, tc.path+" "+tc.body, code, out, tc.code, tc.want)
		}
		code, out := restCall(t, m, "POST", "/api/grid/spawn", `{"storage_path":"`+strings.Repeat("x", 2<<20)+`"}`, authed()...)
		requireRESTError(t, "2 MiB body", code, out, 413, "too large")
		code, out = restCall(t, m, "GET", "/api/grid/events?event_type=nonsense", "")
		requireRESTError(t, "bad event_type", code, out, 400, "nonsense")
		code, out = restCall(t, m, "GET", "/api/grid/events?since=last-tuesday", "")
		requireRESTError(t, "bad since", code, out, 400, "since")
		code, out = restCall(t, m, "GET", "/api/grid/events/stream?after=-1", "")
		requireRESTError(t, "bad after", code, out, 400, "after")
		code, out = restCall(t, m, "DELETE", "/api/grid/status", "")
		requireRESTError(t, "wrong method", code, out, 405, "DELETE")
	})

	t.Run("metrics and cors", func(t *testing.T) {
		resp, err := http.Get("http://" + leader.HTTP + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), "grid_api_requests_total") {
			t.Fatalf("/metrics = %d, lacks grid_api_requests_total", resp.StatusCode)
		}
		// A page served by another master (the dashboard after a failover)
		// may call this one; its own pages are same-origin.
		other := c.Followers(leader)[0]
		req, _ := http.NewRequest("OPTIONS", "http://"+leader.HTTP+"/api/grid/spawn", nil)
		req.Header.Set("Origin", "http://"+other.HTTP)
		req.Header.Set("Access-Control-Request-Method", "POST")
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") == "" {
			t.Fatalf("preflight = %d %v", resp.StatusCode, resp.Header)
		}
	})

	t.Run("transfer leadership", func(t *testing.T) {
		code, out := restCall(t, c.Masters[0], "POST", "/api/grid/operator/transfer-leadership", "", authed()...)
		if code != 200 || out["success"] != true {
			t.Fatalf("transfer = %d %v", code, out)
		}
		newID, _ := out["new_leader_id"].(string)
		waitfor.Until(t, 20*time.Second, "status to show the new leader", func() (bool, string) {
			code, out := restCall(t, c.Masters[0], "GET", "/api/grid/status", "")
			l, _ := out["leader"].(map[string]any)
			return code == 200 && l != nil && l["id"] != leader.ID && (newID == "" || l["id"] == newID), fmt.Sprint(code, out["leader"])
		})
	})
}

// agentBuilt says whether the binary under test has a working `grid agent`.
func agentBuilt(t *testing.T) bool {
	t.Helper()
	bin, err := harness.Binary()
	if err != nil {
		t.Fatal(err)
	}
	out, _ := exec.Command(bin, "agent", "--help").CombinedOutput()
	return !strings.Contains(string(out), "not built yet")
}
