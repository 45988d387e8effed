package cluster

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// copyDirAsKilled copies dir while its store is still open: the copy holds
// exactly what a SIGKILL at this point leaves on disk (every write the
// store made is in the files; nothing it would do at Close is).
func copyDirAsKilled(t *testing.T, dir string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(target)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			_ = out.Close()
			return err
		}
		return out.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func appendEntries(t *testing.T, s raftLogStore, from, to, term uint64) {
	t.Helper()
	var logs []*raft.Log
	for i := from; i <= to; i++ {
		logs = append(logs, &raft.Log{Index: i, Term: term, Data: fmt.Appendf(nil, "entry-%d-%d", i, term)})
	}
	if err := s.StoreLogs(logs); err != nil {
		t.Fatalf("store %d..%d: %v", from, to, err)
	}
}

// TestLogStoreReopensAfterKillFollowingSuffixTruncation: a follower whose
// log had an uncommitted suffix drops it when a new leader's entries
// conflict ("clearing log suffix"), appends the leader's, and is then
// killed. Reopening its log must give back every entry: raft-wal v0.4.0
// marked the truncated segment sealed without writing its index block, so
// the reopened log failed with "sealed segment has no index block" and
// raft panicked in NewRaft (hashicorp/raft-wal#31, fixed in v0.4.1).
func TestLogStoreReopensAfterKillFollowingSuffixTruncation(t *testing.T) {
	for _, name := range []string{LogStoreBoltDB, LogStoreWAL} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := openLogStore(dir, name, hclog.NewNullLogger())
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			appendEntries(t, s, 1, 20, 1)
			if err := s.DeleteRange(18, 20); err != nil { // the uncommitted suffix
				t.Fatal(err)
			}
			appendEntries(t, s, 18, 25, 2) // the new leader's entries
			if err := s.SetUint64([]byte("CurrentTerm"), 2); err != nil {
				t.Fatal(err)
			}

			killed := copyDirAsKilled(t, dir)
			r, err := openLogStore(killed, name, hclog.NewNullLogger())
			if err != nil {
				t.Fatalf("reopen after kill: %v", err)
			}
			defer r.Close()
			first, _ := r.FirstIndex()
			last, _ := r.LastIndex()
			if first != 1 || last != 25 {
				t.Fatalf("reopened log spans %d..%d, want 1..25", first, last)
			}
			for i := uint64(1); i <= 25; i++ {
				var l raft.Log
				if err := r.GetLog(i, &l); err != nil {
					t.Fatalf("entry %d after reopen: %v", i, err)
				}
				term := uint64(1)
				if i >= 18 {
					term = 2
				}
				if l.Term != term || string(l.Data) != fmt.Sprintf("entry-%d-%d", i, term) {
					t.Fatalf("entry %d after reopen: term %d data %q, want term %d", i, l.Term, l.Data, term)
				}
			}
			// The reopened log keeps taking appends.
			appendEntries(t, r, 26, 30, 2)
			if last, _ := r.LastIndex(); last != 30 {
				t.Fatalf("last index after append: %d, want 30", last)
			}
		})
	}
}
