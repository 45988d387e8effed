package cluster

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// writeBehindSupported: Linux has sync_file_range.
const writeBehindSupported = true

// startWriteback starts writing the dirty pages of f's range [off, off+n)
// to disk without waiting.
func startWriteback(f *os.File, off, n int64) error {
	if err := unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE); err != nil {
		return fmt.Errorf("sync_file_range %s: %w", f.Name(), err)
	}
	return nil
}

// waitWriteback writes f's range [off, off+n) to disk and waits until it is
// written (data only: the file's metadata and the disk cache are left to
// the final fsync).
func waitWriteback(f *os.File, off, n int64) error {
	flags := unix.SYNC_FILE_RANGE_WAIT_BEFORE | unix.SYNC_FILE_RANGE_WRITE | unix.SYNC_FILE_RANGE_WAIT_AFTER
	if err := unix.SyncFileRange(int(f.Fd()), off, n, flags); err != nil {
		return fmt.Errorf("sync_file_range %s: %w", f.Name(), err)
	}
	return nil
}
