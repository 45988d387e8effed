package fsm

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"sort"

	"github.com/gridctl/grid/rpc"
	"google.golang.org/protobuf/proto"
)

// StateHash summarises the FSM so replicas can be compared: a sha256 of the
// registry's canonical encoding (agents, nodes, removed masters, then
// request records, each sorted by id, deterministic protobuf, each
// length-prefixed, then the ACL state once there is any: see hashACL), the
// event store's running digest, counts, the applied
// index and Digest, which combines them (see digestOf).
func (f *FSM) StateHash() *rpc.StateHash {
	f.mu.RLock()
	defer f.mu.RUnlock()
	h := sha256.New()
	opts := proto.MarshalOptions{Deterministic: true}
	ids := make([]string, 0, len(f.agents))
	for id := range f.agents {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	h.Write([]byte("agents\n"))
	for _, id := range ids {
		b, _ := opts.Marshal(f.agents[id])
		_ = writeUint64(h, uint64(len(b)))
		h.Write(b)
	}
	ids = ids[:0]
	for id := range f.nodes {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	h.Write([]byte("nodes\n"))
	for _, id := range ids {
		b, _ := opts.Marshal(f.nodes[id])
		_ = writeUint64(h, uint64(len(b)))
		h.Write(b)
	}
	h.Write([]byte("removed\n"))
	writeSorted(h, opts, f.removed)
	h.Write([]byte("requests\n"))
	writeSorted(h, opts, f.requests)
	f.hashACL(h, opts)
	out := &rpc.StateHash{
		RegistryHash:   hex.EncodeToString(h.Sum(nil)),
		AppliedIndex:   f.applied.Load(),
		Agents:         uint64(len(f.agents)),
		Nodes:          uint64(len(f.nodes)),
		RemovedMasters: uint64(len(f.removed)),
		Requests:       uint64(len(f.requests)),
	}
	if f.store != nil {
		out.EventsHash = f.store.Digest()
		out.LastSeq = f.store.LastSeq()
		if st, err := f.store.Stats(); err == nil {
			out.Events = st.Events
		}
	}
	out.Digest = digestOf(out)
	return out
}

// writeSorted writes the records of recs to h sorted by key, each
// length-prefixed.
func writeSorted[M proto.Message](h io.Writer, opts proto.MarshalOptions, recs map[string]M) {
	ids := make([]string, 0, len(recs))
	for id := range recs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		b, _ := opts.Marshal(recs[id])
		_ = writeUint64(h, uint64(len(b)))
		_, _ = h.Write(b)
	}
}

// digestOf is the one value replicas are compared by: a sha256 (hex) of the
// registry hash, the event store's running digest, its last seq and its
// event count.
func digestOf(s *rpc.StateHash) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%d\n%d\n", s.RegistryHash, s.EventsHash, s.LastSeq, s.Events)
	return hex.EncodeToString(h.Sum(nil))
}
