package eventstore

import (
	"fmt"
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
		agentID = entityInternID(tx.Bucket(bucketEntities).Get([]byte("agent-x")))
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
			if got := entityInternID(tx.Bucket(bucketEntities).Get([]byte("node-7"))); got != nodeID {
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
// too, entity concepts stored) is migrated in place to format 4 on Open,
// with the same events, concepts, stats and digest; entities appended
// afterwards follow format 4.
func TestFormat3Upgraded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendEvents(v0Events()); err != nil {
		t.Fatal(err)
	}
	for i := 2; i < 6; i++ {
		if _, err := s.AppendEvents([]*rpc.Event{ev(fmt.Sprintf("x-%d", i), crashed, fmt.Sprintf("node-%d", i), base+int64(i)*2_000_000, nil)}); err != nil {
			t.Fatal(err)
		}
	}
	// One entity's concept learned through the graph API: it stays stored.
	if err := s.LearnConcept(Concept{ID: "node-1", Content: "learned", Strength: 0.5, Confidence: 1, CreatedAt: 7}); err != nil {
		t.Fatal(err)
	}
	wantStats, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	wantConcepts := map[string]Concept{}
	// Make it what format 3 wrote: entities in both buckets (intern id
	// only in the entities bucket), their concepts stored, format 3.
	if err := s.update(func(tx *bolt.Tx) error {
		strs, ents, concepts := tx.Bucket(bucketIntern), tx.Bucket(bucketEntities), tx.Bucket(bucketConcepts)
		g := newGView(tx, s.ix)
		var names []string
		if err := ents.ForEach(func(k, v []byte) error {
			names = append(names, string(k))
			return nil
		}); err != nil {
			return err
		}
		for _, name := range names {
			c, ok := g.concept(name)
			if !ok {
				t.Fatalf("entity %s has no concept", name)
			}
			wantConcepts[name] = c
			id := encodeUint32(entityInternID(ents.Get([]byte(name))))
			if err := strs.Put([]byte(name), id); err != nil {
				return err
			}
			if err := ents.Put([]byte(name), id); err != nil {
				return err
			}
			if err := concepts.Put([]byte(name), encodeConcept(c)); err != nil {
				return err
			}
		}
		return putUint(tx.Bucket(bucketMeta), metaFormat, 3)
	}); err != nil {
		t.Fatal(err)
	}
	if len(wantConcepts) < 6 {
		t.Fatalf("only %d entities", len(wantConcepts))
	}
	digest := s.Digest()
	want, err := s.Events(Filter{Ascending: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	defer func(n int) { entityMigrateChunk = n }(entityMigrateChunk)
	entityMigrateChunk = 1 // one entity per pass: every chunk boundary
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
	// The entities' concepts read the same; only the learned one is stored.
	for name, c := range wantConcepts {
		got, ok, err := s.QueryConcept(name)
		if err != nil || !ok || got != c {
			t.Errorf("concept %s after upgrade: %+v %v %v, want %+v", name, got, ok, err, c)
		}
	}
	if err := s.view(func(tx *bolt.Tx) error {
		for name := range wantConcepts {
			stored := tx.Bucket(bucketConcepts).Get([]byte(name)) != nil
			if stored != (name == "node-1") {
				t.Errorf("entity %s: concept stored %v after upgrade", name, stored)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if st, err := s.Stats(); err != nil || st.Concepts != wantStats.Concepts || st.Associations != wantStats.Associations ||
		st.Events != wantStats.Events || st.Written != wantStats.Written {
		t.Errorf("stats after upgrade %+v (%v), want %+v", st, err, wantStats)
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
