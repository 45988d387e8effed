package agent

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// fileConfig mirrors the seeds' agent TOML. Pointers tell "absent" from zero.
type fileConfig struct {
	Agent struct {
		AgentID         *string `toml:"agent_id"`
		MasterEndpoint  any     `toml:"master_endpoint"`
		AgentPort       *int64  `toml:"agent_port"`
		Platform        *string `toml:"platform"`
		MaxStorageNodes *int64  `toml:"max_storage_nodes"`
	} `toml:"agent"`
	Storage struct {
		BinaryPath            *string `toml:"binary_path"`
		DataPath              *string `toml:"data_path"`
		DefaultMemoryMB       *int64  `toml:"default_memory_mb"`
		DefaultPortRangeStart *int64  `toml:"default_port_range_start"`
		DefaultPortRangeEnd   *int64  `toml:"default_port_range_end"`
	} `toml:"storage"`
	Monitoring struct {
		HeartbeatIntervalSecs   *float64 `toml:"heartbeat_interval_secs"`
		HealthCheckIntervalSecs *float64 `toml:"health_check_interval_secs"`
		RestartFailedNodes      *bool    `toml:"restart_failed_nodes"`
		RestartMaxAttempts      *int64   `toml:"restart_max_attempts"`
		RestartWindowSecs       *float64 `toml:"restart_window_secs"`
	} `toml:"monitoring"`
}

// LoadConfig reads the seeds' agent TOML at path over DefaultConfig(). An
// unknown key or a value of the wrong type or out of range is an error naming
// the key. The result is not yet validated as a whole: flags may still
// override it; call Validate afterwards.
func LoadConfig(path string) (Config, error) {
	cfg := DefaultConfig()
	data, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("%w: %s: %v", ErrInvalidConfig, path, err)
	}
	var fc fileConfig
	md, err := toml.Decode(string(data), &fc)
	if err != nil {
		var perr toml.ParseError
		if errors.As(err, &perr) {
			return cfg, fmt.Errorf("%w: %s: %s", ErrInvalidConfig, path, parseErrorText(perr, data))
		}
		return cfg, fmt.Errorf("%w: %s: %v", ErrInvalidConfig, path, err)
	}
	if undecoded := md.Undecoded(); len(undecoded) > 0 {
		keys := make([]string, len(undecoded))
		for i, k := range undecoded {
			keys[i] = k.String()
		}
		return cfg, fmt.Errorf("%w: %s: unknown key(s): %s", ErrInvalidConfig, path, strings.Join(keys, ", "))
	}
	if err := fc.apply(&cfg); err != nil {
		return cfg, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// parseErrorText renders a TOML syntax error with its position. The pinned
// library's ParseError.ErrorWithPosition panics when the position is outside
// the input (line 0 for an escape or quote cut off by the end of the file or
// a CRLF: BurntSushi/toml#498, #517), so such positions, and any panic of
// the renderer, fall back to the message and byte offset.
func parseErrorText(perr toml.ParseError, input []byte) (text string) {
	fallback := fmt.Sprintf("toml: error: %s at byte %d", perr.Message, perr.Position.Start)
	pos := perr.Position
	if pos.Line < 1 || pos.Line > bytes.Count(input, []byte("\n"))+1 || pos.Col < 1 || pos.Len < 0 {
		return fallback
	}
	defer func() {
		if recover() != nil {
			text = fallback
		}
	}()
	return perr.ErrorWithPosition()
}

func (fc *fileConfig) apply(cfg *Config) error {
	a, s, m := &fc.Agent, &fc.Storage, &fc.Monitoring
	if a.AgentID != nil {
		if err := ValidateNodeID(*a.AgentID); err != nil {
			return fmt.Errorf("%w: agent.agent_id %q: must be 1-128 characters of [A-Za-z0-9._-]", ErrInvalidConfig, *a.AgentID)
		}
		cfg.AgentID = *a.AgentID
	}
	if a.MasterEndpoint != nil {
		eps, err := endpointList(a.MasterEndpoint)
		if err != nil {
			return err
		}
		cfg.Masters = eps
	}
	if a.AgentPort != nil {
		p, err := intInRange("agent.agent_port", *a.AgentPort, 1, 65535)
		if err != nil {
			return err
		}
		cfg.GRPCAddr = net.JoinHostPort("", strconv.Itoa(p))
	}
	if a.Platform != nil {
		cfg.Platform = *a.Platform
	}
	if a.MaxStorageNodes != nil {
		n, err := intInRange("agent.max_storage_nodes", *a.MaxStorageNodes, 1, 1000)
		if err != nil {
			return err
		}
		cfg.MaxNodes = n
	}
	if s.BinaryPath != nil {
		cfg.BinaryPath = *s.BinaryPath
	}
	if s.DataPath != nil {
		if *s.DataPath == "" {
			return fmt.Errorf("%w: storage.data_path is empty", ErrInvalidConfig)
		}
		cfg.DataDir = *s.DataPath
	}
	if s.DefaultMemoryMB != nil {
		n, err := intInRange("storage.default_memory_mb", *s.DefaultMemoryMB, MinMemoryLimitMB, MaxMemoryLimitMB)
		if err != nil {
			return err
		}
		cfg.DefaultMemoryMB = uint64(n)
	}
	if s.DefaultPortRangeStart != nil {
		n, err := intInRange("storage.default_port_range_start", *s.DefaultPortRangeStart, 1, 65535)
		if err != nil {
			return err
		}
		width := cfg.PortRangeEnd - cfg.PortRangeStart
		cfg.PortRangeStart = n
		cfg.PortRangeEnd = min(n+width, 65535)
	}
	if s.DefaultPortRangeEnd != nil {
		n, err := intInRange("storage.default_port_range_end", *s.DefaultPortRangeEnd, int64(cfg.PortRangeStart), 65535)
		if err != nil {
			return err
		}
		cfg.PortRangeEnd = n
	}
	if m.HeartbeatIntervalSecs != nil {
		d, err := secondsInRange("monitoring.heartbeat_interval_secs", *m.HeartbeatIntervalSecs, 0.01, 3600)
		if err != nil {
			return err
		}
		cfg.HeartbeatInterval = d
	}
	if m.HealthCheckIntervalSecs != nil {
		d, err := secondsInRange("monitoring.health_check_interval_secs", *m.HealthCheckIntervalSecs, 0.01, 3600)
		if err != nil {
			return err
		}
		cfg.HealthCheckInterval = d
	}
	if m.RestartFailedNodes != nil {
		cfg.RestartFailedNodes = *m.RestartFailedNodes
	}
	if m.RestartMaxAttempts != nil {
		n, err := intInRange("monitoring.restart_max_attempts", *m.RestartMaxAttempts, 0, 100)
		if err != nil {
			return err
		}
		cfg.RestartMaxAttempts = n
	}
	if m.RestartWindowSecs != nil {
		d, err := secondsInRange("monitoring.restart_window_secs", *m.RestartWindowSecs, 1, 7*24*3600)
		if err != nil {
			return err
		}
		cfg.RestartWindow = d
	}
	return nil
}

// endpointList accepts one address, a comma-separated string or a list.
func endpointList(v any) ([]string, error) {
	var raw []string
	switch t := v.(type) {
	case string:
		raw = strings.Split(t, ",")
	case []any:
		for i, e := range t {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("%w: agent.master_endpoint[%d]: want a string address, got %T", ErrInvalidConfig, i, e)
			}
			raw = append(raw, s)
		}
	default:
		return nil, fmt.Errorf("%w: agent.master_endpoint: want a string or a list of strings, got %T", ErrInvalidConfig, v)
	}
	var out []string
	for _, s := range raw {
		s = normalizeEndpoint(s)
		if s == "" {
			continue
		}
		if _, port, err := splitHostPort(s); err != nil || port == 0 {
			return nil, fmt.Errorf("%w: agent.master_endpoint %q: want host:port", ErrInvalidConfig, s)
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: agent.master_endpoint is empty", ErrInvalidConfig)
	}
	return out, nil
}

func intInRange(key string, v, lo, hi int64) (int, error) {
	if v < lo || v > hi {
		return 0, fmt.Errorf("%w: %s %d: allowed range is %d-%d", ErrInvalidConfig, key, v, lo, hi)
	}
	return int(v), nil
}

func secondsInRange(key string, v, lo, hi float64) (time.Duration, error) {
	// Written so that NaN (valid TOML) fails the check too.
	if !(v >= lo && v <= hi) {
		return 0, fmt.Errorf("%w: %s %g: allowed range is %g-%g seconds", ErrInvalidConfig, key, v, lo, hi)
	}
	return time.Duration(v * float64(time.Second)), nil
}
