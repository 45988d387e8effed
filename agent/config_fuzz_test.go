package agent

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoadConfig writes arbitrary bytes as an agent TOML file and loads it.
// LoadConfig must never panic; it either refuses the file with an error
// wrapping ErrInvalidConfig, or returns a config that Validate accepts once
// the two things a file need not (or cannot) settle on this machine are
// filled in: a master address when the file names none, and an executable
// that exists here as the storage binary.
func FuzzLoadConfig(f *testing.F) {
	for _, seed := range []string{
		seedTOML,
		"",
		"[agent]\nmaster_endpoint = [\"10.0.0.1:7000\", \"http://10.0.0.2:7000/\"]\n",
		"[agent]\nmaster_endpoint = \"a:1, b:2 ,,\"\nagent_port = 65535\nmax_storage_nodes = 1000\n",
		"[agent]\nmaster_endpoint = [1, 2]\n",
		"[agent]\nmaster_endpoint = {host = \"x\"}\n",
		"[agent]\nagent_id = \"..\"\n",
		"[storage]\ndefault_port_range_start = 65535\n",
		"[storage]\ndefault_port_range_start = 100\ndefault_port_range_end = 99\n",
		"[storage]\ndata_path = \"\"\ndefault_memory_mb = 16\n",
		"[monitoring]\nheartbeat_interval_secs = nan\n",
		"[monitoring]\nhealth_check_interval_secs = inf\nrestart_window_secs = -inf\n",
		"[monitoring]\nheartbeat_interval_secs = 0.01\nrestart_window_secs = 604800\nrestart_max_attempts = 0\n",
		"[monitoring]\nrestart_failed_nodes = \"yes\"\n",
		"[[agent]]\nagent_id = \"x\"\n",
		"agent = 1\n",
		"[agent]\nagent_port = 9223372036854775807\n",
		"[agent]\nagent_port = 1.5\n",
		"[agent\n",
		"\xff\xfe[agent]\n",
	} {
		f.Add([]byte(seed))
	}
	exe, err := os.Executable()
	if err != nil {
		f.Fatal(err)
	}
	// One file per fuzz process, rewritten for each input (inputs run one
	// at a time within a process).
	path := filepath.Join(f.TempDir(), "agent.toml")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, err := LoadConfig(path)
		if err != nil {
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("LoadConfig error does not wrap ErrInvalidConfig: %v", err)
			}
			return
		}
		if len(cfg.Masters) == 0 {
			cfg.Masters = []string{"127.0.0.1:7000"}
		}
		cfg.BinaryPath = exe
		if err := cfg.Validate(); err != nil {
			t.Fatalf("LoadConfig accepted a file that Validate refuses: %v\nfile:\n%s\nconfig: %+v", err, data, cfg)
		}
	})
}
