package eventstore

import (
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// openV0Fixture returns the format-1 fixture's bytes.
func openV0Fixture(t *testing.T) io.Reader {
	t.Helper()
	f, err := os.Open(v0Fixture)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	return zr
}

func goldenWant(t *testing.T) string {
	t.Helper()
	want, err := os.ReadFile(goldenFile)
	if err != nil {
		t.Fatal(err)
	}
	return string(want)
}

// TestMigrateV1Open: Open migrates a format-1 file (the golden input
// written by format 1) in place, keeping the original as .format1, and the
// migrated store answers every golden query as format 1 did.
func TestMigrateV1Open(t *testing.T) {
	path := filepath.Join(t.TempDir(), "graph.db")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(f, openV0Fixture(t)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	s, err := Open(path, Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("open a format-1 file: %v", err)
	}
	if got := goldenRender(t, s); got != goldenWant(t) {
		t.Fatal("the migrated store answers differently from format 1")
	}
	s.Close()
	if _, err := os.Stat(path + ".format1"); err != nil {
		t.Fatalf("original not kept: %v", err)
	}
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	if got := goldenRender(t, s); got != goldenWant(t) {
		t.Fatal("the reopened store answers differently")
	}
}

// TestMigrateV1Restore: a raft snapshot holding a format-1 store is
// migrated on Restore.
func TestMigrateV1Restore(t *testing.T) {
	s, err := Restore(filepath.Join(t.TempDir(), "events.db"), openV0Fixture(t), Options{NoSync: true})
	if err != nil {
		t.Fatalf("restore a format-1 snapshot: %v", err)
	}
	defer s.Close()
	if got := goldenRender(t, s); got != goldenWant(t) {
		t.Fatal("the restored store answers differently from format 1")
	}
	// It keeps working: appends and prunes after the migration.
	if _, err := s.AppendEvents(v0Events()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Prune(0, 10); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.CountEvents(Filter{}); n != 10 {
		t.Fatalf("%d events after prune, want 10", n)
	}
}

// TestNewerFormatRefused: a file from a newer format is refused with a
// message naming it, by Open and Restore, never misread.
func TestNewerFormatRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "graph.db")
	s, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendEvents(v0Events()); err != nil {
		t.Fatal(err)
	}
	if err := s.update(func(tx *bolt.Tx) error { return putUint(tx.Bucket(bucketMeta), metaFormat, formatVersion+1) }); err != nil {
		t.Fatal(err)
	}
	sn, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	go func() { _, err := sn.WriteTo(pw); pw.CloseWithError(err); sn.Release() }()
	target := filepath.Join(t.TempDir(), "events.db")
	if _, err := Restore(target, pr, Options{NoSync: true}); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("restore of a newer format: %v", err)
	}
	s.Close()
	_, err = Open(path, Options{})
	if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "upgrade") {
		t.Fatalf("open of a newer format: %v", err)
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
			t.Errorf("format %d, want %d", v, formatVersion)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
