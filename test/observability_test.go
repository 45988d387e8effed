package test

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/harness"
	"github.com/gridctl/grid/test/waitfor"
	"go.yaml.in/yaml/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// scrape returns the sample names (and whole lines) of an HTTP /metrics.
func scrape(t *testing.T, addr string) (map[string]bool, string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("GET %s/metrics: %v", addr, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	names := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	for sc.Scan() {
		l := sc.Text()
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		n := l
		if i := strings.IndexAny(l, "{ "); i > 0 {
			n = l[:i]
		}
		names[n] = true
	}
	return names, string(body)
}

func healthOf(t *testing.T, addr string) healthpb.HealthCheckResponse_ServingStatus {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := harness.Ctx(2 * time.Second)
	defer cancel()
	r, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return healthpb.HealthCheckResponse_UNKNOWN
	}
	return r.GetStatus()
}

// TestLibraryAndAgentMetricsHealthAndDeployFiles: a live master's /metrics
// has raft, memberlist and raft-wal (the log store of a new data dir) metrics; an agent's has per-node
// series for a running node; every metric the Grafana dashboard and the
// alert rules name exists; gRPC health is SERVING with a leader and
// NOT_SERVING on a master cut off from quorum.
func TestLibraryAndAgentMetricsHealthAndDeployFiles(t *testing.T) {
	c := harness.NewCluster(t, harness.Options{})
	leader := c.WaitLeader(30 * time.Second)
	ag := c.AddAgent("agent-obs", harness.AgentOptions{Args: []string{"--heartbeat-interval", "200ms"}})
	ctx, cancel := harness.Ctx(60 * time.Second)
	defer cancel()
	var nodeID string
	waitfor.Until(t, 30*time.Second, "spawn on agent-obs", func() (bool, string) {
		r, err := leader.Client().SpawnStorageNode(ctx, &rpc.SpawnRequest{AgentId: "agent-obs"})
		if err != nil {
			return false, err.Error()
		}
		nodeID = r.GetNodeId()
		return r.GetSuccess(), r.GetErrorMessage()
	})

	waitfor.Until(t, 30*time.Second, "library metrics on the leader", func() (bool, string) {
		names, _ := scrape(t, leader.HTTP)
		for _, want := range []string{"raft_commitTime", "raft_leader_lastContact", "raft_fsm_applyBatch", "raft_wal_log_appends",
			"raft_wal_log_entries_written", "memberlist_gossip", "autopilot_healthy", "grid_build_info", "grid_agents", "grid_events_applied_total"} {
			if !names[want] {
				return false, "missing " + want
			}
		}
		return true, ""
	})
	if _, body := scrape(t, leader.HTTP); strings.Contains(body, "grid_agents_count") {
		t.Error("grid_agents_count is still exported (a gauge with a _count suffix)")
	}
	waitfor.Until(t, 30*time.Second, "per-node series on the agent", func() (bool, string) {
		_, body := scrape(t, ag.HTTP)
		for _, want := range []string{
			`grid_agent_node_status{node_id="` + nodeID + `",status="running"} 1`,
			`grid_agent_node_restarts_total{node_id="` + nodeID + `"} 0`,
			`grid_agent_node_resident_memory_bytes{node_id="` + nodeID + `"}`,
			`grid_agent_node_uptime_seconds{node_id="` + nodeID + `"}`,
			`grid_agent_registered 1`, `grid_agent_heartbeat_rtt_seconds_count`, `grid_agent_events_buffered`,
		} {
			if !strings.Contains(body, want) {
				return false, "missing " + want
			}
		}
		return true, ""
	})
	for _, p := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get("http://" + ag.HTTP + p)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("agent GET %s: %v %v", p, err, resp)
		}
		resp.Body.Close()
	}

	// Every metric the deploy files name exists in a live /metrics.
	live := map[string]bool{}
	waitfor.Until(t, 30*time.Second, "deploy files' metrics are live", func() (bool, string) {
		for _, m := range c.Live() {
			names, _ := scrape(t, m.HTTP)
			for n := range names {
				live[n] = true
			}
		}
		names, _ := scrape(t, ag.HTTP)
		for n := range names {
			live[n] = true
		}
		for _, n := range deployMetricNames(t) {
			if !live[n] {
				return false, "not in any /metrics: " + n
			}
		}
		return true, ""
	})

	// gRPC health: SERVING on every master with a leader; a master whose
	// two peers are gone has no quorum and stops serving.
	waitfor.True(t, 20*time.Second, "grpc health SERVING on every master", func() bool {
		for _, m := range c.Live() {
			if healthOf(t, m.GRPC) != healthpb.HealthCheckResponse_SERVING {
				return false
			}
		}
		return true
	})
	survivor := c.Followers(leader)[0]
	for _, m := range c.Masters {
		if m != survivor {
			_ = m.Kill()
		}
	}
	waitfor.True(t, 20*time.Second, "grpc health NOT_SERVING on the master cut off from quorum", func() bool {
		return healthOf(t, survivor.GRPC) == healthpb.HealthCheckResponse_NOT_SERVING
	})
}

var metricNameRe = regexp.MustCompile(`\b(?:grid|raft|memberlist|autopilot)_[A-Za-z0-9_]+`)

// deployMetricNames are the metric names in deploy/grafana/grid.json and
// deploy/prometheus/alerts.yml, after checking both files' shape.
func deployMetricNames(t *testing.T) []string {
	t.Helper()
	root := filepath.Join("..", "deploy")
	raw, err := os.ReadFile(filepath.Join(root, "grafana", "grid.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("grid.json: %v", err)
	}
	var exprs []string
	for _, p := range dash.Panels {
		if p.Title == "" || len(p.Targets) == 0 {
			t.Fatalf("grid.json: panel %q has no title or no targets", p.Title)
		}
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	raw, err = os.ReadFile(filepath.Join(root, "prometheus", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(raw, &rules); err != nil {
		t.Fatalf("alerts.yml: %v", err)
	}
	if len(rules.Groups) == 0 {
		t.Fatal("alerts.yml: no groups")
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if g.Name == "" || r.Alert == "" || r.Expr == "" || r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Fatalf("alerts.yml: rule %q in group %q lacks name, alert, expr, severity or summary", r.Alert, g.Name)
			}
			if r.For != "" {
				if _, err := time.ParseDuration(r.For); err != nil {
					t.Fatalf("alerts.yml: rule %q: for %q: %v", r.Alert, r.For, err)
				}
			}
			exprs = append(exprs, r.Expr)
		}
	}
	seen := map[string]bool{}
	var out []string
	for _, e := range exprs {
		for _, n := range metricNameRe.FindAllString(e, -1) {
			if !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	return out
}

// TestMonitorFromAFollower: `grid monitor` against a follower streams the
// leader's lines for 3 s and exits cleanly on Ctrl-C (SIGINT); with --json
// the lines, like a --log-json master's own, parse as JSON.
func TestMonitorFromAFollower(t *testing.T) {
	c := harness.NewCluster(t, harness.Options{MasterArgs: []string{"--log-json"}})
	leader := c.WaitLeader(30 * time.Second)
	follower := c.Followers(leader)[0]
	bin, err := harness.Binary()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "monitor.out")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(bin, "monitor", "--master", follower.GRPC, "--node", leader.ID, "--log-level", "debug", "--json", "--tail", "20")
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	// Make the leader log while the stream is open.
	waitfor.Until(t, 10*time.Second, "monitor prints the leader's lines", func() (bool, string) {
		register(t, leader, "agent-monitor")
		b, _ := os.ReadFile(out)
		return strings.Count(string(b), "\n") >= 3, string(b)
	})
	// Keep the stream open for 3 s in all, the leader's lines still arriving.
	seen := 0
	waitfor.Until(t, 20*time.Second, "3 s of streaming with new lines", func() (bool, string) {
		register(t, leader, "agent-monitor")
		b, _ := os.ReadFile(out)
		n := strings.Count(string(b), "\n")
		grew := n > seen
		seen = n
		return grew && time.Since(start) >= 3*time.Second, string(b)
	})
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			b, _ := os.ReadFile(out)
			t.Fatalf("grid monitor after Ctrl-C: %v\n%s", err, b)
		}
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("grid monitor did not exit on Ctrl-C")
	}
	b, _ := os.ReadFile(out)
	sawLeader := false
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var obj map[string]any
		if err := json.Unmarshal([]byte(l), &obj); err != nil {
			t.Fatalf("monitor line is not JSON: %q: %v", l, err)
		}
		if obj["master_id"] == leader.ID {
			sawLeader = true
		}
	}
	if !sawLeader {
		t.Fatalf("no line of the leader %s in:\n%s", leader.ID, b)
	}
	// A --log-json master's own log lines parse as JSON.
	lines := strings.Split(strings.TrimSpace(leader.Tail(4096)), "\n")
	for _, l := range lines[1:] { // the first may be cut by Tail
		var obj map[string]any
		if err := json.Unmarshal([]byte(l), &obj); err != nil {
			t.Fatalf("--log-json line is not JSON: %q: %v", l, err)
		}
	}
}

// TestDebugBundleWithAKilledMaster: against 3 masters and 2 agents with
// one master killed, the bundle holds every expected file for the members
// alive and its index names the unreachable master.
func TestDebugBundleWithAKilledMaster(t *testing.T) {
	c := harness.NewCluster(t, harness.Options{MasterArgs: []string{"--enable-debug"}})
	leader := c.WaitLeader(30 * time.Second)
	agents := []*harness.Agent{
		c.AddAgent("agent-b1", harness.AgentOptions{Args: []string{"--enable-debug", "--join", c.GossipAddrs()}}),
		c.AddAgent("agent-b2", harness.AgentOptions{Args: []string{"--enable-debug", "--join", c.GossipAddrs()}}),
	}
	waitfor.Until(t, 30*time.Second, "both agents registered and in gossip", func() (bool, string) {
		out, err := gridErr(c, "members", "--json")
		return err == nil && strings.Contains(out, "agent-b1") && strings.Contains(out, "agent-b2"), out
	})
	dead := c.Followers(leader)[0]
	if err := dead.Kill(); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "bundle.tar.gz")
	var live []string
	for _, m := range c.Live() {
		live = append(live, m.GRPC)
	}
	grid(t, c, "debug", "bundle", "--master", strings.Join(live, ","), "--output", archive, "--duration", "2s", "--interval", "1s")

	files := readTarGz(t, archive)
	var index struct {
		Collected    []string `json:"collected"`
		NotCollected []struct {
			Member, Item, Reason string
		} `json:"not_collected"`
	}
	if err := json.Unmarshal(files["index.json"], &index); err != nil {
		t.Fatalf("index.json: %v", err)
	}
	want := []string{"cluster/status.json", "cluster/list-peers.json", "cluster/members.json", "cluster/autopilot-health.json",
		"cluster/agents.json", "cluster/nodes.json"}
	for _, m := range c.Live() {
		for _, f := range []string{"config.json", "goroutine.txt", "heap.pprof", "logs.txt", "metrics-000.prom", "metrics-001.prom"} {
			want = append(want, "masters/"+m.ID+"/"+f)
		}
	}
	for _, a := range agents {
		for _, f := range []string{"config.json", "goroutine.txt", "heap.pprof", "logs.txt", "metrics-000.prom"} {
			want = append(want, "agents/"+a.ID+"/"+f)
		}
	}
	for _, w := range want {
		if len(files[w]) == 0 {
			t.Errorf("bundle lacks %s (has %v)", w, keys(files))
		}
	}
	named := false
	for _, m := range index.NotCollected {
		if strings.Contains(m.Member, dead.ID) && m.Reason != "" {
			named = true
		}
		if !strings.Contains(m.Member, dead.ID) {
			t.Errorf("index: %s %s not collected: %s", m.Member, m.Item, m.Reason)
		}
	}
	if !named {
		t.Errorf("index does not name the killed master %s: %s", dead.ID, files["index.json"])
	}
	if cfg := string(files["masters/"+leader.ID+"/config.json"]); !strings.Contains(cfg, `"version"`) {
		t.Errorf("config.json has no version: %s", cfg)
	}
}

func readTarGz(t *testing.T, path string) map[string][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	out := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		_, rest, _ := strings.Cut(h.Name, "/") // drop grid-debug-<time>/
		out[rest] = b
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
