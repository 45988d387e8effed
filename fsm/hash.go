package fsm

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"

	"github.com/gridctl/grid/rpc"
	"google.golang.org/protobuf/proto"
)

// StateHash summarises the FSM so replicas can be compared: a sha256 of the
// registry's canonical encoding (agents then nodes, sorted by id,
// deterministic protobuf, each length-prefixed), the event store's running
// digest, counts and the applied index.
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
	out := &rpc.StateHash{
		RegistryHash: hex.EncodeToString(h.Sum(nil)),
		AppliedIndex: f.applied.Load(),
		Agents:       uint64(len(f.agents)),
		Nodes:        uint64(len(f.nodes)),
	}
	if f.store != nil {
		out.EventsHash = f.store.Digest()
		out.LastSeq = f.store.LastSeq()
		if st, err := f.store.Stats(); err == nil {
			out.Events = st.Events
		}
	}
	return out
}
