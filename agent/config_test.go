package agent

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeTOML(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "agent.toml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const seedTOML = `
[agent]
agent_id = "agent-001"
master_endpoint = "http://localhost:7000"
agent_port = 8001
platform = "linux-x86_64"
max_storage_nodes = 5

[storage]
binary_path = "/bin/true"
data_path = "/tmp/sutra-nodes"
default_memory_mb = 512
default_port_range_start = 50051

[monitoring]
heartbeat_interval_secs = 5
health_check_interval_secs = 10
restart_failed_nodes = true
`

func TestLoadConfigSeedFile(t *testing.T) {
	cfg, err := LoadConfig(writeTOML(t, seedTOML))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.AgentID != "agent-001" || cfg.GRPCAddr != ":8001" || cfg.MaxNodes != 5 || cfg.Platform != "linux-x86_64" {
		t.Fatalf("agent section: %+v", cfg)
	}
	if len(cfg.Masters) != 1 || cfg.Masters[0] != "localhost:7000" {
		t.Fatalf("masters = %v, want [localhost:7000] (scheme stripped)", cfg.Masters)
	}
	if cfg.DataDir != "/tmp/sutra-nodes" || cfg.DefaultMemoryMB != 512 || cfg.PortRangeStart != 50051 || cfg.PortRangeEnd != 50150 {
		t.Fatalf("storage section: %+v", cfg)
	}
	if cfg.HeartbeatInterval != 5*time.Second || cfg.HealthCheckInterval != 10*time.Second || !cfg.RestartFailedNodes {
		t.Fatalf("monitoring section: %+v", cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if cfg.AdvertiseAddr != "127.0.0.1:8001" {
		t.Fatalf("advertise = %q, want 127.0.0.1:8001", cfg.AdvertiseAddr)
	}
}

func TestLoadConfigMasterList(t *testing.T) {
	cfg, err := LoadConfig(writeTOML(t, "[agent]\nmaster_endpoint = [\"10.0.0.1:7000\", \"10.0.0.2:7000\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.Masters, ",") != "10.0.0.1:7000,10.0.0.2:7000" {
		t.Fatalf("masters = %v", cfg.Masters)
	}
}

func TestLoadConfigErrorsNameTheKey(t *testing.T) {
	cases := []struct{ body, want string }{
		{"[agent]\nagent_idd = \"x\"\n", "agent.agent_idd"},
		{"[storagee]\ndata_path = \"/x\"\n", "storagee"},
		{"[agent]\nagent_port = 70000\n", "agent.agent_port 70000: allowed range is 1-65535"},
		{"[agent]\nagent_port = \"abc\"\n", "agent_port"},
		{"[agent]\nmax_storage_nodes = 0\n", "agent.max_storage_nodes 0: allowed range is 1-1000"},
		{"[storage]\ndefault_memory_mb = 8\n", "storage.default_memory_mb 8: allowed range is 16-65536"},
		{"[storage]\ndefault_memory_mb = -5\n", "storage.default_memory_mb -5"},
		{"[storage]\ndefault_port_range_start = 60000\ndefault_port_range_end = 50000\n", "storage.default_port_range_end 50000: allowed range is 60000-65535"},
		{"[monitoring]\nheartbeat_interval_secs = 0\n", "monitoring.heartbeat_interval_secs 0"},
		{"[agent]\nmaster_endpoint = \"nowhere\"\n", "agent.master_endpoint \"nowhere\""},
		{"[agent]\nmaster_endpoint = [1, 2]\n", "agent.master_endpoint[0]"},
		{"[agent]\nagent_id = \"bad id\"\n", "agent.agent_id \"bad id\""},
		{"this is not toml", "agent.toml"},
	}
	for _, tc := range cases {
		_, err := LoadConfig(writeTOML(t, tc.body))
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("LoadConfig(%q) = %v; want ErrInvalidConfig containing %q", tc.body, err, tc.want)
		}
	}
}

func TestValidateNamesBadValues(t *testing.T) {
	base := func() Config {
		c := DefaultConfig()
		c.Masters = []string{"127.0.0.1:7000"}
		c.DataDir = t.TempDir()
		c.BinaryPath = "/bin/true"
		return c
	}
	cases := []struct {
		mut  func(*Config)
		want string
	}{
		{func(c *Config) { c.MaxNodes = 0 }, "max_storage_nodes (--max-nodes) 0"},
		{func(c *Config) { c.PortRangeStart, c.PortRangeEnd = 100, 50 }, "default_port_range_end 50"},
		{func(c *Config) { c.Masters, c.Join = nil, nil }, "no masters"},
		{func(c *Config) { c.Masters = []string{"host-without-port"} }, "master_endpoint (--masters) \"host-without-port\""},
		{func(c *Config) { c.GRPCAddr = "nonsense" }, "--grpc-addr \"nonsense\""},
		{func(c *Config) { c.BinaryPath = "/nonexistent/grid" }, "binary_path (--binary) \"/nonexistent/grid\""},
		{func(c *Config) { c.AgentID = "" }, "agent_id (--id)"},
		{func(c *Config) { c.DefaultMemoryMB = 1 << 20 }, "default_memory_mb 1048576"},
	}
	for i, tc := range cases {
		c := base()
		tc.mut(&c)
		err := c.Validate()
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("case %d: Validate() = %v; want ErrInvalidConfig containing %q", i, err, tc.want)
		}
	}
	c := base()
	c.GRPCAddr = "0.0.0.0:8123"
	if err := c.Validate(); err != nil || c.AdvertiseAddr != "127.0.0.1:8123" {
		t.Fatalf("advertise from 0.0.0.0: %q, %v", c.AdvertiseAddr, err)
	}
}

func TestRestartPolicy(t *testing.T) {
	p := RestartPolicy{Enabled: true, MaxAttempts: 3, Window: 10 * time.Minute, Backoff: 200 * time.Millisecond, MaxBackoff: time.Minute}
	now := time.Now()
	var hist []int64
	wantDelays := []time.Duration{200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond}
	for i, want := range wantDelays {
		ok, d, recent := p.Next(now, hist)
		if !ok || d != want {
			t.Fatalf("attempt %d: restart=%v delay=%s; want true %s", i+1, ok, d, want)
		}
		hist = append(recent, now.UnixMicro())
	}
	if ok, _, _ := p.Next(now, hist); ok {
		t.Fatal("4th crash within the window restarted; want budget spent")
	}
	// Outside the window the budget is back.
	if ok, d, recent := p.Next(now.Add(11*time.Minute), hist); !ok || d != 200*time.Millisecond || len(recent) != 0 {
		t.Fatalf("after the window: %v %s %v", ok, d, recent)
	}
	p.Enabled = false
	if ok, _, _ := p.Next(now, nil); ok {
		t.Fatal("disabled policy restarted")
	}
}
