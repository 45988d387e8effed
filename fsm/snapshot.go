package fsm

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/gridctl/grid/eventstore"
	"github.com/gridctl/grid/rpc"
	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"
)

// snapshotMagic starts every snapshot stream (format version 4):
//
//	magic | applied index (u64) | agent count (u64) | agents | node count (u64) | nodes |
//	removed count (u64) | removed masters | request count (u64) | request records |
//	acl bootstrapped (u64 0/1) | token count (u64) | tokens | policy count (u64) | policies |
//	autopilot config count (u64, 0 or 1) | autopilot config | event store
//
// where each record is a u64 length followed by its protobuf encoding, all
// integers big-endian, and the event store runs to EOF. Restore still reads
// the older formats: version 3 (snapshotMagicV3) has no autopilot config;
// version 2 (snapshotMagicV2, the one released) no ACL section either;
// version 1 (snapshotMagicV1) has no removed masters, no request records, no
// ACL section and no autopilot config. (A "GRIDSNAP2" with an ACL section in
// place of the removed masters existed only on the unreleased access-control
// branch, and a "GRIDSNAP3" with the autopilot config in place of the ACL
// section only on the unreleased day-two branch; neither is read.)
const (
	snapshotMagic   = "GRIDSNAP4\n"
	snapshotMagicV3 = "GRIDSNAP3\n"
	snapshotMagicV2 = "GRIDSNAP2\n"
	snapshotMagicV1 = "GRIDSNAP1\n"
)

// knownSnapshotMagic reports whether magic starts a snapshot this FSM reads.
func knownSnapshotMagic(magic string) bool {
	return magic == snapshotMagic || magic == snapshotMagicV3 || magic == snapshotMagicV2 || magic == snapshotMagicV1
}

// maxRecordSize bounds one registry record in a snapshot stream.
const maxRecordSize = 16 << 20

// fsmSnapshot is an immutable view of the FSM taken in Snapshot.
type fsmSnapshot struct {
	applied uint64
	agents  []*rpc.AgentRecord
	nodes   []*rpc.NodeStatus
	removed []*rpc.RemovedMaster
	reqs    []*rpc.RequestRecord
	pilot   []*rpc.AutopilotConfig // 0 or 1
	events  *eventstore.Snapshot
	acl     aclSnapshot
	pacing  context.Context // Persist is paced until it is cancelled
}

// Snapshot takes a cheap immutable view: the registry is cloned (it is small)
// and the event store is pinned by a read transaction, streamed in Persist.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	sn := &fsmSnapshot{applied: f.applied.Load(), acl: f.aclSnapshot(), pacing: f.pacing.context()}
	for _, a := range f.agents {
		sn.agents = append(sn.agents, proto.Clone(a).(*rpc.AgentRecord))
	}
	for _, n := range f.nodes {
		sn.nodes = append(sn.nodes, proto.Clone(n).(*rpc.NodeStatus))
	}
	for _, r := range f.removed {
		sn.removed = append(sn.removed, proto.Clone(r).(*rpc.RemovedMaster))
	}
	for _, r := range f.requests {
		sn.reqs = append(sn.reqs, proto.Clone(r).(*rpc.RequestRecord))
	}
	if f.autopilot != nil {
		sn.pilot = []*rpc.AutopilotConfig{proto.Clone(f.autopilot).(*rpc.AutopilotConfig)}
	}
	sort.Slice(sn.removed, func(i, j int) bool { return sn.removed[i].Id < sn.removed[j].Id })
	sort.Slice(sn.reqs, func(i, j int) bool { return sn.reqs[i].RequestId < sn.reqs[j].RequestId })
	sort.Slice(sn.agents, func(i, j int) bool { return sn.agents[i].AgentId < sn.agents[j].AgentId })
	sort.Slice(sn.nodes, func(i, j int) bool { return sn.nodes[i].NodeId < sn.nodes[j].NodeId })
	ev, err := f.store.Snapshot()
	if err != nil {
		return nil, fmt.Errorf("fsm snapshot: %w", err)
	}
	sn.events = ev
	return sn, nil
}

// Persist streams the snapshot to sink, paced (snapshot_pace.go), and
// cancels it on any error.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := s.write(newPacedWriter(s.pacing, sink, persistBytesPerSecond)); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("fsm persist: %w", err)
	}
	return sink.Close()
}

func (s *fsmSnapshot) write(w io.Writer) error {
	// One paced slice per write: the event store is read, and the sink
	// written, a burst at a time (snapshot_pace.go).
	bw := bufio.NewWriterSize(w, persistBurst)
	if _, err := bw.WriteString(snapshotMagic); err != nil {
		return err
	}
	if err := writeUint64(bw, s.applied); err != nil {
		return err
	}
	if err := writeRecords(bw, s.agents); err != nil {
		return fmt.Errorf("agents: %w", err)
	}
	if err := writeRecords(bw, s.nodes); err != nil {
		return fmt.Errorf("nodes: %w", err)
	}
	if err := writeRecords(bw, s.removed); err != nil {
		return fmt.Errorf("removed masters: %w", err)
	}
	if err := writeRecords(bw, s.reqs); err != nil {
		return fmt.Errorf("request records: %w", err)
	}
	if err := writeACL(bw, s.acl); err != nil {
		return fmt.Errorf("acl: %w", err)
	}
	if err := writeRecords(bw, s.pilot); err != nil {
		return fmt.Errorf("autopilot config: %w", err)
	}
	if _, err := s.events.WriteTo(bw); err != nil {
		return fmt.Errorf("event store: %w", err)
	}
	return bw.Flush()
}

// Release frees the pinned event store transaction.
func (s *fsmSnapshot) Release() { s.events.Release() }

func writeUint64(w io.Writer, v uint64) error {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	_, err := w.Write(b[:])
	return err
}

func readUint64(r io.Reader) (uint64, error) {
	var b [8]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint64(b[:]), nil
}

func writeRecords[M proto.Message](w io.Writer, recs []M) error {
	if err := writeUint64(w, uint64(len(recs))); err != nil {
		return err
	}
	opts := proto.MarshalOptions{Deterministic: true}
	for _, r := range recs {
		b, err := opts.Marshal(r)
		if err != nil {
			return err
		}
		if err := writeUint64(w, uint64(len(b))); err != nil {
			return err
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

func readRecords[M proto.Message](r io.Reader, newMsg func() M) ([]M, error) {
	n, err := readUint64(r)
	if err != nil {
		return nil, err
	}
	var out []M
	for i := uint64(0); i < n; i++ {
		size, err := readUint64(r)
		if err != nil {
			return nil, err
		}
		if size > maxRecordSize {
			return nil, fmt.Errorf("%w: record of %d bytes", ErrBadSnapshot, size)
		}
		buf := make([]byte, size)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		m := newMsg()
		if err := proto.Unmarshal(buf, m); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadSnapshot, err)
		}
		out = append(out, m)
	}
	return out, nil
}

// Restore replaces the FSM's state with a snapshot: it reads the registry,
// builds a fresh event store file from the stream, then swaps both in and
// closes the old store.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	br := bufio.NewReaderSize(rc, 256<<10)
	magic := make([]byte, len(snapshotMagic))
	if _, err := io.ReadFull(br, magic); err != nil || !knownSnapshotMagic(string(magic)) {
		return fmt.Errorf("fsm restore: %w: missing header", ErrBadSnapshot)
	}
	applied, err := readUint64(br)
	if err != nil {
		return fmt.Errorf("fsm restore: applied index: %w", err)
	}
	agents, err := readRecords(br, func() *rpc.AgentRecord { return new(rpc.AgentRecord) })
	if err != nil {
		return fmt.Errorf("fsm restore: agents: %w", err)
	}
	nodes, err := readRecords(br, func() *rpc.NodeStatus { return new(rpc.NodeStatus) })
	if err != nil {
		return fmt.Errorf("fsm restore: nodes: %w", err)
	}
	var removed []*rpc.RemovedMaster
	var reqs []*rpc.RequestRecord
	var pilot []*rpc.AutopilotConfig
	if string(magic) != snapshotMagicV1 {
		if removed, err = readRecords(br, func() *rpc.RemovedMaster { return new(rpc.RemovedMaster) }); err != nil {
			return fmt.Errorf("fsm restore: removed masters: %w", err)
		}
		if reqs, err = readRecords(br, func() *rpc.RequestRecord { return new(rpc.RequestRecord) }); err != nil {
			return fmt.Errorf("fsm restore: request records: %w", err)
		}
	}
	var acl aclSnapshot
	if string(magic) == snapshotMagic || string(magic) == snapshotMagicV3 {
		if acl, err = readACL(br); err != nil {
			return fmt.Errorf("fsm restore: acl: %w", err)
		}
	}
	if string(magic) == snapshotMagic {
		if pilot, err = readRecords(br, func() *rpc.AutopilotConfig { return new(rpc.AutopilotConfig) }); err != nil {
			return fmt.Errorf("fsm restore: autopilot config: %w", err)
		}
	}

	f.mu.Lock()
	path := f.nextStorePath()
	f.mu.Unlock()
	store, err := eventstore.Restore(path, br, eventstore.Options{NoSync: true, Logger: f.logger})
	if err != nil {
		return fmt.Errorf("fsm restore: event store: %w", err)
	}

	agentMap := make(map[string]*rpc.AgentRecord, len(agents))
	for _, a := range agents {
		agentMap[a.AgentId] = a
	}
	nodeMap := make(map[string]*rpc.NodeStatus, len(nodes))
	for _, n := range nodes {
		nodeMap[n.NodeId] = n
	}
	removedMap := make(map[string]*rpc.RemovedMaster, len(removed))
	for _, r := range removed {
		removedMap[r.Id] = r
	}
	reqMap := make(map[string]*rpc.RequestRecord, len(reqs))
	for _, r := range reqs {
		reqMap[r.RequestId] = r
	}
	f.mu.Lock()
	old := f.store
	f.agents, f.nodes, f.store = agentMap, nodeMap, store
	f.removed, f.requests = removedMap, reqMap
	f.autopilot = nil
	if len(pilot) > 0 {
		f.autopilot = pilot[0]
	}
	f.setApplied(applied)
	f.version.Add(1)
	f.mu.Unlock()
	f.restoreACL(acl)

	if old != nil {
		oldPath := old.Path()
		if err := old.Close(); err != nil {
			f.logger.Warn("close replaced event store", "error", err)
		}
		if err := os.Remove(oldPath); err != nil && !errors.Is(err, os.ErrNotExist) {
			f.logger.Warn("remove replaced event store", "path", oldPath, "error", err)
		}
	}
	f.logger.Info("restored snapshot", "applied_index", applied, "agents", len(agentMap), "nodes", len(nodeMap))
	return nil
}

// writeACL writes the ACL section of a snapshot.
func writeACL(w io.Writer, a aclSnapshot) error {
	var b uint64
	if a.bootstrapped {
		b = 1
	}
	if err := writeUint64(w, b); err != nil {
		return err
	}
	if err := writeRecords(w, a.tokens); err != nil {
		return err
	}
	return writeRecords(w, a.policies)
}

// readACL reads the ACL section of a snapshot.
func readACL(r io.Reader) (aclSnapshot, error) {
	var a aclSnapshot
	b, err := readUint64(r)
	if err != nil {
		return a, err
	}
	a.bootstrapped = b == 1
	if a.tokens, err = readRecords(r, func() *rpc.ACLTokenRecord { return new(rpc.ACLTokenRecord) }); err != nil {
		return a, err
	}
	a.policies, err = readRecords(r, func() *rpc.ACLPolicy { return new(rpc.ACLPolicy) })
	return a, err
}
