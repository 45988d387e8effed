package fsm

import (
	"bufio"
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

// snapshotMagic starts every snapshot stream (format version 2):
//
//	magic | applied index (u64) | agent count (u64) | agents | node count (u64) | nodes |
//	acl bootstrapped (u64 0/1) | token count (u64) | tokens | policy count (u64) | policies | event store
//
// Version 1 (snapshotMagicV1, no ACL section) is still restored.
// where each agent and node is a u64 length followed by its protobuf
// encoding, all integers big-endian, and the event store runs to EOF.
const snapshotMagic = "GRIDSNAP2\n"

// snapshotMagicV1 starts a snapshot written before ACLs existed.
const snapshotMagicV1 = "GRIDSNAP1\n"

// maxRecordSize bounds one registry record in a snapshot stream.
const maxRecordSize = 16 << 20

// fsmSnapshot is an immutable view of the FSM taken in Snapshot.
type fsmSnapshot struct {
	applied uint64
	agents  []*rpc.AgentRecord
	nodes   []*rpc.NodeStatus
	events  *eventstore.Snapshot
	acl     aclSnapshot
}

// Snapshot takes a cheap immutable view: the registry is cloned (it is small)
// and the event store is pinned by a read transaction, streamed in Persist.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	sn := &fsmSnapshot{applied: f.applied.Load(), acl: f.aclSnapshot()}
	for _, a := range f.agents {
		sn.agents = append(sn.agents, proto.Clone(a).(*rpc.AgentRecord))
	}
	for _, n := range f.nodes {
		sn.nodes = append(sn.nodes, proto.Clone(n).(*rpc.NodeStatus))
	}
	sort.Slice(sn.agents, func(i, j int) bool { return sn.agents[i].AgentId < sn.agents[j].AgentId })
	sort.Slice(sn.nodes, func(i, j int) bool { return sn.nodes[i].NodeId < sn.nodes[j].NodeId })
	ev, err := f.store.Snapshot()
	if err != nil {
		return nil, fmt.Errorf("fsm snapshot: %w", err)
	}
	sn.events = ev
	return sn, nil
}

// Persist streams the snapshot to sink, cancelling it on any error.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := s.write(sink); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("fsm persist: %w", err)
	}
	return sink.Close()
}

func (s *fsmSnapshot) write(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 256<<10)
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
	if err := writeACL(bw, s.acl); err != nil {
		return fmt.Errorf("acl: %w", err)
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
	if _, err := io.ReadFull(br, magic); err != nil || (string(magic) != snapshotMagic && string(magic) != snapshotMagicV1) {
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
	var acl aclSnapshot
	if string(magic) == snapshotMagic {
		if acl, err = readACL(br); err != nil {
			return fmt.Errorf("fsm restore: acl: %w", err)
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
	f.mu.Lock()
	old := f.store
	f.agents, f.nodes, f.store = agentMap, nodeMap, store
	f.applied.Store(applied)
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
