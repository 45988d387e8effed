package eventstore

import (
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/gridctl/grid/rpc"
)

// v0Fixture is a store file written by the first format (no format version
// in meta) from goldenInput: migrated, it must answer golden_queries.txt.
const v0Fixture = "testdata/store_v0.db.gz"

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
	s, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	goldenInput(t, s)
	sn, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(v0Fixture)
	if err != nil {
		t.Fatal(err)
	}
	zw, _ := gzip.NewWriterLevel(f, gzip.BestCompression)
	if _, err := sn.WriteTo(zw); err != nil {
		t.Fatal(err)
	}
	sn.Release()
	zw.Close()
	f.Close()
	s.Close()
	t.Logf("digest %s", s.Digest())
}
