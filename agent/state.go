package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// stateFileName is the node table in the agent's data dir.
const stateFileName = "agent-state.json"

// NodeRecord is one node in the agent's table, as persisted.
type NodeRecord struct {
	NodeID        string `json:"node_id"`
	Port          int    `json:"port"`
	StoragePath   string `json:"storage_path"`
	MemoryLimitMB uint64 `json:"memory_limit_mb"`
	PID           int    `json:"pid"`
	// StartTime is /proc/<pid>/stat field 22: with PID it names the process.
	StartTime uint64 `json:"start_time"`
	// StartedAt is when this process started, unix micros.
	StartedAt    int64   `json:"started_at"`
	CreatedAt    int64   `json:"created_at"`
	RestartCount uint32  `json:"restart_count"`
	Restarts     []int64 `json:"restarts,omitempty"` // restart times within the window, unix micros
	Status       string  `json:"status"`
	LastExitCode int32   `json:"last_exit_code"`
	LastSignal   string  `json:"last_signal,omitempty"`
	LastError    string  `json:"last_error,omitempty"`
}

// stateFile is the on-disk form of the node table.
type stateFile struct {
	Version int           `json:"version"`
	AgentID string        `json:"agent_id"`
	Nodes   []*NodeRecord `json:"nodes"`
}

// loadState reads the node table; a missing file is an empty table.
func loadState(dataDir, agentID string) ([]*NodeRecord, error) {
	path := filepath.Join(dataDir, stateFileName)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	var sf stateFile
	if err := json.Unmarshal(b, &sf); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	if sf.AgentID != "" && sf.AgentID != agentID {
		return nil, fmt.Errorf("%s belongs to agent %q, not %q: use another --data-dir", path, sf.AgentID, agentID)
	}
	return sf.Nodes, nil
}

// saveState writes the node table atomically: temp file, fsync, rename,
// fsync of the directory.
func saveState(dataDir, agentID string, nodes []*NodeRecord) error {
	b, err := json.MarshalIndent(stateFile{Version: 1, AgentID: agentID, Nodes: nodes}, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(dataDir, stateFileName)
	tmp, err := os.CreateTemp(dataDir, stateFileName+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("sync %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("rename %s: %w", path, err)
	}
	if d, err := os.Open(dataDir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
