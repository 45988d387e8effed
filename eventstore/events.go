package eventstore

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/gridctl/grid/rpc"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
)

// Graph form of events.
const (
	// TemporalAssocType links an event concept to its ts-{seconds} concept.
	TemporalAssocType uint32 = 999
	// CausedByAssocType links an event concept to the concept of an event
	// named in its "caused_by" detail (an alert to its triggers).
	CausedByAssocType uint32 = 998
	// CausedByDetail is the detail key listing, comma separated, the ids of
	// the events an event was caused by.
	CausedByDetail = "caused_by"
	// maxCausedBy bounds the causes one event links to.
	maxCausedBy = 64
	// maxEventBytes is the largest encoded event accepted.
	maxEventBytes = MaxContentBytes
	// maxNameSuffix bounds the search for a free event concept name.
	maxNameSuffix = 64
	// DefaultEntityLimit is used when Entities is given limit 0.
	DefaultEntityLimit = 1000
)

var deterministic = proto.MarshalOptions{Deterministic: true}

// eventJSON is the content of an event concept: snake_case names, the type by name.
type eventJSON struct {
	ID        string            `json:"id"`
	Seq       uint64            `json:"seq"`
	EventType string            `json:"event_type"`
	EntityID  string            `json:"entity_id"`
	Timestamp int64             `json:"timestamp"`
	Details   map[string]string `json:"details,omitempty"`
	Source    string            `json:"source,omitempty"`
}

// MarshalEventJSON renders an event as its concept content: snake_case field
// names with the type's name under "event_type". The output is deterministic.
func MarshalEventJSON(e *rpc.Event) ([]byte, error) {
	return json.Marshal(eventJSON{
		ID: e.GetId(), Seq: e.GetSeq(), EventType: e.GetType().Name(), EntityID: e.GetEntityId(),
		Timestamp: e.GetTimestamp(), Details: e.GetDetails(), Source: e.GetSource(),
	})
}

// validEvent reports whether an event can be stored. Invalid events are
// skipped by AppendEvents, the same way on every replica.
func validEvent(e *rpc.Event) bool {
	if e == nil || e.GetType() == rpc.EventType_EVENT_TYPE_UNSPECIFIED {
		return false
	}
	if validateID(e.GetId()) != nil {
		return false
	}
	if ent := e.GetEntityId(); ent != "" && validateID(ent) != nil {
		return false
	}
	return eventSizeBound(e) <= maxEventBytes || proto.Size(e) <= maxEventBytes
}

// eventSizeBound is at least proto.Size(e), cheaply: every field counted
// with the longest tag and length prefix a field can have. Only an event
// near the limit needs its exact size.
func eventSizeBound(e *rpc.Event) int {
	const field = 3 + binary.MaxVarintLen64 // tag and length or varint value
	n := 6*field + len(e.GetId()) + len(e.GetEntityId()) + len(e.GetSource()) + len(e.ProtoReflect().GetUnknown())
	for k, v := range e.GetDetails() {
		n += 3*field + len(k) + len(v)
	}
	return n
}

// indexedEntities lists the entities an event is indexed under: its
// entity_id, then details agent_id and node_id when present and different.
func indexedEntities(e *rpc.Event) []string {
	var buf [3]string
	return slices.Clone(indexedEntitiesInto(e, &buf))
}

// indexedEntitiesInto is indexedEntities in buf's storage.
func indexedEntitiesInto(e *rpc.Event, buf *[3]string) []string {
	out := buf[:0]
	add := func(id string) {
		if id == "" || validateID(id) != nil {
			return
		}
		for _, have := range out {
			if have == id {
				return
			}
		}
		out = append(out, id)
	}
	add(e.GetEntityId())
	if d := e.GetDetails(); len(d) > 0 {
		add(d["agent_id"])
		add(d["node_id"])
	}
	return out
}

// timeSeconds is the unix second of a timestamp in micros (rounded down).
func timeSeconds(micros int64) int64 {
	sec := micros / 1_000_000
	if micros < 0 && micros%1_000_000 != 0 {
		sec--
	}
	return sec
}

// timeConceptName is ts-{unix_seconds} for a timestamp in micros.
func timeConceptName(micros int64) string {
	return "ts-" + strconv.FormatInt(timeSeconds(micros), 10)
}

// Entities lists known entity ids (every entity an event was indexed
// under) starting with prefix, in order; limit 0 means DefaultEntityLimit.
func (s *Store) Entities(prefix string, limit int) ([]string, error) {
	if limit <= 0 {
		limit = DefaultEntityLimit
	}
	var out []string
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketEntities).Cursor()
		for k, _ := c.Seek([]byte(prefix)); k != nil && strings.HasPrefix(string(k), prefix) && len(out) < limit; k, _ = c.Next() {
			out = append(out, string(k))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("entities: %w", err)
	}
	return out, nil
}

// loadEvent decodes the event stored under seq; nil when absent.
func loadEvent(tx *bolt.Tx, seq uint64) (*rpc.Event, error) {
	return loadEventWith(tx, newInterner(tx), seq)
}

// loadEventWith is loadEvent with a given interner.
func loadEventWith(tx *bolt.Tx, in *interner, seq uint64) (*rpc.Event, error) {
	return loadFrom(tx.Bucket(bucketEvents), in, seq)
}

// loadFrom decodes the event stored under seq in the events bucket; nil when absent.
func loadFrom(events *bolt.Bucket, in *interner, seq uint64) (*rpc.Event, error) {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	v := events.Get(k[:])
	if v == nil {
		return nil, nil
	}
	r, err := decodeRecord(v, seq, in)
	if err != nil {
		return nil, err
	}
	return r.ev, nil
}

// CausedBy lists the event ids in e's caused_by detail (at most 64).
func CausedBy(e *rpc.Event) []string {
	raw := e.GetDetails()[CausedByDetail]
	if raw == "" {
		return nil
	}
	var out []string
	for _, id := range strings.Split(raw, ",") {
		if id = strings.TrimSpace(id); id != "" && len(out) < maxCausedBy {
			out = append(out, id)
		}
	}
	return out
}
