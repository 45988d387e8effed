package test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/gridctl/grid/test/harness"
	"github.com/gridctl/grid/test/waitfor"
)

type autopilotCfg struct {
	CleanupDeadServers        bool   `json:"cleanup_dead_servers"`
	LastContactThresholdMs    int64  `json:"last_contact_threshold_ms"`
	MaxTrailingLogs           uint64 `json:"max_trailing_logs"`
	MinQuorum                 int    `json:"min_quorum"`
	ServerStabilizationTimeMs int64  `json:"server_stabilization_time_ms"`
	FromRaft                  bool   `json:"from_raft"`
}

// Issue 13: autopilot's configuration is seen and set from the CLI (stored
// in Raft: every master answers the same from its replica), and
// its health lists each master from the CLI and REST.
func TestAutopilotConfigAndHealth(t *testing.T) {
	c := harness.NewCluster(t, harness.Options{})
	c.WaitLeader(30 * time.Second)
	get := func(args ...string) autopilotCfg {
		var cfg autopilotCfg
		out := grid(t, c, append([]string{"operator", "autopilot", "get-config", "--json"}, args...)...)
		if err := json.Unmarshal([]byte(out), &cfg); err != nil {
			t.Fatalf("get-config --json: %v\n%s", err, out)
		}
		return cfg
	}
	if cfg := get(); cfg.FromRaft || cfg.MaxTrailingLogs != 250 {
		t.Fatalf("default config: %+v", cfg)
	}
	grid(t, c, "operator", "autopilot", "set-config", "--max-trailing-logs", "500", "--cleanup-dead-servers=false", "--last-contact-threshold", "3s")
	want := autopilotCfg{MaxTrailingLogs: 500, LastContactThresholdMs: 3000, MinQuorum: 3, ServerStabilizationTimeMs: 10000, FromRaft: true}
	for _, m := range c.Live() {
		waitfor.Until(t, 10*time.Second, m.ID+" holding the set config", func() (bool, string) {
			cfg := get("--stale", "--master", m.GRPC)
			return cfg == want, fmt.Sprintf("%+v", cfg)
		})
	}
	if out, err := gridErr(c, "operator", "autopilot", "set-config", "--last-contact-threshold", "1ms"); err == nil {
		t.Fatalf("a 1ms threshold was accepted: %s", out)
	}
	if cfg := get(); cfg != want {
		t.Fatalf("a refused set-config changed the config: %+v", cfg)
	}

	var h struct {
		Healthy               bool `json:"healthy"`
		FailureToleranceHolds bool `json:"failure_tolerance_holds"`
		Servers               []struct {
			ID      string `json:"id"`
			Healthy bool   `json:"healthy"`
		} `json:"servers"`
	}
	waitfor.Until(t, 30*time.Second, "autopilot health: 3 healthy masters", func() (bool, string) {
		out, err := gridErr(c, "operator", "autopilot", "health", "--json")
		if json.Unmarshal([]byte(out), &h) != nil {
			return false, fmt.Sprint(err, out)
		}
		ok := err == nil && h.Healthy && h.FailureToleranceHolds && len(h.Servers) == 3
		for _, s := range h.Servers {
			ok = ok && s.Healthy
		}
		return ok, out
	})
	resp, err := http.Get("http://" + c.Live()[0].HTTP + "/api/grid/operator/autopilot/health")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || json.Unmarshal(body, &h) != nil || len(h.Servers) != 3 {
		t.Fatalf("GET autopilot/health: %d %s", resp.StatusCode, body)
	}
}
