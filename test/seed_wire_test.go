package test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bufbuild/protocompile"
	"github.com/gridctl/grid/rpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"
)

// seedProtoFiles are the seeds' protocol files.
var seedProtoFiles = []string{"grid.proto", "agent.proto", "storage.proto"}

// repoRoot walks up from the working directory to go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

// seedProtoDir is ../shared/seeds/proto beside the repository when present
// (checked equal to the committed copy), else rpc/testdata/seeds.
func seedProtoDir(t *testing.T) string {
	t.Helper()
	root := repoRoot(t)
	committed := filepath.Join(root, "rpc", "testdata", "seeds")
	shared := filepath.Join(filepath.Dir(root), "shared", "seeds", "proto")
	if _, err := os.Stat(shared); err != nil {
		if _, err := os.Stat(committed); err != nil {
			t.Skipf("the seeds' protocol files are neither in %s nor in %s", shared, committed)
		}
		t.Logf("%s is absent; using the committed copy %s", shared, committed)
		return committed
	}
	for _, name := range seedProtoFiles {
		a, errA := os.ReadFile(filepath.Join(shared, name))
		b, errB := os.ReadFile(filepath.Join(committed, name))
		if errA != nil || errB != nil || !bytes.Equal(a, b) {
			t.Fatalf("rpc/testdata/seeds/%s differs from %s (%v, %v): copy it again", name, shared, errA, errB)
		}
	}
	return shared
}

// fields are a request's field values by proto field name.
type fields map[string]any

// wireProtocol speaks one description of the protocol: the seeds' files
// compiled at test time with dynamic messages, or Grid's generated stubs.
type wireProtocol struct {
	find   func(protoreflect.FullName) (protoreflect.Descriptor, error)
	newMsg func(protoreflect.MessageDescriptor) (protoreflect.Message, error)
	invoke func(ctx context.Context, cc *grpc.ClientConn, method string, in, out protoreflect.Message) error
}

// seedProtocol compiles the seeds' three files and invokes methods with
// dynamicpb messages through grpc.ClientConn.Invoke: no generated code.
func seedProtocol(t *testing.T) *wireProtocol {
	t.Helper()
	c := protocompile.Compiler{Resolver: &protocompile.SourceResolver{ImportPaths: []string{seedProtoDir(t)}}}
	files, err := c.Compile(context.Background(), seedProtoFiles...)
	if err != nil {
		t.Fatalf("compile the seeds' protocol: %v", err)
	}
	return &wireProtocol{
		find: files.AsResolver().FindDescriptorByName,
		newMsg: func(md protoreflect.MessageDescriptor) (protoreflect.Message, error) {
			return dynamicpb.NewMessage(md), nil
		},
		invoke: func(ctx context.Context, cc *grpc.ClientConn, method string, in, out protoreflect.Message) error {
			return cc.Invoke(ctx, method, in.Interface(), out.Interface())
		},
	}
}

type stubFunc func(ctx context.Context, in proto.Message) (proto.Message, error)

func stub[I, O proto.Message](f func(context.Context, I, ...grpc.CallOption) (O, error)) stubFunc {
	return func(ctx context.Context, in proto.Message) (proto.Message, error) {
		out, err := f(ctx, in.(I))
		if err != nil {
			return nil, err
		}
		return out, nil
	}
}

// gridStubs are Grid's generated clients for the methods the scenario calls.
func gridStubs(cc *grpc.ClientConn) map[string]stubFunc {
	g, a, s := rpc.NewGridMasterClient(cc), rpc.NewGridAgentClient(cc), rpc.NewStorageServiceClient(cc)
	return map[string]stubFunc{
		rpc.GridMaster_RegisterAgent_FullMethodName:        stub(g.RegisterAgent),
		rpc.GridMaster_Heartbeat_FullMethodName:            stub(g.Heartbeat),
		rpc.GridMaster_UnregisterAgent_FullMethodName:      stub(g.UnregisterAgent),
		rpc.GridMaster_SpawnStorageNode_FullMethodName:     stub(g.SpawnStorageNode),
		rpc.GridMaster_StopStorageNode_FullMethodName:      stub(g.StopStorageNode),
		rpc.GridMaster_GetStorageNodeStatus_FullMethodName: stub(g.GetStorageNodeStatus),
		rpc.GridMaster_ListAgents_FullMethodName:           stub(g.ListAgents),
		rpc.GridMaster_GetClusterStatus_FullMethodName:     stub(g.GetClusterStatus),
		rpc.GridAgent_SpawnNode_FullMethodName:             stub(a.SpawnNode),
		rpc.GridAgent_GetNodeStatus_FullMethodName:         stub(a.GetNodeStatus),
		rpc.GridAgent_ListNodes_FullMethodName:             stub(a.ListNodes),
		rpc.StorageService_GetStats_FullMethodName:         stub(s.GetStats),
		rpc.StorageService_HealthCheck_FullMethodName:      stub(s.HealthCheck),
		rpc.StorageService_GetNeighbors_FullMethodName:     stub(s.GetNeighbors),
		rpc.StorageService_QueryConcept_FullMethodName:     stub(s.QueryConcept),
		rpc.StorageService_LearnConcept_FullMethodName:     stub(s.LearnConcept),
		rpc.StorageService_FindPath_FullMethodName:         stub(s.FindPath),
		rpc.StorageService_VectorSearch_FullMethodName:     stub(s.VectorSearch),
	}
}

// gridProtocol uses Grid's generated message types and client stubs.
func gridProtocol() *wireProtocol {
	return &wireProtocol{
		find: protoregistry.GlobalFiles.FindDescriptorByName,
		newMsg: func(md protoreflect.MessageDescriptor) (protoreflect.Message, error) {
			mt, err := protoregistry.GlobalTypes.FindMessageByName(md.FullName())
			if err != nil {
				return nil, err
			}
			return mt.New(), nil
		},
		invoke: func(ctx context.Context, cc *grpc.ClientConn, method string, in, out protoreflect.Message) error {
			f, ok := gridStubs(cc)[method]
			if !ok {
				panic("no Grid stub listed for " + method)
			}
			resp, err := f(ctx, in.Interface())
			if err == nil {
				proto.Merge(out.Interface(), resp)
			}
			return err
		},
	}
}

// call invokes service/method (e.g. "agent.GridAgent", "SpawnNode") on cc
// with a request made of in.
func (p *wireProtocol) call(t *testing.T, cc *grpc.ClientConn, service, method string, in fields) (protoreflect.Message, error) {
	t.Helper()
	d, err := p.find(protoreflect.FullName(service))
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if err != nil || !ok {
		t.Fatalf("service %s: %v", service, err)
	}
	md := sd.Methods().ByName(protoreflect.Name(method))
	if md == nil {
		t.Fatalf("%s has no method %s", service, method)
	}
	req, err := p.newMsg(md.Input())
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range in {
		setField(t, req, name, v)
	}
	resp, err := p.newMsg(md.Output())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return resp, p.invoke(ctx, cc, "/"+service+"/"+method, req, resp)
}

// must is call that fails the test on an error.
func (p *wireProtocol) must(t *testing.T, cc *grpc.ClientConn, service, method string, in fields) protoreflect.Message {
	t.Helper()
	resp, err := p.call(t, cc, service, method, in)
	if err != nil {
		t.Fatalf("%s/%s(%v): %v", service, method, in, err)
	}
	return resp
}

func fieldOf(t *testing.T, m protoreflect.Message, name string) protoreflect.FieldDescriptor {
	t.Helper()
	fd := m.Descriptor().Fields().ByName(protoreflect.Name(name))
	if fd == nil {
		t.Fatalf("%s has no field %s", m.Descriptor().FullName(), name)
	}
	return fd
}

func setField(t *testing.T, m protoreflect.Message, name string, v any) {
	t.Helper()
	fd := fieldOf(t, m, name)
	var val protoreflect.Value
	switch x := v.(type) {
	case string:
		val = protoreflect.ValueOfString(x)
	case bool:
		val = protoreflect.ValueOfBool(x)
	case int:
		switch fd.Kind() {
		case protoreflect.Uint32Kind:
			val = protoreflect.ValueOfUint32(uint32(x))
		case protoreflect.Uint64Kind:
			val = protoreflect.ValueOfUint64(uint64(x))
		default:
			t.Fatalf("field %s is %s, not an unsigned integer", name, fd.Kind())
		}
	default:
		t.Fatalf("field %s: unsupported value %T", name, v)
	}
	m.Set(fd, val)
}

func getStr(t *testing.T, m protoreflect.Message, name string) string {
	t.Helper()
	return m.Get(fieldOf(t, m, name)).String()
}

func getUint(t *testing.T, m protoreflect.Message, name string) uint64 {
	t.Helper()
	return m.Get(fieldOf(t, m, name)).Uint()
}

func getBool(t *testing.T, m protoreflect.Message, name string) bool {
	t.Helper()
	return m.Get(fieldOf(t, m, name)).Bool()
}

func getFloat(t *testing.T, m protoreflect.Message, name string) float64 {
	t.Helper()
	return m.Get(fieldOf(t, m, name)).Float()
}

func getList(t *testing.T, m protoreflect.Message, name string) []protoreflect.Message {
	t.Helper()
	l := m.Get(fieldOf(t, m, name)).List()
	out := make([]protoreflect.Message, l.Len())
	for i := range out {
		out[i] = l.Get(i).Message()
	}
	return out
}

func getStrs(t *testing.T, m protoreflect.Message, name string) []string {
	t.Helper()
	l := m.Get(fieldOf(t, m, name)).List()
	out := make([]string, l.Len())
	for i := range out {
		out[i] = l.Get(i).String()
	}
	return out
}

// findBy returns the message in ms whose field key equals want, or nil.
func findBy(t *testing.T, ms []protoreflect.Message, key, want string) protoreflect.Message {
	t.Helper()
	for _, m := range ms {
		if getStr(t, m, key) == want {
			return m
		}
	}
	return nil
}

// dialInsecure is a plain gRPC connection to addr, closed at cleanup.
func dialInsecure(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// binaryVersion is the version `grid --version` prints on its first line
// ("grid X", then commit, Go version and platform).
func binaryVersion(t *testing.T, bin string) string {
	t.Helper()
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatalf("grid --version: %v", err)
	}
	first, _, _ := strings.Cut(string(out), "\n")
	f := strings.Fields(first)
	if len(f) == 0 {
		t.Fatal("grid --version printed nothing")
	}
	return f[len(f)-1]
}
