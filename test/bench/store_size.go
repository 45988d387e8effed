package bench

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// eventStoreBytes is the total size of a master's event store file(s):
// the *.db files under <data dir>/.../events/ (the fsm keeps its store as
// events/events-N.db).
func eventStoreBytes(dataDir string) (int64, []string, error) {
	var total int64
	var files []string
	err := filepath.WalkDir(dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || filepath.Base(filepath.Dir(path)) != "events" || !strings.HasSuffix(path, ".db") {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		total += info.Size()
		files = append(files, fmt.Sprintf("%s (%d bytes)", path, info.Size()))
		return nil
	})
	if err == nil && len(files) == 0 {
		err = fmt.Errorf("no event store file under %s", dataDir)
	}
	return total, files, err
}

// rssByMapping sums a process's resident set (Rss in /proc/<pid>/smaps) by
// what is mapped: a file's base name, or [anon] for anonymous memory (heap,
// stacks), in MiB, largest first.
func rssByMapping(pid int) ([]string, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	kb := map[string]int64{}
	cur := "[anon]"
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if !strings.HasSuffix(fields[0], ":") { // a mapping header: addr perms offset dev inode [path]
			cur = "[anon]"
			if len(fields) >= 6 {
				cur = filepath.Base(fields[5])
				if strings.HasPrefix(fields[5], "[") {
					cur = "[anon]"
				}
			}
			continue
		}
		if fields[0] == "Rss:" && len(fields) >= 2 {
			n, _ := strconv.ParseInt(fields[1], 10, 64)
			kb[cur] += n
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(kb))
	for name := range kb {
		names = append(names, name)
	}
	slices.SortFunc(names, func(a, b string) int { return int(kb[b] - kb[a]) })
	var out []string
	for _, name := range names {
		if kb[name] >= 1024 {
			out = append(out, fmt.Sprintf("%s %.1f MiB", name, float64(kb[name])/1024))
		}
	}
	return out, nil
}
