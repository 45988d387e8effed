package cluster

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// SnapshotConfig schedules snapshots of the cluster state on each master.
type SnapshotConfig struct {
	// Interval between scheduled snapshots; 0 turns them off.
	Interval time.Duration
	// Retain is how many scheduled snapshot files are kept (oldest removed).
	Retain int
	// Dir is where they go; empty = <DataDir>/snapshots.
	Dir string
}

// DefaultSnapshotConfig: off, 24 kept.
func DefaultSnapshotConfig() SnapshotConfig { return SnapshotConfig{Retain: 24} }

// scheduledSnapshotPrefix and Suffix frame a scheduled snapshot's name:
// grid-<UTC time>-<index>.snap, so that names sort by time.
const (
	scheduledSnapshotPrefix = "grid-"
	scheduledSnapshotSuffix = ".snap"
)

// runSnapshotSchedule starts the log-size snapshot trigger
// (snapshot_logsize.go), then writes a snapshot file every Interval until the
// master shuts down. Every master snapshots its own replica, so a backup
// exists wherever a quorum survives.
func (m *Master) runSnapshotSchedule() {
	m.runLogSizeSnapshots()
	cfg := m.config.Snapshots
	if cfg.Interval <= 0 {
		return
	}
	if cfg.Retain < 1 {
		cfg.Retain = DefaultSnapshotConfig().Retain
	}
	if cfg.Dir == "" {
		cfg.Dir = filepath.Join(m.config.DataDir, "snapshots")
	}
	log := m.logger.Named("snapshot_schedule")
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-m.lifecycle.shutdownCh
		cancel()
	}()
	go func() {
		t := time.NewTicker(cfg.Interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			path, err := m.writeScheduledSnapshot(cfg.Dir)
			if err != nil {
				log.Warn("scheduled snapshot failed", "error", err)
				continue
			}
			removed, err := pruneSnapshots(cfg.Dir, cfg.Retain)
			if err != nil {
				log.Warn("could not remove old snapshots", "error", err)
			}
			log.Debug("scheduled snapshot written", "path", path, "removed", removed)
		}
	}()
}

// writeScheduledSnapshot writes one snapshot file into dir atomically
// (a temp file, synced, then renamed) and returns its path.
func (m *Master) writeScheduledSnapshot(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	meta, rc, err := m.openSnapshot()
	if err != nil {
		return "", err
	}
	defer rc.Close()
	tmp, err := os.CreateTemp(dir, ".partial-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	w := bufio.NewWriterSize(tmp, snapshotChunkSize)
	if err := writeSnapshotFile(w, meta, m.identity.ClusterID(), rc); err != nil {
		tmp.Close()
		return "", err
	}
	if err := w.Flush(); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	name := fmt.Sprintf("%s%s-%d%s", scheduledSnapshotPrefix, time.Now().UTC().Format("20060102T150405.000Z"), meta.Index, scheduledSnapshotSuffix)
	path := filepath.Join(dir, name)
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", err
	}
	return path, nil
}

// pruneSnapshots removes the oldest scheduled snapshot files of dir beyond
// retain and returns how many it removed.
func pruneSnapshots(dir string, retain int) (int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var names []string
	for _, e := range entries {
		if n := e.Name(); !e.IsDir() && strings.HasPrefix(n, scheduledSnapshotPrefix) && strings.HasSuffix(n, scheduledSnapshotSuffix) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	removed := 0
	for len(names) > retain {
		if err := os.Remove(filepath.Join(dir, names[0])); err != nil {
			return removed, err
		}
		names = names[1:]
		removed++
	}
	return removed, nil
}
