package eventstore

import (
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// buildIndex reads every event record in seq order and builds the
// in-memory indexes (memindex.go) exactly as the appends that stored them
// left them, minus what pruning removed since. It decodes only what the
// indexes need: id, type, entity, timestamp and the agent_id, node_id and
// caused_by details.
func buildIndex(tx *bolt.Tx) (*memIndex, error) {
	ix := newMemIndex()
	entityNames := map[uint32]string{}
	err := tx.Bucket(bucketEntities).ForEach(func(k, v []byte) error {
		id := entityInternID(v)
		ix.entityIDs[string(k)] = id
		entityNames[id] = string(k)
		return nil
	})
	if err != nil {
		return nil, err
	}
	in := newInterner(tx)
	agentKey, nodeKey, causedKey := in.lookup("agent_id"), in.lookup("node_id"), in.lookup(CausedByDetail)
	events := tx.Bucket(bucketEvents)
	n := int(getUint(tx.Bucket(bucketMeta), metaEvents))
	ix.ids.reserve(n)
	ix.ts, ix.typ, ix.sfx = make([]int64, 0, n), make([]uint32, 0, n), make([]uint8, 0, n)
	g := &gview{tx: tx, in: in, ix: ix, events: events}
	c := events.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		seq := decodeUint(k)
		r := recReader{b: v}
		id := r.bytes()
		ie := indexedEvent{seq: seq, hash: idHash64Bytes(id), typ: uint32(r.uvarint())}
		entity := r.uvarint()
		ie.ts = r.varint()
		r.uvarint() // source
		var agent, node, causedBy []byte
		nd := r.uvarint()
		for i := uint64(0); i < nd && !r.bad; i++ {
			key, val := r.uvarint(), r.bytes()
			switch {
			case key == 0:
			case key == agentKey:
				agent = val
			case key == nodeKey:
				node = val
			case key == causedKey:
				causedBy = val
			}
		}
		r.uvarint() // assoc_base
		ie.suffix = uint8(r.uvarint())
		causeMask := r.uvarint()
		if r.bad {
			return nil, fmt.Errorf("index event seq %d: truncated record", seq)
		}
		// The entities, as indexedEntities lists them.
		var names [3]string
		addEnt := func(name string) {
			if name == "" || validateID(name) != nil {
				return
			}
			for _, have := range names[:ie.nEnts] {
				if have == name {
					return
				}
			}
			if eid := ix.entityIDs[name]; eid != 0 {
				names[ie.nEnts], ie.ents[ie.nEnts] = name, eid
				ie.nEnts++
			}
		}
		if entity != 0 {
			name, ok := entityNames[uint32(entity)]
			if !ok {
				name = in.str(entity)
			}
			addEnt(name)
		}
		if agent != nil {
			addEnt(string(agent))
		}
		if node != nil {
			addEnt(string(node))
		}
		if causeMask != 0 && causedBy != nil {
			i := 0
			for _, cid := range strings.Split(string(causedBy), ",") {
				if cid = strings.TrimSpace(cid); cid == "" || i >= maxCausedBy {
					continue
				}
				if causeMask&(1<<i) != 0 {
					if cseq := g.lookupID(cid); cseq != 0 && cseq < seq {
						ie.causes = append(ie.causes, cseq)
					}
				}
				i++
			}
		}
		ix.add(&ie)
	}
	return ix, nil
}

// idHash64Bytes is idHash64 of an id held in bytes.
func idHash64Bytes(id []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, b := range id {
		h ^= uint64(b)
		h *= 1099511628211
	}
	return h
}
