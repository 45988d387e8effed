package harness

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// StorageNodeProcs maps node id to the pids of live `grid storage-node`
// processes whose command line mentions dir (an agent's data dir), read
// from /proc: a node id with two pids is a duplicated node.
func StorageNodeProcs(dir string) map[string][]int {
	out := map[string][]int{}
	for _, pid := range ProcsUnder(dir) {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
		if err != nil {
			continue // exited meanwhile
		}
		args := bytes.Split(bytes.TrimRight(b, "\x00"), []byte{0})
		isNode, id := false, ""
		for i, a := range args {
			switch {
			case string(a) == "storage-node":
				isNode = true
			case string(a) == "--node-id" && i+1 < len(args):
				id = string(args[i+1])
			case bytes.HasPrefix(a, []byte("--node-id=")):
				id = string(a[len("--node-id="):])
			}
		}
		if isNode {
			out[id] = append(out[id], pid)
		}
	}
	return out
}

// ProcsUnder lists pids of live processes whose command line mentions dir
// (storage nodes spawned by the test's agents).
func ProcsUnder(dir string) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	needle := []byte(dir)
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(b, needle) {
			continue
		}
		if st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && bytes.Contains(st, []byte(") Z ")) {
			continue // zombie
		}
		out = append(out, pid)
	}
	return out
}

func killStrays(dir string) {
	for _, pid := range ProcsUnder(dir) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}
