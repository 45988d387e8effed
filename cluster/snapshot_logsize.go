package cluster

import (
	"errors"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// Snapshots by log size. Raft's own trigger (SnapshotThreshold) counts
// entries, but entries differ a thousandfold in size (a heartbeat status
// change against a batch of 500 events), and every snapshot copies the
// whole event store. So the entry threshold is set high (131,072), and each
// master also snapshots when the bytes appended to its log since its last
// snapshot reach SnapshotLogBytes (256 MiB by default): the log a restart
// replays, and the disk it holds, stay bounded, while a cluster of small
// registry writes no longer copies a multi-gigabyte event store every few
// thousand entries.

// countingLogStore counts the bytes of the entries appended to a log store.
type countingLogStore struct {
	raftLogStore
	appended atomic.Uint64
}

func (s *countingLogStore) StoreLog(l *raft.Log) error {
	return s.StoreLogs([]*raft.Log{l})
}

func (s *countingLogStore) StoreLogs(logs []*raft.Log) error {
	n := 0
	for _, l := range logs {
		n += len(l.Data) + len(l.Extensions)
	}
	if err := s.raftLogStore.StoreLogs(logs); err != nil {
		return err
	}
	s.appended.Add(uint64(n))
	return nil
}

// logSizeTrigger decides when the appended bytes call for a snapshot.
type logSizeTrigger struct {
	limit     uint64 // bytes since the last snapshot; 0: off
	base      uint64 // appended bytes at the last snapshot
	lastIndex uint64 // last snapshot index seen
}

// due reports whether a snapshot is due, given the bytes appended so far
// and the index of the latest snapshot (any trigger's): a newer snapshot
// than last seen moves the base to now.
func (t *logSizeTrigger) due(appended, snapIndex uint64) bool {
	if snapIndex > t.lastIndex {
		t.lastIndex, t.base = snapIndex, appended
	}
	return t.limit > 0 && appended-t.base >= t.limit
}

// taken records a snapshot this trigger took when appended bytes were at.
func (t *logSizeTrigger) taken(appended, snapIndex uint64) {
	t.base = appended
	t.lastIndex = max(t.lastIndex, snapIndex)
}

// runLogSizeSnapshots checks the log's growth every SnapshotLogCheck and
// takes a raft snapshot when it reaches SnapshotLogBytes, until shutdown.
func (m *Master) runLogSizeSnapshots() {
	counted := m.consensus.counted
	every := m.config.SnapshotLogCheck
	if counted == nil || m.config.SnapshotLogBytes == 0 || every <= 0 {
		return
	}
	log := m.logger.Named("snapshot")
	trig := &logSizeTrigger{limit: m.config.SnapshotLogBytes}
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-m.lifecycle.shutdownCh:
				return
			case <-t.C:
			}
			appended := counted.appended.Load()
			if !trig.due(appended, m.lastSnapshotIndex()) {
				continue
			}
			grown, start := appended-trig.base, time.Now()
			fut := m.consensus.raft.Snapshot()
			err := fut.Error()
			if err != nil && !errors.Is(err, raft.ErrNothingNewToSnapshot) {
				log.Warn("log-size snapshot failed", "error", err)
				continue
			}
			idx := m.lastSnapshotIndex()
			trig.taken(appended, idx)
			if err == nil {
				log.Info("snapshot taken: the log grew past its size limit", "bytes", grown,
					"limit", m.config.SnapshotLogBytes, "index", idx, "took", time.Since(start))
			}
		}
	}()
}

// lastSnapshotIndex is the index of this master's latest raft snapshot.
func (m *Master) lastSnapshotIndex() uint64 {
	n, _ := strconv.ParseUint(m.consensus.raft.Stats()["last_snapshot_index"], 10, 64)
	return n
}
