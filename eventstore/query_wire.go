package eventstore

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/gridctl/grid/rpc"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/encoding/protowire"
)

// ErrNotWire says EventsWire cannot encode the answer (a stored string is
// not valid UTF-8, which the protobuf encoders refuse): use Events.
var ErrNotWire = errors.New("events not encodable directly")

// EventsWire returns what Events(f) returns, encoded as the events field
// of an EventList (grid.proto: field 1, one length-delimited Event per
// event, in result order), and the number of events. It encodes each
// record straight from the store: no rpc.Event, details map or strings
// are built. A leader answering QueryEvents allocated ~70 KB per
// 100-event query building them (then encoded and dropped them): at 1M
// events its heap goal was ~130 MB over 65 MB live, so it collected every
// ~900 queries, during BenchmarkEventQuery1M's timed queries
// (GODEBUG=gctrace=1 on the masters), stopping or slowing the queries it
// overlapped. The bytes decode to the events Events returns (map entries
// in the record's key order).
func (s *Store) EventsWire(f Filter) ([]byte, int, error) {
	p := newPlan(f, false)
	var out []byte
	n := 0
	err := s.view(func(tx *bolt.Tx) error {
		if p.empty {
			return nil
		}
		seqs := s.ix.matchSeqs(p)
		in := newInterner(tx)
		in.shared = s.ix.names
		c := newSeqCursor(tx.Bucket(bucketEvents))
		recs, size := c.records(seqs)
		// Interned strings are longer on the wire than in the record:
		// room for that and the tags, grown by append past it.
		out = make([]byte, 0, size+len(seqs)*wireEventSlack)
		var body []byte
		for i, v := range recs {
			if v == nil {
				continue
			}
			var err error
			if body, err = appendRecordWire(body[:0], v, seqs[i], in); err != nil {
				return err
			}
			out = protowire.AppendTag(out, 1, protowire.BytesType)
			out = protowire.AppendBytes(out, body)
			n++
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("query events: %w", err)
	}
	return out, n, nil
}

// wireEventSlack is the room EventsWire leaves per event beyond its record.
const wireEventSlack = 64

// appendRecordWire appends the Event message (grid.proto numbers 1-7, in
// number order, zero values left out, as protobuf-go and rpc's encoder
// write it) of the record v stored under seq.
func appendRecordWire(b, v []byte, seq uint64, in *interner) ([]byte, error) {
	r := recReader{b: v}
	id := r.bytes()
	typ := rpc.EventType(int32(uint32(r.uvarint())))
	entity := in.str(r.uvarint())
	ts := r.varint()
	source := in.str(r.uvarint())
	if !utf8.Valid(id) || !utf8.ValidString(entity) || !utf8.ValidString(source) {
		return nil, ErrNotWire
	}
	if len(id) > 0 {
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendBytes(b, id)
	}
	if seq != 0 {
		b = protowire.AppendTag(b, 2, protowire.VarintType)
		b = protowire.AppendVarint(b, seq)
	}
	if typ != 0 {
		b = protowire.AppendTag(b, 3, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(int64(typ)))
	}
	if entity != "" {
		b = protowire.AppendTag(b, 4, protowire.BytesType)
		b = protowire.AppendString(b, entity)
	}
	if ts != 0 {
		b = protowire.AppendTag(b, 5, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(ts))
	}
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		return nil, fmt.Errorf("decode event seq %d: bad detail count", seq)
	}
	for range n {
		k := in.str(r.uvarint())
		val := r.bytes()
		if !utf8.ValidString(k) || !utf8.Valid(val) {
			return nil, ErrNotWire
		}
		// A map entry: key and value always written, as protobuf-go does.
		b = protowire.AppendTag(b, 6, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(1+protowire.SizeBytes(len(k))+1+protowire.SizeBytes(len(val))))
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendString(b, k)
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendBytes(b, val)
	}
	if source != "" {
		b = protowire.AppendTag(b, 7, protowire.BytesType)
		b = protowire.AppendString(b, source)
	}
	r.uvarint() // assoc_base, name_suffix, cause_mask: not part of an Event
	r.uvarint()
	r.uvarint()
	if r.bad {
		return nil, fmt.Errorf("decode event seq %d: truncated record", seq)
	}
	return b, nil
}
