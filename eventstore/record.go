package eventstore

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/gridctl/grid/rpc"
	bolt "go.etcd.io/bbolt"
)

// An event record (bucketEvents value) is varint-encoded; strings that
// repeat (entity ids, detail keys, sources) are interned to small ids:
//
//	uvarint len(id) id | uvarint type | uvarint entity (intern id, 0 = "")
//	varint timestamp | uvarint source (intern id, 0 = "")
//	uvarint n | n x (uvarint key (intern id) | uvarint len(value) value), keys sorted
//	uvarint assoc_base | uvarint name_suffix | uvarint cause_mask
//
// assoc_base is the association seq of the event's first graph edge (see
// vgraph.go); name_suffix makes its concept name unique (0: none, 1: -s{seq},
// k >= 2: -k); bit i of cause_mask is set when the i-th caused_by id named a
// stored event at append time.
type record struct {
	ev        *rpc.Event
	assocBase uint64
	suffix    uint64
	causeMask uint64
}

// interner assigns and resolves intern ids inside one transaction. A
// string's id is in the intern bucket (strs), or, for an entity first
// interned as one (format 4), only in the entities bucket (ents), which maps
// every entity to its intern id: one random-key insert per new entity
// fewer than keeping it in both.
type interner struct {
	strs, ids, meta, ents *bolt.Bucket
	next                  uint64 // 0 until loaded
	cache                 map[string]uint64
	names                 map[uint64]string // resolved ids (a query decodes the same few)
	// shared resolves committed intern ids across transactions (readers
	// only: a writer's ids are not committed yet); nil for writers.
	shared *nameCache
}

// nameCache maps committed intern ids to their strings for readers, up to
// nameCacheMax entries. Intern ids are never reassigned once committed
// (they are not deleted), so an entry stays true; a restore opens a new
// Store with a new cache.
type nameCache struct {
	m sync.Map // uint64 -> string
	n atomic.Int64
}

const nameCacheMax = 1 << 16

func (c *nameCache) get(id uint64) (string, bool) {
	v, ok := c.m.Load(id)
	if !ok {
		return "", false
	}
	return v.(string), true
}

func (c *nameCache) put(id uint64, s string) {
	if c.n.Load() < nameCacheMax {
		if _, loaded := c.m.LoadOrStore(id, s); !loaded {
			c.n.Add(1)
		}
	}
}

func newInterner(tx *bolt.Tx) *interner {
	return &interner{strs: tx.Bucket(bucketIntern), ids: tx.Bucket(bucketInternIDs), meta: tx.Bucket(bucketMeta),
		ents: tx.Bucket(bucketEntities)}
}

// lookup returns s's intern id, 0 when s is not interned (or empty).
func (in *interner) lookup(s string) uint64 {
	if s == "" {
		return 0
	}
	if id, ok := in.cache[s]; ok {
		return id
	}
	id := uint64(decodeUint32(in.strs.Get([]byte(s))))
	if id == 0 {
		id = uint64(entityInternID(in.ents.Get([]byte(s))))
	}
	if id != 0 && len(in.cache) < 4096 {
		if in.cache == nil {
			in.cache = map[string]uint64{}
		}
		in.cache[s] = id
	}
	return id
}

// intern returns s's intern id, assigning the next one (in append order,
// so every replica assigns the same) when s is new. "" is 0.
func (in *interner) intern(s string) (uint64, error) {
	return in.internAs(s, true)
}

// internEntity is intern for an entity, which the caller records in the
// entities bucket with the returned id: a new one is not written to the
// intern bucket as well (lookup finds it in the entities bucket).
func (in *interner) internEntity(s string) (uint64, error) {
	return in.internAs(s, false)
}

// internAs is intern; inStrs says whether a new string goes into the
// intern bucket.
func (in *interner) internAs(s string, inStrs bool) (uint64, error) {
	if id := in.lookup(s); id != 0 || s == "" {
		return id, nil
	}
	if in.next == 0 {
		in.next = getUint(in.meta, metaInterned) + 1
	}
	id := in.next
	if id > 1<<32-1 {
		return 0, fmt.Errorf("%w: intern table full", ErrInvalid)
	}
	in.next++
	key := encodeUint32(uint32(id))
	if inStrs {
		if err := in.strs.Put([]byte(s), key); err != nil {
			return 0, err
		}
	}
	if err := in.ids.Put(key, []byte(s)); err != nil {
		return 0, err
	}
	if err := putUint(in.meta, metaInterned, id); err != nil {
		return 0, err
	}
	if in.cache == nil {
		in.cache = map[string]uint64{}
	}
	in.cache[s] = id
	return id, nil
}

// str resolves an intern id; "" for 0 or unknown.
func (in *interner) str(id uint64) string {
	if id == 0 {
		return ""
	}
	if s, ok := in.names[id]; ok {
		return s
	}
	if in.shared != nil {
		if s, ok := in.shared.get(id); ok {
			return s
		}
	}
	var k [4]byte
	binary.BigEndian.PutUint32(k[:], uint32(id))
	s := string(in.ids.Get(k[:]))
	if in.shared != nil && s != "" {
		in.shared.put(id, s)
	}
	if in.names == nil {
		in.names = map[uint64]string{}
	}
	if len(in.names) < 4096 {
		in.names[id] = s
	}
	return s
}

func decodeUint32(b []byte) uint32 {
	if len(b) != 4 {
		return 0
	}
	return binary.BigEndian.Uint32(b)
}

// encodeRecord renders r (interning its strings) into buf; keys is scratch
// space for the sorted detail keys.
func encodeRecord(buf []byte, r record, in *interner, keys *[]string) ([]byte, error) {
	e := r.ev
	ent, err := in.intern(e.GetEntityId())
	if err != nil {
		return nil, err
	}
	src, err := in.intern(e.GetSource())
	if err != nil {
		return nil, err
	}
	buf = binary.AppendUvarint(buf, uint64(len(e.GetId())))
	buf = append(buf, e.GetId()...)
	buf = binary.AppendUvarint(buf, uint64(uint32(e.GetType())))
	buf = binary.AppendUvarint(buf, ent)
	buf = binary.AppendVarint(buf, e.GetTimestamp())
	buf = binary.AppendUvarint(buf, src)
	ks := (*keys)[:0]
	for k := range e.GetDetails() {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	*keys = ks
	buf = binary.AppendUvarint(buf, uint64(len(ks)))
	for _, k := range ks {
		kid, err := in.intern(k)
		if err != nil {
			return nil, err
		}
		v := e.GetDetails()[k]
		buf = binary.AppendUvarint(buf, kid)
		buf = binary.AppendUvarint(buf, uint64(len(v)))
		buf = append(buf, v...)
	}
	buf = binary.AppendUvarint(buf, r.assocBase)
	buf = binary.AppendUvarint(buf, r.suffix)
	return binary.AppendUvarint(buf, r.causeMask), nil
}

// recReader decodes varints from a record, remembering the first error.
type recReader struct {
	b   []byte
	bad bool
}

func (r *recReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.bad = true
		r.b = nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *recReader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.bad = true
		r.b = nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *recReader) bytes() []byte {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.bad = true
		r.b = nil
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

// recordID is the event id of an encoded record, without decoding the rest.
func recordID(v []byte) []byte {
	r := recReader{b: v}
	return r.bytes()
}

// decodeRecord decodes the record stored under seq.
func decodeRecord(v []byte, seq uint64, in *interner) (record, error) {
	return decodeRecordIn(v, seq, in, nil)
}

// eventSlab hands out the events and strings of one query's results from
// a few large allocations instead of several small ones per event: the
// events from one slice, their ids and detail values from one byte slab
// that is never written after a string is cut from it. Every result holds
// the slabs until all of them are dropped (a query's results live and die
// together).
type eventSlab struct {
	evs []rpc.Event
	buf []byte
}

// newEventSlab has room for n events whose records total recBytes (an
// upper bound for their ids and detail values).
func newEventSlab(n, recBytes int) *eventSlab {
	return &eventSlab{evs: make([]rpc.Event, 0, n), buf: make([]byte, 0, recBytes)}
}

func (sl *eventSlab) event() *rpc.Event {
	if sl == nil || len(sl.evs) == cap(sl.evs) {
		return &rpc.Event{}
	}
	sl.evs = sl.evs[:len(sl.evs)+1]
	return &sl.evs[len(sl.evs)-1]
}

func (sl *eventSlab) str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if sl == nil || cap(sl.buf)-len(sl.buf) < len(b) {
		return string(b)
	}
	at := len(sl.buf)
	sl.buf = append(sl.buf, b...)
	return unsafe.String(&sl.buf[at], len(b))
}

// decodeRecordIn is decodeRecord taking the event and its strings from sl
// (nil: allocate each).
func decodeRecordIn(v []byte, seq uint64, in *interner, sl *eventSlab) (record, error) {
	r := recReader{b: v}
	e := sl.event()
	e.Seq = seq
	e.Id = sl.str(r.bytes())
	e.Type = rpc.EventType(int32(uint32(r.uvarint())))
	e.EntityId = in.str(r.uvarint())
	e.Timestamp = r.varint()
	e.Source = in.str(r.uvarint())
	if n := r.uvarint(); n > 0 && !r.bad {
		if n > uint64(len(r.b)) {
			return record{}, fmt.Errorf("decode event seq %d: bad detail count", seq)
		}
		e.Details = make(map[string]string, n)
		for range n {
			k := in.str(r.uvarint())
			e.Details[k] = sl.str(r.bytes())
		}
	}
	rec := record{ev: e, assocBase: r.uvarint(), suffix: r.uvarint(), causeMask: r.uvarint()}
	if r.bad {
		return record{}, fmt.Errorf("decode event seq %d: truncated record", seq)
	}
	return rec, nil
}

// idHash64 is the 64-bit FNV-1a hash of an event id, the id index's key.
func idHash64(id string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= 1099511628211
	}
	return h
}
