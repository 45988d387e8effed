package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	"google.golang.org/protobuf/proto"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/harness"
)

// floorServeEnv makes this test binary a bare gRPC server (see serveFloor)
// instead of running tests: BenchmarkQueryFloorProbe starts it as a child.
const floorServeEnv = "GRID_PROBE_FLOOR_SERVE"

// rawFrame is a message the raw codec passes through as its bytes.
type rawFrame struct{ b []byte }

// rawCodec sends and receives rawFrames as they are: no marshalling.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return v.(*rawFrame).b, nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	v.(*rawFrame).b = append(v.(*rawFrame).b[:0], data...)
	return nil
}
func (rawCodec) Name() string { return "proto" } // what the peer sees as content-subtype

var _ encoding.Codec = rawCodec{}

// serveFloor is the floor server: a gRPC server with no Grid code that
// answers every unary call on any method with the bytes of the file
// $GRID_PROBE_FLOOR_SERVE (a real QueryEvents reply), with the masters'
// flow-control windows. It prints its address on stdout and serves until
// stdin closes.
func serveFloor() {
	reply, err := os.ReadFile(os.Getenv(floorServeEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	opts := append([]grpc.ServerOption{grpc.ForceServerCodec(rawCodec{}),
		grpc.UnknownServiceHandler(func(_ any, s grpc.ServerStream) error {
			var req rawFrame
			if err := s.RecvMsg(&req); err != nil {
				return err
			}
			return s.SendMsg(&rawFrame{b: reply})
		})}, rpc.WindowServerOptions()...)
	srv := grpc.NewServer(opts...)
	fmt.Println(lis.Addr().String())
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); srv.Stop(); os.Exit(0) }()
	_ = srv.Serve(lis)
}

// BenchmarkQueryFloorProbe is a diagnostic, not a figure (GRID_PROBE=1):
// the floor under event_query_entity_ms_p99_1m. It loads
// BenchmarkEventQuery1M's events ($GRID_BENCH_EVENTS, default 1M), takes one
// real entity query's reply from the leader, starts a bare gRPC server
// (serveFloor, its own process) that returns those bytes, and then
// alternates, in blocks of 100, the bench's entity query on the leader
// with the same request to the bare server, decoded into the same
// rpc.EventList, and once more without decoding (raw bytes), until each
// has GRID_PROBE_TRIALS (default 3,000) timed calls. Same process, same
// minutes, same machine load (GRID_PROBE_CLIENT_GC=block: this process
// collects only between blocks). It logs each kind's percentiles and the CPU
// time per call of the answering process and of this one.
func BenchmarkQueryFloorProbe(b *testing.B) {
	if os.Getenv("GRID_PROBE") != "1" {
		b.Skip("diagnostic: set GRID_PROBE=1")
	}
	n := storedEvents(b)
	c := harness.NewCluster(b, harness.Options{RaftProfile: "default",
		MasterArgs: []string{"--event-max-count", fmt.Sprint(2 * n), "--log-level", "info"}})
	leader := c.WaitLeader(30 * time.Second)
	stored, _ := loadEvents(b, c, leader, n, time.Now())
	c.WaitSameState(5 * time.Minute)
	leader = c.WaitLeader(30 * time.Second)
	perEntity := min(100, stored/queryEntities)

	// One real reply, as bytes on the wire.
	ctx, cancel := harness.Ctx(10 * time.Second)
	r, err := leader.Client().QueryEvents(ctx, &rpc.EventFilter{EntityIds: []string{"node-bench-0001"}, Limit: 100})
	cancel()
	if err != nil {
		b.Fatal(err)
	}
	wire, err := proto.Marshal(r)
	if err != nil {
		b.Fatal(err)
	}
	replyFile := b.TempDir() + "/reply.bin"
	if err := os.WriteFile(replyFile, wire, 0o644); err != nil {
		b.Fatal(err)
	}
	self, _ := os.Executable()
	srv := exec.Command(self)
	srv.Env = append(os.Environ(), floorServeEnv+"="+replyFile)
	srv.Stderr = os.Stderr
	stdin, _ := srv.StdinPipe()
	out, _ := srv.StdoutPipe()
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { stdin.Close(); _ = srv.Wait() }()
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		b.Fatal(err)
	}
	conn, err := grpc.NewClient(strings.TrimSpace(addr), append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials())}, rpc.WindowDialOptions()...)...)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	bare := rpc.NewGridMasterClient(conn)

	trials := probeTrials(3000)
	kinds := []string{"grid leader", "bare gRPC, decoded", "bare gRPC, raw bytes"}
	ds := make([][]time.Duration, len(kinds))
	call := func(k int, f *rpc.EventFilter) time.Duration {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		t0 := time.Now()
		var err error
		got := 0
		switch k {
		case 0:
			var l *rpc.EventList
			l, err = leader.Client().QueryEvents(ctx, f)
			if l != nil {
				got = len(l.Events)
			}
		case 1:
			var l *rpc.EventList
			l, err = bare.QueryEvents(ctx, f)
			if l != nil {
				got = len(l.Events)
			}
		case 2:
			req, _ := proto.Marshal(f)
			var resp rawFrame
			err = conn.Invoke(ctx, rpc.GridMaster_QueryEvents_FullMethodName, &rawFrame{b: req}, &resp, grpc.ForceCodec(rawCodec{}))
			got = perEntity
		}
		took := time.Since(t0)
		if err != nil || got != perEntity {
			b.Fatalf("%s: %d events, %v", kinds[k], got, err)
		}
		return took
	}
	mk := func(i int) *rpc.EventFilter {
		return &rpc.EventFilter{EntityIds: []string{fmt.Sprintf("node-bench-%04d", (i*7919)%queryEntities)}, Limit: 100}
	}
	for k := range kinds { // warm-up
		for i := range queryWarmup {
			call(k, mk(i))
		}
	}
	// CPU time of the answering process and of this one, per kind.
	srvCPU := make([]time.Duration, len(kinds))
	cliCPU := make([]time.Duration, len(kinds))
	srvPID := []int{leader.PID(), srv.Process.Pid, srv.Process.Pid}
	// GRID_PROBE_CLIENT_GC=block: this process collects between blocks
	// (untimed) and not during them, to see how much of each tail is its
	// own GC. Diagnostic only; the bench's client runs with default GC.
	gcBetween := os.Getenv("GRID_PROBE_CLIENT_GC") == "block"
	if gcBetween {
		defer debug.SetGCPercent(debug.SetGCPercent(-1))
	}
	for blk := 0; blk*100 < trials; blk++ {
		for k := range kinds {
			if gcBetween {
				runtime.GC()
			}
			s0, _ := cpuTime(srvPID[k])
			c0, _ := cpuTime(os.Getpid())
			for i := range 100 {
				ds[k] = append(ds[k], call(k, mk(blk*100+i)))
			}
			s1, _ := cpuTime(srvPID[k])
			c1, _ := cpuTime(os.Getpid())
			srvCPU[k] += s1 - s0
			cliCPU[k] += c1 - c0
		}
	}
	ld, _ := os.ReadFile("/proc/loadavg")
	b.Logf("reply %d bytes, %d events; client GC between blocks only: %v; loadavg %s", len(wire), stored, gcBetween, strings.TrimSpace(string(ld)))
	for k, name := range kinds {
		b.Logf("%-22s %d calls: p50 %.3f p90 %.3f p99 %.3f p99.9 %.3f ms; CPU per call: server %.0f us, client %.0f us", name, len(ds[k]),
			percentileMS(ds[k], 0.5), percentileMS(ds[k], 0.9), percentileMS(ds[k], 0.99), percentileMS(ds[k], 0.999),
			float64(srvCPU[k].Microseconds())/float64(len(ds[k])), float64(cliCPU[k].Microseconds())/float64(len(ds[k])))
	}
}
