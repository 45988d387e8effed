package cluster

import (
	"os"

	"github.com/hashicorp/go-hclog"
)

// Write-behind for raft snapshots. A snapshot is a copy of the whole event
// store (~85 MiB at 1M events). Written into the page cache and synced once
// at its end, that one fsync flushes every byte at once, and the raft log's
// fdatasyncs, which share the disk, wait behind it: each snapshot stalled a
// registry write for as long as the flush took (strace of the leader: fsync
// of state.bin 46-83 ms for an 80 MiB snapshot, a log fdatasync of 36-76 ms
// beside it). So the snapshot store (snapshot_store.go) flushes state.bin
// as it is written: every writeBehindStep bytes its writeback starts
// (sync_file_range), and the writer waits for the step before, so at most
// two steps are dirty and the final fsync has almost nothing left to do.
// Durability is unchanged: the store still fsyncs the file, its metadata
// and the directory before raft uses the snapshot.

// writeBehindStep is how many bytes of a snapshot may be written before
// their writeback starts.
const writeBehindStep = 4 << 20

// writeBehind tracks what was written to a file and starts its writeback
// step by step.
type writeBehind struct {
	file    *os.File
	logger  hclog.Logger
	written int64 // bytes written to the file
	started int64 // writeback started for [waited, started)
	waited  int64 // writeback waited for up to here
	failed  bool  // a writeback call failed: stop trying (the final fsync reports)
	steps   int   // writeback ranges started
}

// newWriteBehind follows writes to f (from offset 0).
func newWriteBehind(f *os.File, logger hclog.Logger) *writeBehind {
	return &writeBehind{file: f, logger: logger}
}

// wrote records n more bytes written to the file and, once a step is
// complete, starts its writeback and waits for the step before it.
func (w *writeBehind) wrote(n int) {
	w.written += int64(n)
	if !writeBehindSupported || w.failed || w.written-w.started < writeBehindStep {
		return
	}
	if err := startWriteback(w.file, w.started, w.written-w.started); err != nil {
		w.fail(err)
		return
	}
	w.steps++
	if w.started > w.waited {
		if err := waitWriteback(w.file, w.waited, w.started-w.waited); err != nil {
			w.fail(err)
			return
		}
		w.waited = w.started
	}
	w.started = w.written
}

func (w *writeBehind) fail(err error) {
	w.failed = true
	w.logger.Warn("snapshot write-behind stopped; the snapshot is synced at its end", "error", err)
}
