package cluster

import (
	"errors"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// TestLogStoreKeepsLogsAcrossReopen: both stores keep appended entries and
// stable values across a close and reopen of the same dir.
func TestLogStoreKeepsLogsAcrossReopen(t *testing.T) {
	for _, name := range []string{LogStoreBoltDB, LogStoreWAL} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := openLogStore(dir, name, hclog.NewNullLogger())
			if err != nil {
				t.Fatal(err)
			}
			logs := []*raft.Log{{Index: 1, Term: 1, Data: []byte("a")}, {Index: 2, Term: 1, Data: []byte("b")}}
			if err := s.StoreLogs(logs); err != nil {
				t.Fatal(err)
			}
			if err := s.SetUint64([]byte("CurrentTerm"), 7); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s, err = openLogStore(dir, name, hclog.NewNullLogger())
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var got raft.Log
			if err := s.GetLog(2, &got); err != nil || string(got.Data) != "b" {
				t.Fatalf("entry 2 after reopen: %v %q", err, got.Data)
			}
			if term, err := s.GetUint64([]byte("CurrentTerm")); err != nil || term != 7 {
				t.Fatalf("term after reopen: %d %v", term, err)
			}
		})
	}
}

// TestLogStoreSwitchIsRefused: a data dir written with one log store is
// refused with the other (a clear error naming the store to use), never
// opened empty (which would lose the log and the vote).
func TestLogStoreSwitchIsRefused(t *testing.T) {
	for _, tc := range []struct{ first, second string }{{LogStoreBoltDB, LogStoreWAL}, {LogStoreWAL, LogStoreBoltDB}} {
		dir := t.TempDir()
		s, err := openLogStore(dir, tc.first, hclog.NewNullLogger())
		if err != nil {
			t.Fatal(err)
		}
		if err := s.StoreLogs([]*raft.Log{{Index: 1, Term: 1}}); err != nil {
			t.Fatal(err)
		}
		s.Close()
		_, err = openLogStore(dir, tc.second, hclog.NewNullLogger())
		if !errors.Is(err, ErrLogStoreMismatch) {
			t.Fatalf("%s after %s: %v, want ErrLogStoreMismatch", tc.second, tc.first, err)
		}
		if !strings.Contains(err.Error(), "start with --raft-log-store "+tc.first) {
			t.Fatalf("the refusal does not name the store to use: %v", err)
		}
	}
	if _, err := openLogStore(t.TempDir(), "rocksdb", hclog.NewNullLogger()); !errors.Is(err, ErrInvalid) {
		t.Fatalf("unknown store: %v, want ErrInvalid", err)
	}
}

// TestWALStoreAppendsPastARestoredSnapshot: after raft restores a snapshot
// it appends at the snapshot's index + 1, past the log's end; raft-wal
// alone refuses that ("non-monotonic log entries"), the wrapper drops the
// covered entries and appends.
func TestWALStoreAppendsPastARestoredSnapshot(t *testing.T) {
	s, err := openLogStore(t.TempDir(), LogStoreWAL, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.StoreLogs([]*raft.Log{{Index: 1, Term: 1}, {Index: 2, Term: 1}, {Index: 3, Term: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := s.StoreLogs([]*raft.Log{{Index: 5, Term: 2, Data: []byte("after")}, {Index: 6, Term: 2}}); err != nil {
		t.Fatalf("append past the gap: %v", err)
	}
	first, _ := s.FirstIndex()
	last, _ := s.LastIndex()
	if first != 5 || last != 6 {
		t.Fatalf("log = %d..%d, want 5..6", first, last)
	}
	var got raft.Log
	if err := s.GetLog(5, &got); err != nil || string(got.Data) != "after" {
		t.Fatalf("entry 5: %v %q", err, got.Data)
	}
	if err := s.StoreLog(&raft.Log{Index: 9, Term: 2}); err != nil {
		t.Fatalf("one entry past a gap: %v", err)
	}
	if err := s.StoreLogs([]*raft.Log{{Index: 9, Term: 2}}); err == nil {
		t.Fatal("a repeated index was accepted")
	}
}

// TestLogStoreDefaultFollowsDataDir: with no --raft-log-store a new data dir
// gets raft-wal, and a data dir that already holds raft-boltdb keeps it
// (its log and vote survive a restart without the flag).
func TestLogStoreDefaultFollowsDataDir(t *testing.T) {
	s, err := openLogStore(t.TempDir(), "", hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(walStore); !ok {
		t.Fatalf("new data dir: %T, want raft-wal", s)
	}
	s.Close()

	dir := t.TempDir()
	s, err = openLogStore(dir, LogStoreBoltDB, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.StoreLogs([]*raft.Log{{Index: 1, Term: 3, Data: []byte("kept")}}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = openLogStore(dir, "", hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, ok := s.(walStore); ok {
		t.Fatalf("a raft-boltdb data dir was opened as %T", s)
	}
	var got raft.Log
	if err := s.GetLog(1, &got); err != nil || string(got.Data) != "kept" {
		t.Fatalf("entry 1 after the default reopened the dir: %v %q", err, got.Data)
	}
}
