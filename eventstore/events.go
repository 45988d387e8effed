package eventstore

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
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
	return proto.Size(e) <= maxEventBytes
}

// indexedEntities lists the entities an event is indexed under: its
// entity_id, then details agent_id and node_id when present and different.
func indexedEntities(e *rpc.Event) []string {
	var out []string
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
	add(e.GetDetails()["agent_id"])
	add(e.GetDetails()["node_id"])
	return out
}

// AppendEvents stores events in one transaction, in input order. Events whose
// id is already stored and invalid events (nil, empty id, unspecified type,
// oversized) are skipped. Each stored event gets Seq = LastSeq()+1, +2, ...
// The returned events are clones with Seq set.
func (s *Store) AppendEvents(events []*rpc.Event) ([]*rpc.Event, error) {
	if len(events) == 0 {
		return nil, nil
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.RLock()
	lastSeq, firstSeq, digest := s.lastSeq, s.firstSeq, s.digest
	s.mu.RUnlock()

	var stored []*rpc.Event
	err := s.update(func(tx *bolt.Tx) error {
		ids := tx.Bucket(bucketEventIDs)
		seq := lastSeq
		d := digest
		defer func() { digest = d }()
		for _, e := range events {
			if !validEvent(e) || ids.Get([]byte(e.GetId())) != nil {
				continue
			}
			seq++
			ev := proto.Clone(e).(*rpc.Event)
			ev.Seq = seq
			if err := putEvent(tx, ev); err != nil {
				return fmt.Errorf("event %q: %w", ev.GetId(), err)
			}
			d = chainDigest(d, ev.GetId(), seq)
			stored = append(stored, ev)
		}
		if len(stored) == 0 {
			return nil
		}
		meta := tx.Bucket(bucketMeta)
		if err := putUint(meta, metaLastSeq, seq); err != nil {
			return err
		}
		if err := addUint(meta, metaEvents, int64(len(stored))); err != nil {
			return err
		}
		return meta.Put(metaDigest, d[:])
	})
	if err != nil {
		return nil, fmt.Errorf("append events: %w", err)
	}
	if len(stored) == 0 {
		return nil, nil
	}
	if firstSeq == 0 {
		firstSeq = stored[0].GetSeq()
	}
	s.publish(stored[len(stored)-1].GetSeq(), firstSeq, digest, true)
	return stored, nil
}

// chainDigest folds (id, seq) into the running digest.
func chainDigest(prev [32]byte, id string, seq uint64) [32]byte {
	h := sha256.New()
	h.Write(prev[:])
	h.Write([]byte(id))
	h.Write([]byte{0})
	h.Write(encodeUint(seq))
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// putEvent writes one event (Seq set): the record, its indexes and its graph form.
func putEvent(tx *bolt.Tx, e *rpc.Event) error {
	body, err := deterministic.Marshal(e)
	if err != nil {
		return err
	}
	seqKey := encodeUint(e.GetSeq())
	if err := tx.Bucket(bucketEvents).Put(seqKey, body); err != nil {
		return err
	}
	conceptID, err := eventConceptName(tx, e)
	if err != nil {
		return err
	}
	if err := tx.Bucket(bucketEventIDs).Put([]byte(e.GetId()), join(seqKey, []byte(conceptID))); err != nil {
		return err
	}
	typ := encodeUint32(uint32(e.GetType()))
	ts := encodeTime(e.GetTimestamp())
	if err := tx.Bucket(bucketByType).Put(join(typ, seqKey), encodeUint(uint64(e.GetTimestamp()))); err != nil {
		return err
	}
	if err := tx.Bucket(bucketByTime).Put(join(ts, seqKey), typ); err != nil {
		return err
	}
	content, err := MarshalEventJSON(e)
	if err != nil {
		return err
	}
	if err := putConcept(tx, Concept{ID: conceptID, Content: string(content), Strength: 1, Confidence: 1, CreatedAt: e.GetTimestamp()}); err != nil {
		return err
	}
	for _, ent := range indexedEntities(e) {
		if err := tx.Bucket(bucketByEntity).Put(join(strPrefix(ent), seqKey), join(typ, encodeUint(uint64(e.GetTimestamp())))); err != nil {
			return err
		}
		if err := tx.Bucket(bucketEntities).Put([]byte(ent), nil); err != nil {
			return err
		}
		if err := ensureConcept(tx, Concept{ID: ent, Strength: 1, Confidence: 1, CreatedAt: e.GetTimestamp()}); err != nil {
			return err
		}
		if err := putAssociation(tx, ent, conceptID, uint32(e.GetType()), 1); err != nil {
			return err
		}
	}
	tsID := timeConceptName(e.GetTimestamp())
	if err := ensureConcept(tx, Concept{ID: tsID, Strength: 1, Confidence: 1, CreatedAt: e.GetTimestamp()}); err != nil {
		return err
	}
	return putAssociation(tx, conceptID, tsID, TemporalAssocType, 1)
}

// eventConceptName is event-{type}-{timestamp_micros}, made unique with a
// -2, -3, ... suffix (then -s{seq}) when taken. Deterministic given the state.
func eventConceptName(tx *bolt.Tx, e *rpc.Event) (string, error) {
	concepts := tx.Bucket(bucketConcepts)
	base := "event-" + e.GetType().Name() + "-" + strconv.FormatInt(e.GetTimestamp(), 10)
	if concepts.Get([]byte(base)) == nil {
		return base, nil
	}
	for i := 2; i <= maxNameSuffix; i++ {
		name := base + "-" + strconv.Itoa(i)
		if concepts.Get([]byte(name)) == nil {
			return name, nil
		}
	}
	name := base + "-s" + strconv.FormatUint(e.GetSeq(), 10)
	if concepts.Get([]byte(name)) != nil {
		return "", fmt.Errorf("%w: no free concept name for event at %d", ErrInvalid, e.GetTimestamp())
	}
	return name, nil
}

// timeConceptName is ts-{unix_seconds} for a timestamp in micros.
func timeConceptName(micros int64) string {
	sec := micros / 1_000_000
	if micros < 0 && micros%1_000_000 != 0 {
		sec--
	}
	return "ts-" + strconv.FormatInt(sec, 10)
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
	v := tx.Bucket(bucketEvents).Get(encodeUint(seq))
	if v == nil {
		return nil, nil
	}
	e := &rpc.Event{}
	if err := proto.Unmarshal(v, e); err != nil {
		return nil, fmt.Errorf("decode event seq %d: %w", seq, err)
	}
	return e, nil
}
