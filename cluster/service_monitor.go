package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/rpc/security"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Monitor streams a member's log lines (`grid monitor`): this master's own
// when node_id is empty or its id, else those of the master or agent named,
// relayed from that member's own Monitor. The relay carries node_id, so the
// member answers for itself and a request is forwarded at most once.
func (s *gridService) Monitor(req *rpc.MonitorRequest, stream grpc.ServerStreamingServer[rpc.LogLine]) error {
	m := s.m
	id := req.GetNodeId()
	if _, err := rpc.ParseLogLevel(req.GetLogLevel()); err != nil {
		return rpc.ToStatus(err)
	}
	if id == "" || id == m.config.ID {
		return rpc.ToStatus(rpc.ServeMonitor(stream.Context(), m.config.LogBroker, req, stream.Send))
	}
	if err := rpc.ValidateID("node_id", id); err != nil {
		return rpc.ToStatus(err)
	}
	ctx := stream.Context()
	if addr := m.masterGRPCAddr(id); addr != "" {
		conn, err := grpc.NewClient(addr, m.dialOptions()...)
		if err != nil {
			return status.Errorf(codes.Unavailable, "dial master %s at %s: %v", id, addr, err)
		}
		defer conn.Close()
		// The other master authorizes the caller: its own token rides along.
		if tok := security.BearerFrom(ctx); tok != "" {
			ctx = security.WithBearerOverride(ctx, tok)
		}
		src, err := rpc.NewGridMasterClient(conn).Monitor(ctx, req)
		if err != nil {
			return err
		}
		return relayLogLines(ctx, src, stream, "master "+id)
	}
	if ag, ok := m.fsm.Agent(id); ok && ag.GetEndpoint() != "" {
		conn, err := grpc.NewClient(ag.GetEndpoint(), m.agentDialOptions()...)
		if err != nil {
			return status.Errorf(codes.Unavailable, "dial agent %s at %s: %v", id, ag.GetEndpoint(), err)
		}
		defer conn.Close()
		src, err := rpc.NewGridAgentClient(conn).Monitor(ctx, req)
		if err != nil {
			return err
		}
		return relayLogLines(ctx, src, stream, "agent "+id)
	}
	return status.Errorf(codes.NotFound, "no master or agent %q", id)
}

// relayLogLines copies a member's Monitor stream to the caller until either
// side ends. The member's own error (its code) reaches the caller as is.
func relayLogLines(ctx context.Context, src grpc.ServerStreamingClient[rpc.LogLine], dst grpc.ServerStreamingServer[rpc.LogLine], who string) error {
	for {
		line, err := src.Recv()
		if errors.Is(err, io.EOF) || ctx.Err() != nil {
			return nil
		}
		if err != nil {
			if _, ok := status.FromError(err); ok {
				return err
			}
			return status.Errorf(codes.Unavailable, "log stream of %s: %v", who, err)
		}
		if err := dst.Send(line); err != nil {
			return fmt.Errorf("send log line: %w", err)
		}
	}
}

// masterGRPCAddr is the gRPC address of the master with this id ("" when
// no master by that id is known): from gossip, else the raft configuration.
func (m *Master) masterGRPCAddr(id string) string {
	masters, _, _, err := m.mastersView()
	if err != nil {
		return ""
	}
	for _, mi := range masters {
		if mi.GetId() == id {
			return mi.GetGrpcAddr()
		}
	}
	return ""
}
