package eventstore

import (
	"encoding/binary"

	"github.com/gridctl/grid/rpc"
	bolt "go.etcd.io/bbolt"
)

// gview reads the store's graph inside one transaction with the event
// indexes (memindex.go); a writer's gview also reads what its transaction
// stored but not yet indexed (pend).
type gview struct {
	tx     *bolt.Tx
	in     *interner
	ix     *memIndex
	pend   *pending
	events *bolt.Bucket
}

func newGView(tx *bolt.Tx, ix *memIndex) *gview {
	in := newInterner(tx)
	if !tx.Writable() {
		in.shared = ix.names
	}
	return &gview{tx: tx, in: in, ix: ix, events: tx.Bucket(bucketEvents)}
}

// recordBytes is the encoded record under seq, nil when absent.
func (g *gview) recordBytes(seq uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return g.events.Get(k[:])
}

// record loads the event record under seq; ok is false when absent or unreadable.
func (g *gview) record(seq uint64) (record, bool) {
	v := g.recordBytes(seq)
	if v == nil {
		return record{}, false
	}
	r, err := decodeRecord(v, seq, g.in)
	return r, err == nil
}

// lookupID returns the seq of the stored event with this id, 0 when none.
// The id index maps the id's hash to seqs; the record's id decides.
func (g *gview) lookupID(id string) uint64 {
	h := idHash64(id)
	var found uint64
	match := func(seq uint64) bool {
		if v := g.recordBytes(seq); v != nil && string(recordID(v)) == id {
			found = seq
			return false
		}
		return true
	}
	g.ix.ids.each(h, match)
	if found == 0 && g.pend != nil {
		for pos := g.pend.ids[h]; pos != 0 && found == 0; pos = g.pend.prevID[pos-1] {
			match(g.pend.events[pos-1].seq)
		}
	}
	return found
}

// sameTime calls fn with the seq, type and name_suffix of each event with
// timestamp ts (indexed, then pending) until fn returns false.
func (g *gview) sameTime(ts int64, fn func(seq uint64, typ uint32, suffix uint64) bool) {
	ix := g.ix
	c, p := ix.timeLowerBound(ts, 0)
	for ; c < len(ix.byTime.chunks); c, p = c+1, 0 {
		ch := ix.byTime.chunks[c]
		for ; p < len(ch); p++ {
			seq := ix.seqAt(ch[p])
			if ix.tsOf(seq) != ts {
				c = len(ix.byTime.chunks)
				break
			}
			if !fn(seq, ix.typOf(seq), ix.suffixOf(seq)) {
				return
			}
		}
	}
	if g.pend == nil {
		return
	}
	for pos := g.pend.byTs[ts]; pos != 0; pos = g.pend.prevTs[pos-1] {
		if e := &g.pend.events[pos-1]; !fn(e.seq, e.typ, uint64(e.suffix)) {
			return
		}
	}
}

// entityID is the intern id of an indexed entity, 0 when none.
func (g *gview) entityID(ent string) uint32 {
	if id, ok := g.ix.entityIDs[ent]; ok {
		return id
	}
	if g.pend != nil {
		return g.pend.entities[ent]
	}
	return 0
}

// eventType is a stored type as the enum.
func eventType(t uint32) rpc.EventType { return rpc.EventType(int32(t)) }
