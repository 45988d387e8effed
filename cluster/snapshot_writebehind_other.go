//go:build !linux

package cluster

import "os"

// writeBehindSupported: only Linux has sync_file_range; elsewhere raft's
// snapshot store is used as it is.
const writeBehindSupported = false

func startWriteback(*os.File, int64, int64) error { return nil }

func waitWriteback(*os.File, int64, int64) error { return nil }
