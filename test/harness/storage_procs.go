package harness

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
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
