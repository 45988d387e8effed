package cluster

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// Write-behind for raft snapshots. Raft's file snapshot store writes the
// whole snapshot (a copy of the event store: ~250 MiB at 1M events) into
// the page cache and syncs it once, at Close. That one fsync flushes every
// byte at once, and the raft log's fdatasyncs, which share the disk, wait
// behind it: each snapshot stalled a registry write for as long as the
// flush took (strace of the leader: fsync of state.bin 46-83 ms for an
// 80 MiB snapshot, a log fdatasync of 36-76 ms beside it). Here the state
// file is flushed as it is written instead: every writeBehindStep bytes
// its writeback starts (sync_file_range), and the writer waits for the step
// before, so at most two steps are dirty and the final fsync has almost
// nothing left to do. Durability is unchanged: raft still fsyncs the file,
// its metadata and the directory before it uses the snapshot.

// writeBehindStep is how many bytes of a snapshot may be written before
// their writeback starts.
const writeBehindStep = 4 << 20

// Where raft's FileSnapshotStore keeps a snapshot being written:
// <dir>/snapshots/<id>.tmp/state.bin (its snapPath, tmpSuffix and
// stateFilePath; TestWriteBehindFindsRaftStateFile checks them).
const (
	raftSnapshotsDir  = "snapshots"
	raftSnapshotTmp   = ".tmp"
	raftSnapshotState = "state.bin"
)

// writeBehindStore is raft's file snapshot store whose sinks write behind.
type writeBehindStore struct {
	*raft.FileSnapshotStore
	dir    string // the directory given to raft.NewFileSnapshotStore
	logger hclog.Logger
}

// newWriteBehindStore wraps store (created on dir) when the platform can
// start writeback of a file range; elsewhere it returns store itself.
func newWriteBehindStore(store *raft.FileSnapshotStore, dir string, logger hclog.Logger) raft.SnapshotStore {
	if !writeBehindSupported {
		return store
	}
	return &writeBehindStore{FileSnapshotStore: store, dir: dir, logger: logger}
}

// Create opens a sink of the file store and a second handle on its state
// file, through which the writeback is started. Without that handle (raft
// laid its files out differently) the sink is raft's own.
func (s *writeBehindStore) Create(version raft.SnapshotVersion, index, term uint64, configuration raft.Configuration,
	configurationIndex uint64, trans raft.Transport) (raft.SnapshotSink, error) {
	sink, err := s.FileSnapshotStore.Create(version, index, term, configuration, configurationIndex, trans)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(s.dir, raftSnapshotsDir, sink.ID()+raftSnapshotTmp, raftSnapshotState)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		s.logger.Warn("snapshot written without write-behind: its state file is not where expected", "path", path, "error", err)
		return sink, nil
	}
	return &writeBehindSink{SnapshotSink: sink, file: f, logger: s.logger}, nil
}

// writeBehindSink passes writes to raft's sink and starts the writeback of
// each writeBehindStep bytes as they are written.
type writeBehindSink struct {
	raft.SnapshotSink
	file    *os.File // the sink's state file, opened again
	logger  hclog.Logger
	written int64 // bytes passed to the sink
	started int64 // writeback started for [waited, started)
	waited  int64 // writeback waited for up to here
	failed  bool  // a writeback call failed: stop trying (the final fsync reports)
	steps   int   // writeback ranges started
}

func (s *writeBehindSink) Write(p []byte) (int, error) {
	n, err := s.SnapshotSink.Write(p)
	s.written += int64(n)
	if err == nil && s.file != nil && !s.failed && s.written-s.started >= writeBehindStep {
		s.writeBehind()
	}
	return n, err
}

// writeBehind starts the writeback of what was written since the last
// step and waits for the step before it. Raft's sink buffers up to 4 KiB,
// so the range may reach a little past the file's end: harmless.
func (s *writeBehindSink) writeBehind() {
	if err := startWriteback(s.file, s.started, s.written-s.started); err != nil {
		s.fail(err)
		return
	}
	s.steps++
	if s.started > s.waited {
		if err := waitWriteback(s.file, s.waited, s.started-s.waited); err != nil {
			s.fail(err)
			return
		}
		s.waited = s.started
	}
	s.started = s.written
}

func (s *writeBehindSink) fail(err error) {
	s.failed = true
	s.logger.Warn("snapshot write-behind stopped; the snapshot is synced at its end", "error", err)
}

// Close closes raft's sink (its fsync makes the snapshot durable), then the
// second handle. Like raft's, it may be called again (raft closes the sink
// after Persist did): the calls after the first return nil.
func (s *writeBehindSink) Close() error {
	err := s.SnapshotSink.Close()
	if cerr := s.closeFile(); cerr != nil && err == nil {
		err = cerr
	}
	return err
}

// Cancel cancels raft's sink and closes the second handle.
func (s *writeBehindSink) Cancel() error {
	err := s.SnapshotSink.Cancel()
	_ = s.closeFile()
	return err
}

// closeFile closes the second handle once.
func (s *writeBehindSink) closeFile() error {
	if s.file == nil {
		return nil
	}
	f := s.file
	s.file = nil
	if err := f.Close(); err != nil {
		return fmt.Errorf("close snapshot state file: %w", err)
	}
	return nil
}

var _ io.Writer = (*writeBehindSink)(nil)
