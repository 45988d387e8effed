//go:build gridfaults

package faults

import (
	"fmt"
	"os"
	"strings"
	"syscall"
)

// Hit fires point when GRID_FAULT_FILE arms it (see the package doc).
func Hit(point string) {
	path := os.Getenv("GRID_FAULT_FILE")
	if path == "" {
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	f := strings.Fields(string(b))
	if len(f) != 2 || f[0] != point {
		return
	}
	if os.Remove(path) != nil {
		return // another goroutine fired it
	}
	fmt.Fprintf(os.Stderr, "fault point %s: %s\n", point, f[1])
	sig := syscall.SIGKILL
	if f[1] == "stop" {
		sig = syscall.SIGSTOP
	}
	_ = syscall.Kill(os.Getpid(), sig)
}
