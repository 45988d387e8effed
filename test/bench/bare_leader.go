package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/gridctl/grid/rpc"
	"google.golang.org/grpc"
)

// bareLeaderEnv, set in this test binary's environment, makes TestMain
// serve a bare gRPC leader (serveBareLeader) instead of running benches.
const bareLeaderEnv = "GRID_BENCH_BARE_LEADER"

// bareLeaderIntervalMs is the heartbeat interval the bare leader returns:
// the leader's for 10,000 agents at --max-heartbeats-per-second 2,000.
const bareLeaderIntervalMs = 5000

// bareLeader answers `grid sim-agents` as a leader does, with none of
// Grid's code: registration is accepted without Raft, and each beat of a
// HeartbeatStream gets its answer (the fields a leader fills) on the
// handler's goroutine with no token, rate-limit, registry or liveness
// work. Its CPU time per beat is what gRPC and the Go runtime alone cost.
type bareLeader struct {
	rpc.UnimplementedGridMasterServer
	addr string
}

// GetClusterStatus names the bare leader as the leader (the sim asks it).
func (l *bareLeader) GetClusterStatus(context.Context, *rpc.Empty) (*rpc.ClusterStatus, error) {
	return &rpc.ClusterStatus{Status: "healthy", Leader: &rpc.MasterInfo{Id: "bare", GrpcAddr: l.addr, State: "leader"}}, nil
}

// RegisterAgent accepts every agent.
func (l *bareLeader) RegisterAgent(context.Context, *rpc.AgentInfo) (*rpc.RegistrationResponse, error) {
	return &rpc.RegistrationResponse{Success: true, HeartbeatIntervalMs: bareLeaderIntervalMs, LeaderId: "bare"}, nil
}

// HeartbeatStream answers every beat, one answer per request.
func (l *bareLeader) HeartbeatStream(stream rpc.GridMaster_HeartbeatStreamServer) error {
	in, resp := &rpc.HeartbeatRequest{}, &rpc.HeartbeatResponse{}
	for {
		if err := stream.RecvMsg(in); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		resp.Acknowledged, resp.Timestamp, resp.NextIntervalMs, resp.LeaderId = true, uint64(time.Now().Unix()), bareLeaderIntervalMs, "bare"
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
}

// serveBareLeader serves a bareLeader on a loopback port with the gRPC
// server options of a master that shape the serving path (static
// flow-control windows, 64 stream workers, message size bounds; no TLS, as
// the bench cluster), prints its address on stdout and serves until stdin
// closes.
func serveBareLeader() error {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := grpc.NewServer(append([]grpc.ServerOption{
		grpc.MaxRecvMsgSize(4 << 20),
		grpc.MaxSendMsgSize(16 << 20),
		grpc.NumStreamWorkers(64),
	}, rpc.WindowServerOptions()...)...)
	rpc.RegisterGridMasterServer(srv, &bareLeader{addr: lis.Addr().String()})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		srv.Stop()
	}()
	fmt.Println(lis.Addr().String())
	return srv.Serve(lis)
}

// startBareLeader runs this test binary as a bare leader process and
// returns it with its address; closing stdin (the returned stop) ends it.
func startBareLeader() (cmd *exec.Cmd, addr string, stop func(), err error) {
	cmd = exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), bareLeaderEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, "", nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", nil, err
	}
	stop = func() {
		stdin.Close()
		_ = cmd.Wait()
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		stop()
		return nil, "", nil, fmt.Errorf("bare leader: no address: %w", err)
	}
	return cmd, strings.TrimSpace(line), stop, nil
}
