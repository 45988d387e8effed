package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/harness"
	"github.com/gridctl/grid/test/waitfor"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

const spawnTrials = 20

// waitServing polls the storage node at endpoint with HealthCheck until it
// answers healthy, and returns when it did.
func waitServing(endpoint string, deadline time.Time) (time.Time, error) {
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return time.Time{}, err
	}
	defer conn.Close()
	client := rpc.NewStorageServiceClient(conn)
	var last error
	for time.Now().Before(deadline) {
		ctx, cancel := harness.Ctx(time.Second)
		r, err := client.HealthCheck(ctx, &rpc.HealthCheckRequest{})
		cancel()
		if err == nil && r.Healthy {
			return time.Now(), nil
		}
		last = err
		time.Sleep(time.Millisecond) // poll interval, not a wait for an event
	}
	return time.Time{}, fmt.Errorf("node at %s not healthy: %v", endpoint, last)
}

// BenchmarkSpawn: SpawnStorageNode on the leader with a real agent
// running real `grid storage-node` processes; the agent's GridAgent calls
// go through a timing proxy.
func BenchmarkSpawn(b *testing.B) {
	opts := harness.Options{RaftProfile: "default"}
	profDir := os.Getenv("GRID_PROBE_DIR") // diagnostic (GRID_PROBE=1): the leader's CPU profile over the spawns
	if os.Getenv("GRID_PROBE") == "1" && profDir != "" {
		opts.MasterArgs = []string{"--enable-debug"}
	}
	c := harness.NewCluster(b, opts)
	proxy, err := newAgentTimingProxy()
	if err != nil {
		b.Fatal(err)
	}
	defer proxy.close()
	a := c.AddAgent("agent-spawn", harness.AgentOptions{MaxNodes: spawnTrials + 5, Ports: spawnTrials + 20,
		Args: []string{"--advertise-addr", proxy.addr, "--log-level", "info"}})
	if err := proxy.connect(a.GRPC); err != nil {
		b.Fatal(err)
	}
	leader := c.WaitLeader(30 * time.Second)
	waitfor.Until(b, 30*time.Second, "agent-spawn registered and healthy", func() (bool, string) {
		ctx, cancel := harness.Ctx(2 * time.Second)
		defer cancel()
		l, err := leader.Client().ListAgents(ctx, &rpc.Empty{})
		if err != nil {
			return false, err.Error()
		}
		for _, ag := range l.Agents {
			if ag.AgentId == a.ID && ag.Status == "healthy" {
				return true, ""
			}
		}
		return false, "not in ListAgents yet"
	})

	var total, call, control []time.Duration
	if os.Getenv("GRID_PROBE") == "1" && profDir != "" {
		stop := profileMaster(b, leader, filepath.Join(profDir, "spawn-leader.pprof"))
		defer stop()
		done := make(chan struct{}) // and its Go execution trace (spawns.txt: each spawn's start, total and control ns)
		go func() {
			defer close(done)
			saveDebug(b, leader, "/debug/pprof/trace?seconds=4", filepath.Join(profDir, "spawn-leader.trace"))
		}()
		defer func() { <-done }()
	}
	var starts []time.Time
	for i := range spawnTrials {
		id := fmt.Sprintf("node-bench-%02d", i)
		t0 := time.Now()
		var r *rpc.SpawnResponse
		for try := 0; ; try++ { // a client retries a spawn by its node id (idempotent); the retry is timed too
			ctx, cancel := harness.Ctx(60 * time.Second)
			r, err = leader.Client().SpawnStorageNode(ctx, &rpc.SpawnRequest{AgentId: a.ID, NodeId: id})
			cancel()
			if err == nil {
				break
			}
			if c := status.Code(err); try == 4 || (c != codes.Aborted && c != codes.Unavailable) {
				b.Fatalf("spawn %s: %v", id, err)
			}
			b.Logf("spawn %s: %v; retrying", id, err)
		}
		answered := time.Now()
		served, err := waitServing(r.Endpoint, time.Now().Add(30*time.Second))
		if err != nil {
			b.Fatal(err)
		}
		agentPart, ok := proxy.agentTime(id)
		if !ok {
			b.Fatalf("spawn %s never reached the agent through the proxy", id)
		}
		total = append(total, served.Sub(t0))
		call = append(call, answered.Sub(t0))
		control = append(control, answered.Sub(t0)-agentPart)
		starts = append(starts, t0)
	}
	if os.Getenv("GRID_PROBE") == "1" && profDir != "" {
		var sb strings.Builder
		for i, t0 := range starts {
			fmt.Fprintf(&sb, "%d %d %d\n", t0.UnixNano(), call[i].Nanoseconds(), control[i].Nanoseconds())
		}
		if err := os.WriteFile(filepath.Join(profDir, "spawns.txt"), []byte(sb.String()), 0o644); err != nil {
			b.Error(err)
		}
	}
	b.Logf("spawn call p50 %.2f ms; agent part p50 %.2f ms", percentileMS(call, 0.5), percentileMS(call, 0.5)-percentileMS(control, 0.5))
	if os.Getenv("GRID_PROBE") == "1" { // diagnostic: every spawn's control part, in order
		ms := make([]string, len(control))
		for i, d := range control {
			ms[i] = fmt.Sprintf("%.2f", float64(d.Microseconds())/1000)
		}
		b.Logf("control ms per spawn: %s", strings.Join(ms, " "))
	}
	record("spawn_ms_p50", percentileMS(total, 0.5), "ms", fmt.Sprintf("SpawnStorageNode on the leader naming a real agent -> first successful HealthCheck on the new node's endpoint (a real `grid storage-node` process), %d sequential spawns, p50", spawnTrials))
	record("spawn_control_ms_p99", percentileMS(control, 0.99), "ms", "per spawn: the SpawnStorageNode round trip minus the agent's SpawnNode round trip (process start + port accepting, timed by a gRPC proxy between the leader and the agent): validation, placement, the two Raft commits, the calls; p99 of the same spawns")
}
