//go:build !linux

package cluster

import "os"

// writeBehindSupported: only Linux has sync_file_range; elsewhere the
// snapshot is synced only at its end.
const writeBehindSupported = false

func startWriteback(*os.File, int64, int64) error { return nil }

func waitWriteback(*os.File, int64, int64) error { return nil }
