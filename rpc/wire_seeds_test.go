package rpc

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bufbuild/protocompile"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// seedProtoFiles are the seeds' protocol files; rpc/testdata/seeds holds a
// committed copy (test data only, never compiled into Grid).
var seedProtoFiles = []string{"grid.proto", "agent.proto", "storage.proto"}

// sharedSeedsDir is ../shared/seeds/proto beside the repository, when present.
func sharedSeedsDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	seeds := filepath.Join(filepath.Dir(dir), "shared", "seeds", "proto")
	if _, err := os.Stat(seeds); err != nil {
		return ""
	}
	return seeds
}

// TestSeedCopiesCurrent: the committed copies equal ../shared/seeds/proto
// when that directory exists.
func TestSeedCopiesCurrent(t *testing.T) {
	shared := sharedSeedsDir(t)
	if shared == "" {
		t.Skip("../shared/seeds/proto is not beside this repository; rpc/testdata/seeds is the reference")
	}
	for _, name := range seedProtoFiles {
		a, err := os.ReadFile(filepath.Join(shared, name))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join("testdata", "seeds", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("rpc/testdata/seeds/%s differs from %s: copy it again", name, filepath.Join(shared, name))
		}
	}
}

// TestSeedProtocolKept compiles the seeds' files and checks that Grid's
// compiled-in protocol keeps every seed message, field (name, number, type,
// label), enum value, service and method exactly: a client built from the
// seeds is read field for field.
func TestSeedProtocolKept(t *testing.T) {
	c := protocompile.Compiler{Resolver: &protocompile.SourceResolver{ImportPaths: []string{filepath.Join("testdata", "seeds")}}}
	files, err := c.Compile(context.Background(), seedProtoFiles...)
	if err != nil {
		t.Fatalf("compile the seeds' protocol: %v", err)
	}
	fds := make([]protoreflect.FileDescriptor, 0, len(files))
	for _, f := range files {
		fds = append(fds, f)
	}
	seeds, grid := schemaOf(fds...), schemaOf(gridFiles()...)
	if len(seeds.messages) < 40 || len(seeds.services) != 3 {
		t.Fatalf("compiled %d seed messages and %d services; the seed files look incomplete", len(seeds.messages), len(seeds.services))
	}
	bad := incompatibilities(seeds, grid)
	for _, name := range sortedKeys(seeds.messages) {
		if gm := grid.messages[name]; gm != nil {
			for n, f := range seeds.messages[name].fields {
				if _, ok := gm.fields[n]; !ok {
					bad = append(bad, name+" lacks seed field "+f.String())
				}
			}
		}
	}
	if len(bad) > 0 {
		t.Fatalf("Grid's protocol differs from the seeds':\n  %s", strings.Join(bad, "\n  "))
	}
}
