package rpc

import (
	"errors"
	"flag"
	"io/fs"
	"os"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

var updateGolden = flag.Bool("update", false, "rewrite rpc/testdata/wire.golden after a compatible change to rpc/*.proto")

const wireGoldenPath = "testdata/wire.golden"

// gridFiles are the .proto files compiled into Grid (fsm.proto too: its
// messages are stored in Raft entries and snapshots).
func gridFiles() []protoreflect.FileDescriptor {
	return []protoreflect.FileDescriptor{File_grid_proto, File_agent_proto, File_storage_proto, File_fsm_proto}
}

// TestWireGolden fails on any incompatible change of the compiled-in
// protocol against rpc/testdata/wire.golden, and on a compatible one until
// the golden is refreshed with -update (so every change is deliberate).
func TestWireGolden(t *testing.T) {
	cur := schemaOf(gridFiles()...)
	text := cur.render()
	raw, err := os.ReadFile(wireGoldenPath)
	if errors.Is(err, fs.ErrNotExist) && *updateGolden {
		writeGolden(t, text)
		return
	}
	if err != nil {
		t.Fatalf("read %s: %v", wireGoldenPath, err)
	}
	old, err := parseWireSchema(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	if bad := incompatibilities(old, cur); len(bad) > 0 {
		t.Fatalf("incompatible wire changes (field numbers are never reused or renumbered; see docs/protocol.md):\n  %s",
			strings.Join(bad, "\n  "))
	}
	if text == string(raw) {
		return
	}
	if *updateGolden {
		writeGolden(t, text)
		return
	}
	t.Fatalf("the wire schema has compatible additions not yet in %s; refresh it deliberately with\n"+
		"  go test ./rpc -run TestWireGolden -update\n%s", wireGoldenPath, lineDiff(string(raw), text))
}

func writeGolden(t *testing.T, text string) {
	t.Helper()
	if err := os.WriteFile(wireGoldenPath, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", wireGoldenPath)
}

// lineDiff lists the lines only in a ("-") and only in b ("+").
func lineDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out []string
	for _, l := range al {
		if !slices.Contains(bl, l) {
			out = append(out, "- "+l)
		}
	}
	for _, l := range bl {
		if !slices.Contains(al, l) {
			out = append(out, "+ "+l)
		}
	}
	return strings.Join(out, "\n")
}

// mutatedGrid returns grid.proto with edit applied to its descriptor, and
// the other files unchanged.
func mutatedGrid(t *testing.T, edit func(*descriptorpb.FileDescriptorProto)) []protoreflect.FileDescriptor {
	t.Helper()
	fdp := proto.Clone(protodesc.ToFileDescriptorProto(File_grid_proto)).(*descriptorpb.FileDescriptorProto)
	edit(fdp)
	fd, err := protodesc.NewFile(fdp, protoregistry.GlobalFiles)
	if err != nil {
		t.Fatalf("build mutated grid.proto: %v", err)
	}
	return []protoreflect.FileDescriptor{fd, File_agent_proto, File_storage_proto, File_fsm_proto}
}

func messageProto(t *testing.T, fdp *descriptorpb.FileDescriptorProto, name string) *descriptorpb.DescriptorProto {
	t.Helper()
	for _, m := range fdp.MessageType {
		if m.GetName() == name {
			return m
		}
	}
	t.Fatalf("message %s not in %s", name, fdp.GetName())
	return nil
}

func fieldProto(t *testing.T, m *descriptorpb.DescriptorProto, name string) *descriptorpb.FieldDescriptorProto {
	t.Helper()
	for _, f := range m.Field {
		if f.GetName() == name {
			return f
		}
	}
	t.Fatalf("field %s not in %s", name, m.GetName())
	return nil
}

// TestWireGoldenCatchesChanges changes the compiled descriptors on purpose
// and shows which changes the golden check refuses.
func TestWireGoldenCatchesChanges(t *testing.T) {
	raw, err := os.ReadFile(wireGoldenPath)
	if err != nil {
		t.Fatal(err)
	}
	golden, err := parseWireSchema(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		edit func(*descriptorpb.FileDescriptorProto)
		want string // in the incompatibility; "" = compatible
	}{
		{"renumber SpawnRequest.port 4 -> 6", func(fdp *descriptorpb.FileDescriptorProto) {
			fieldProto(t, messageProto(t, fdp, "SpawnRequest"), "port").Number = proto.Int32(6)
		}, "grid.SpawnRequest field 4 (port uint32 optional) removed or renumbered"},
		{"swap StopRequest numbers", func(fdp *descriptorpb.FileDescriptorProto) {
			m := messageProto(t, fdp, "StopRequest")
			fieldProto(t, m, "agent_id").Number = proto.Int32(2)
			fieldProto(t, m, "node_id").Number = proto.Int32(1)
		}, "grid.StopRequest field 1 changed"},
		{"retype AgentRecord.last_heartbeat", func(fdp *descriptorpb.FileDescriptorProto) {
			fieldProto(t, messageProto(t, fdp, "AgentRecord"), "last_heartbeat").Type = descriptorpb.FieldDescriptorProto_TYPE_INT64.Enum()
		}, `grid.AgentRecord field 7 changed: was "last_heartbeat uint64 optional", is "last_heartbeat int64 optional"`},
		{"rename AgentInfo.agent_endpoint", func(fdp *descriptorpb.FileDescriptorProto) {
			fieldProto(t, messageProto(t, fdp, "AgentInfo"), "agent_endpoint").Name = proto.String("endpoint")
		}, "grid.AgentInfo field 6 changed"},
		{"remove ClusterStatus.reason without reserving it", func(fdp *descriptorpb.FileDescriptorProto) {
			m := messageProto(t, fdp, "ClusterStatus")
			m.Field = slices.DeleteFunc(m.Field, func(f *descriptorpb.FieldDescriptorProto) bool { return f.GetName() == "reason" })
		}, "grid.ClusterStatus field 6 (reason string optional) removed"},
		{"remove ClusterStatus.reason with reserved number and name", func(fdp *descriptorpb.FileDescriptorProto) {
			m := messageProto(t, fdp, "ClusterStatus")
			m.Field = slices.DeleteFunc(m.Field, func(f *descriptorpb.FieldDescriptorProto) bool { return f.GetName() == "reason" })
			m.ReservedRange = append(m.ReservedRange, &descriptorpb.DescriptorProto_ReservedRange{Start: proto.Int32(6), End: proto.Int32(7)})
			m.ReservedName = append(m.ReservedName, "reason")
		}, ""},
		{"add a field after the others", func(fdp *descriptorpb.FileDescriptorProto) {
			m := messageProto(t, fdp, "HeartbeatRequest")
			m.Field = append(m.Field, &descriptorpb.FieldDescriptorProto{Name: proto.String("extra"), JsonName: proto.String("extra"), Number: proto.Int32(99),
				Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(), Type: descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum()})
		}, ""},
		{"change an RPC's response", func(fdp *descriptorpb.FileDescriptorProto) {
			fdp.Service[0].Method[0].OutputType = proto.String(".grid.Empty")
		}, "grid.GridMaster/RegisterAgent"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mutated := schemaOf(mutatedGrid(t, tc.edit)...)
			bad := incompatibilities(golden, mutated)
			joined := strings.Join(bad, "\n")
			switch {
			case tc.want == "" && len(bad) > 0:
				t.Fatalf("compatible change refused:\n%s", joined)
			case tc.want == "" && mutated.render() == string(raw):
				t.Fatal("a compatible change must still need an -update of the golden")
			case tc.want != "" && !strings.Contains(joined, tc.want):
				t.Fatalf("incompatibilities = %q, want one containing %q", joined, tc.want)
			}
		})
	}
}

// TestWireGoldenRoundTrip: the golden parses back to what it renders.
func TestWireGoldenRoundTrip(t *testing.T) {
	cur := schemaOf(gridFiles()...)
	back, err := parseWireSchema(cur.render())
	if err != nil {
		t.Fatal(err)
	}
	if back.render() != cur.render() {
		t.Fatalf("render/parse round trip differs:\n%s", lineDiff(cur.render(), back.render()))
	}
	if bad := incompatibilities(cur, back); len(bad) > 0 {
		t.Fatalf("round trip incompatible: %v", bad)
	}
}
