package cluster

import (
	"testing"

	"github.com/hashicorp/raft"
)

// inmemLogStore is raft's in-memory store as a raftLogStore.
type inmemLogStore struct{ *raft.InmemStore }

func (inmemLogStore) Close() error { return nil }

// logOf builds a master whose log holds entries (index from 1, or from
// first when the log starts compacted) of the given terms and types.
func logOf(t *testing.T, first uint64, entries ...raft.Log) *Master {
	t.Helper()
	s := inmemLogStore{raft.NewInmemStore()}
	for i := range entries {
		entries[i].Index = first + uint64(i)
	}
	logs := make([]*raft.Log, len(entries))
	for i := range entries {
		logs[i] = &entries[i]
	}
	if err := s.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
	return &Master{consensus: consensus{store: s}}
}

func TestLastFSMEntryBeforeTerm(t *testing.T) {
	cmd := func(term uint64) raft.Log { return raft.Log{Term: term, Type: raft.LogCommand} }
	noop := func(term uint64) raft.Log { return raft.Log{Term: term, Type: raft.LogNoop} }
	conf := func(term uint64) raft.Log { return raft.Log{Term: term, Type: raft.LogConfiguration} }
	barrier := func(term uint64) raft.Log { return raft.Log{Term: term, Type: raft.LogBarrier} }
	cases := []struct {
		name    string
		m       *Master
		term    uint64
		last    uint64 // the log's last index
		want    uint64
		wantErr bool
	}{
		{"empty log", logOf(t, 1), 2, 0, 0, false},
		{"command before the term's no-op", logOf(t, 1, conf(1), noop(2), cmd(2), noop(3)), 3, 4, 3, false},
		{"this term not yet begun in the log", logOf(t, 1, conf(1), noop(2), cmd(2)), 3, 3, 3, false},
		{"old term ends in a no-op and a barrier", logOf(t, 1, conf(1), cmd(1), noop(2), barrier(2), noop(3)), 3, 5, 2, false},
		{"configuration is handed to the FSM", logOf(t, 1, cmd(1), conf(2), noop(3)), 3, 3, 2, false},
		{"compacted below an old-term no-op", logOf(t, 10, noop(2), noop(3)), 3, 11, 0, false},
		{"compacted inside this term", logOf(t, 10, noop(3), cmd(3)), 3, 11, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.m.lastFSMEntryBeforeTerm(tc.term, tc.last)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Fatalf("last FSM entry before term %d = %d, want %d", tc.term, got, tc.want)
			}
		})
	}
}
