package fsm

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/gridctl/grid/eventstore"
	"github.com/gridctl/grid/rpc"
)

// SnapshotSummary is what an FSM snapshot stream holds, counted by
// InspectSnapshot.
type SnapshotSummary struct {
	AppliedIndex uint64
	Agents       int
	Nodes        int
	Events       uint64
	LastSeq      uint64
}

// InspectSnapshot reads a whole FSM snapshot stream (as Persist writes it)
// and counts what it holds, restoring the event graph into a scratch
// directory under tmpDir ("" = the system's) that is removed afterwards. A
// truncated or foreign stream is an error wrapping ErrBadSnapshot.
func InspectSnapshot(r io.Reader, tmpDir string) (SnapshotSummary, error) {
	var s SnapshotSummary
	br := bufio.NewReaderSize(r, 256<<10)
	magic := make([]byte, len(snapshotMagic))
	if _, err := io.ReadFull(br, magic); err != nil || !knownSnapshotMagic(string(magic)) {
		return s, fmt.Errorf("%w: not a grid state snapshot (missing header)", ErrBadSnapshot)
	}
	var err error
	if s.AppliedIndex, err = readUint64(br); err != nil {
		return s, fmt.Errorf("%w: truncated at the applied index", ErrBadSnapshot)
	}
	agents, err := readRecords(br, func() *rpc.AgentRecord { return new(rpc.AgentRecord) })
	if err != nil {
		return s, fmt.Errorf("%w: agents: %v", ErrBadSnapshot, err)
	}
	nodes, err := readRecords(br, func() *rpc.NodeStatus { return new(rpc.NodeStatus) })
	if err != nil {
		return s, fmt.Errorf("%w: nodes: %v", ErrBadSnapshot, err)
	}
	s.Agents, s.Nodes = len(agents), len(nodes)
	if string(magic) != snapshotMagicV1 {
		if _, err := readRecords(br, func() *rpc.RemovedMaster { return new(rpc.RemovedMaster) }); err != nil {
			return s, fmt.Errorf("%w: removed masters: %v", ErrBadSnapshot, err)
		}
		if _, err := readRecords(br, func() *rpc.RequestRecord { return new(rpc.RequestRecord) }); err != nil {
			return s, fmt.Errorf("%w: request records: %v", ErrBadSnapshot, err)
		}
	}
	if string(magic) == snapshotMagic || string(magic) == snapshotMagicV3 {
		if _, err := readACL(br); err != nil {
			return s, fmt.Errorf("%w: acl: %v", ErrBadSnapshot, err)
		}
	}
	if string(magic) == snapshotMagic {
		if _, err := readRecords(br, func() *rpc.AutopilotConfig { return new(rpc.AutopilotConfig) }); err != nil {
			return s, fmt.Errorf("%w: autopilot config: %v", ErrBadSnapshot, err)
		}
	}
	dir, err := os.MkdirTemp(tmpDir, "grid-inspect-*")
	if err != nil {
		return s, err
	}
	defer os.RemoveAll(dir)
	store, err := eventstore.Restore(filepath.Join(dir, "events.db"), br, eventstore.Options{NoSync: true})
	if err != nil {
		return s, fmt.Errorf("%w: event graph: %v", ErrBadSnapshot, err)
	}
	defer store.Close()
	st, err := store.Stats()
	if err != nil {
		return s, fmt.Errorf("%w: event graph: %v", ErrBadSnapshot, err)
	}
	s.Events, s.LastSeq = st.Events, st.LastSeq
	if extra, _ := br.Peek(1); len(extra) > 0 {
		return s, fmt.Errorf("%w: trailing data after the event graph", ErrBadSnapshot)
	}
	return s, nil
}
