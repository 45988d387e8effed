package eventstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gridctl/grid/rpc"
	bolt "go.etcd.io/bbolt"
)

// v0Fixture is a store file written by the first format (no format version
// in meta): 5 events over 2 entities, one caused_by link, a webhook ack.
const v0Fixture = "testdata/store_v0.db"

// v0Events are the events in v0Fixture.
func v0Events() []*rpc.Event {
	var out []*rpc.Event
	for i := range 5 {
		e := ev(fmt.Sprintf("v0-%d", i), crashed, fmt.Sprintf("node-%d", i%2), base+int64(i)*1_000_000, map[string]string{"exit_code": "1"})
		if i == 4 {
			e.Details[CausedByDetail] = "v0-1"
		}
		out = append(out, e)
	}
	return out
}

// TestWriteV0Fixture writes v0Fixture with the first format's code; it runs
// only with GRID_WRITE_V0_FIXTURE=1 (the committed fixture came from it).
func TestWriteV0Fixture(t *testing.T) {
	if os.Getenv("GRID_WRITE_V0_FIXTURE") != "1" {
		t.Skip("set GRID_WRITE_V0_FIXTURE=1 to rewrite the fixture")
	}
	path := filepath.Join(t.TempDir(), "v0.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendEvents(v0Events()); err != nil {
		t.Fatal(err)
	}
	if err := s.SetWebhookAck("hook", 3); err != nil {
		t.Fatal(err)
	}
	sn, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(v0Fixture)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sn.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	sn.Release()
	f.Close()
	s.Close()
	t.Logf("digest %s", s.Digest())
}

// TestOpenOldFormatRefused: a format-1 file is refused with a message that
// names the file and what to do, by Open and by Restore, never misread.
func TestOpenOldFormatRefused(t *testing.T) {
	data, err := os.ReadFile(v0Fixture)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "graph.db")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Open(path, Options{})
	if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "format 1") {
		t.Fatalf("open of a format-1 file: %v", err)
	}
	f, err := os.Open(v0Fixture)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	target := filepath.Join(t.TempDir(), "events.db")
	_, err = Restore(target, f, Options{NoSync: true})
	if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "format 1") {
		t.Fatalf("restore of a format-1 snapshot: %v", err)
	}
	if _, statErr := os.Stat(target); !os.IsNotExist(statErr) {
		t.Fatalf("refused snapshot left a store file: %v", statErr)
	}
}

// TestFormatRecorded: a new store records its format, and reopening it works.
func TestFormatRecorded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendEvents(v0Events()); err != nil {
		t.Fatal(err)
	}
	digest := s.Digest()
	s.Close()
	s, err = Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	if s.Digest() != digest || s.LastSeq() != 5 {
		t.Fatalf("reopened: digest %s last %d", s.Digest(), s.LastSeq())
	}
	if err := s.view(func(tx *bolt.Tx) error {
		if v := readFormat(tx); v != formatVersion {
			return fmt.Errorf("format %d", v)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
