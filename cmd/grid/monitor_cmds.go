package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/gridctl/grid/rpc"
	"github.com/urfave/cli/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// monitorCommand is `grid monitor`: a member's log lines, live, until
// Ctrl-C (as `nomad monitor`).
func monitorCommand() *cli.Command {
	return &cli.Command{
		Name:  "monitor",
		Usage: "stream a master's or an agent's log lines live (Ctrl-C to stop); needs the full token when one is set",
		Flags: clientFlags(
			&cli.StringFlag{Name: "log-level", Value: "info", Usage: "trace|debug|info|warn|error"},
			&cli.StringFlag{Name: "node", Aliases: []string{"n"}, Usage: "the master or agent id to follow (default: the master contacted)"},
			&cli.UintFlag{Name: "tail", Usage: "first print up to this many recent lines (at most 1000)"},
		),
		Action: runMonitor,
	}
}

func runMonitor(c *cli.Context) error {
	if _, err := rpc.ParseLogLevel(c.String("log-level")); err != nil {
		return cli.Exit("Error: --log-level: "+err.Error(), 2)
	}
	if c.Uint("tail") > rpc.MaxMonitorTail {
		return cli.Exit(fmt.Sprintf("Error: --tail %d: at most %d", c.Uint("tail"), rpc.MaxMonitorTail), 2)
	}
	addrs := masterAddrs(c)
	if len(addrs) == 0 {
		return cli.Exit("Error: --master is empty", 2)
	}
	opts, err := dialOptions(c)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(c.Context, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	req := &rpc.MonitorRequest{LogLevel: c.String("log-level"), NodeId: c.String("node"), Json: c.Bool("json"), Tail: uint32(c.Uint("tail"))}
	var lastErr error
	for _, addr := range addrs {
		err := followLogs(ctx, addr, opts, req, os.Stdout)
		if status.Code(err) == codes.Unavailable && ctx.Err() == nil {
			lastErr = fmt.Errorf("master %s: %w", addr, err)
			continue
		}
		return clientError(err)
	}
	return clientError(lastErr)
}

// followLogs prints the lines of one Monitor stream until ctx ends (nil)
// or the stream fails.
func followLogs(ctx context.Context, addr string, opts []grpc.DialOption, req *rpc.MonitorRequest, w io.Writer) error {
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return err
	}
	defer conn.Close()
	stream, err := rpc.NewGridMasterClient(conn).Monitor(ctx, req)
	if err != nil {
		return err
	}
	for {
		line, err := stream.Recv()
		if ctx.Err() != nil || errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintln(w, line.GetLine()); err != nil {
			return err
		}
	}
}
