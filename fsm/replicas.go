package fsm

import (
	"fmt"
	"sync"

	"github.com/gridctl/grid/rpc"
	"google.golang.org/protobuf/proto"
)

// digestRingSize is how many verify-marker digests a master keeps: enough
// for a few verifications in flight at once.
const digestRingSize = 16

// digestRing holds the state digests recorded at the last verify markers,
// by raft index. It is local (each master computes its own), never
// snapshotted: a master that skips a marker by installing a snapshot has no
// digest at that index and says so (ErrNoDigest).
type digestRing struct {
	mu      sync.Mutex
	entries [digestRingSize]*rpc.StateHash
	next    int
}

func (r *digestRing) put(h *rpc.StateHash) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries[r.next] = h
	r.next = (r.next + 1) % digestRingSize
}

func (r *digestRing) get(index uint64) (*rpc.StateHash, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, h := range r.entries {
		if h != nil && h.AppliedIndex == index {
			return proto.Clone(h).(*rpc.StateHash), true
		}
	}
	return nil, false
}

// ErrNoDigest: this master holds no digest at the asked index (the index
// is not a verify marker, it is too old for the ring, or this master
// restored a snapshot past it).
var ErrNoDigest = rpc.NewSentinel("no digest at that index", rpc.ErrNotFound)

// applyVerifyMarker records this master's state digest at index. The
// digest is computed here, inside Apply, so every master takes it at
// exactly the same point of the log.
func (f *FSM) applyVerifyMarker(buf []byte, index uint64) interface{} {
	cmd := new(rpc.VerifyMarkerCommand)
	decode(VerifyMarkerType, buf, index, cmd)
	// The digest is in the ring before applied reaches index: a reader
	// that waits for index (GetReplicaDigest) then always finds it.
	h := f.StateHash()
	h.AppliedIndex = index
	f.digests.put(h)
	return proto.Clone(h)
}

// DigestAt returns the digest this master recorded at the verify marker
// with raft index index; ErrNoDigest when it has none.
func (f *FSM) DigestAt(index uint64) (*rpc.StateHash, error) {
	if h, ok := f.digests.get(index); ok {
		return h, nil
	}
	return nil, fmt.Errorf("%w %d (applied %d)", ErrNoDigest, index, f.applied.Load())
}
