package eventstore

import (
	"path/filepath"
	"testing"

	"github.com/gridctl/grid/rpc"
	bolt "go.etcd.io/bbolt"
)

// TestEntityInternedOnce: a new entity's intern id is kept in the entities
// bucket only (format 4), and every later use of the same string (as a
// source, a detail key, another event's entity) resolves to that id; a
// string interned before it became an entity keeps its id. Events read
// back the same after a reopen.
func TestEntityInternedOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	first := []*rpc.Event{
		{Id: "e1", Type: crashed, EntityId: "agent-x", Timestamp: base, Source: "node-7", Details: map[string]string{"agent_id": "agent-x"}},
	}
	second := []*rpc.Event{
		// agent-x as a source and a detail key; node-7 (interned as a
		// source) becomes an entity.
		{Id: "e2", Type: crashed, EntityId: "node-7", Timestamp: base + 1, Source: "agent-x", Details: map[string]string{"agent-x": "1"}},
		{Id: "e3", Type: crashed, EntityId: "agent-x", Timestamp: base + 2, Source: "test"},
	}
	if _, err := s.AppendEvents(first); err != nil {
		t.Fatal(err)
	}
	var agentID, nodeID uint32
	if err := s.view(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketIntern).Get([]byte("agent-x")); v != nil {
			t.Errorf("new entity agent-x is in the intern bucket too: %x", v)
		}
		agentID = decodeUint32(tx.Bucket(bucketEntities).Get([]byte("agent-x")))
		nodeID = decodeUint32(tx.Bucket(bucketIntern).Get([]byte("node-7")))
		if agentID == 0 || nodeID == 0 {
			t.Fatalf("ids: agent-x %d, node-7 %d", agentID, nodeID)
		}
		if got := newInterner(tx).lookup("agent-x"); got != uint64(agentID) {
			t.Errorf("lookup(agent-x) = %d, want %d", got, agentID)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendEvents(second); err != nil {
		t.Fatal(err)
	}
	check := func(s *Store) {
		t.Helper()
		if err := s.view(func(tx *bolt.Tx) error {
			in := newInterner(tx)
			if got := in.lookup("agent-x"); got != uint64(agentID) {
				t.Errorf("agent-x: id %d, want %d (one id per string)", got, agentID)
			}
			if got := decodeUint32(tx.Bucket(bucketEntities).Get([]byte("node-7"))); got != nodeID {
				t.Errorf("node-7 as an entity: id %d, want its intern id %d", got, nodeID)
			}
			if tx.Bucket(bucketIntern).Get([]byte("agent-x")) != nil {
				t.Error("agent-x went to the intern bucket when used as a source")
			}
			// Every id assigned names one string (no id assigned twice).
			if n, want := getUint(tx.Bucket(bucketMeta), metaInterned), uint64(tx.Bucket(bucketInternIDs).Stats().KeyN); n != want {
				t.Errorf("interned counter %d, intern_ids holds %d", n, want)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		got, err := s.Events(Filter{Entities: []string{"agent-x"}, Ascending: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].GetId() != "e1" || got[1].GetId() != "e3" ||
			got[0].GetSource() != "node-7" || got[0].GetDetails()["agent_id"] != "agent-x" {
			t.Fatalf("events of agent-x: %v", got)
		}
		got, err = s.Events(Filter{Entities: []string{"node-7"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].GetSource() != "agent-x" || got[0].GetDetails()["agent-x"] != "1" {
			t.Fatalf("events of node-7: %v", got)
		}
	}
	check(s)
	digest := s.Digest()
	s.Close()
	s, err = Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check(s)
	if s.Digest() != digest {
		t.Fatalf("digest %s after reopen, want %s", s.Digest(), digest)
	}
}

// TestFormat3Upgraded: a format 3 file (every entity in the intern bucket
// too) opens as is and records format 4, with the same events and digest;
// entities appended afterwards follow format 4.
func TestFormat3Upgraded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendEvents(v0Events()); err != nil {
		t.Fatal(err)
	}
	// Make it what format 3 wrote: entities in both buckets, format 3.
	if err := s.update(func(tx *bolt.Tx) error {
		strs := tx.Bucket(bucketIntern)
		if err := tx.Bucket(bucketEntities).ForEach(func(k, v []byte) error {
			return strs.Put(k, v)
		}); err != nil {
			return err
		}
		return putUint(tx.Bucket(bucketMeta), metaFormat, 3)
	}); err != nil {
		t.Fatal(err)
	}
	digest := s.Digest()
	want, err := s.Events(Filter{Ascending: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatalf("open format 3: %v", err)
	}
	defer s.Close()
	if err := s.view(func(tx *bolt.Tx) error {
		if v := readFormat(tx); v != formatVersion {
			t.Errorf("format %d after open, want %d", v, formatVersion)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Events(Filter{Ascending: true})
	if err != nil {
		t.Fatal(err)
	}
	if s.Digest() != digest || len(got) != len(want) {
		t.Fatalf("after upgrade: digest %s (want %s), %d events (want %d)", s.Digest(), digest, len(got), len(want))
	}
	for i := range got {
		if got[i].GetId() != want[i].GetId() || got[i].GetEntityId() != want[i].GetEntityId() || got[i].GetSource() != want[i].GetSource() {
			t.Fatalf("event %d: %v, want %v", i, got[i], want[i])
		}
	}
	if _, err := s.AppendEvents([]*rpc.Event{ev("new-1", crashed, "node-0", base+10_000_000, nil), ev("new-2", crashed, "node-9", base+11_000_000, nil)}); err != nil {
		t.Fatal(err)
	}
	if err := s.view(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketIntern).Get([]byte("node-9")) != nil {
			t.Error("new entity node-9 went to the intern bucket")
		}
		if newInterner(tx).lookup("node-0") == 0 || newInterner(tx).lookup("node-9") == 0 {
			t.Error("an entity has no intern id")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
