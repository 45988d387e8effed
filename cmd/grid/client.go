package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/urfave/cli/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// clientFlags are shared by every command that talks to a master.
func clientFlags(extra ...cli.Flag) []cli.Flag {
	return append([]cli.Flag{
		&cli.StringFlag{Name: "master", Aliases: []string{"m"}, Value: "127.0.0.1:7000", EnvVars: []string{"GRID_MASTER"},
			Usage: "gRPC address of any master; a comma-separated list is tried in order"},
		&cli.BoolFlag{Name: "json", Usage: "print machine-readable JSON"},
		&cli.DurationFlag{Name: "timeout", Value: 15 * time.Second, Usage: "give up after this long"},
	}, extra...)
}

// masterAddrs splits --master into its addresses.
func masterAddrs(c *cli.Context) []string {
	var out []string
	for _, a := range strings.Split(c.String("master"), ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// dialOptions are the gRPC options client commands use.
func dialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
}

// withMaster runs call against the masters of --master in order, moving on
// to the next address only when one is unreachable. Any master answers or
// forwards to the leader, so the first reachable one is enough.
func withMaster(c *cli.Context, call func(ctx context.Context, client rpc.GridMasterClient) error) error {
	addrs := masterAddrs(c)
	if len(addrs) == 0 {
		return cli.Exit("Error: --master is empty", 2)
	}
	ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
	defer cancel()
	var lastErr error
	for _, addr := range addrs {
		conn, err := grpc.NewClient(addr, dialOptions()...)
		if err != nil {
			lastErr = fmt.Errorf("master %s: %w", addr, err)
			continue
		}
		err = call(ctx, rpc.NewGridMasterClient(conn))
		conn.Close()
		if status.Code(err) == codes.Unavailable && ctx.Err() == nil {
			lastErr = fmt.Errorf("master %s: %w", addr, err)
			continue
		}
		return clientError(err)
	}
	return clientError(lastErr)
}

// clientError turns a gRPC error into a one-line message and exit code 1.
func clientError(err error) error {
	if err == nil {
		return nil
	}
	if st, ok := status.FromError(err); ok {
		return cli.Exit(fmt.Sprintf("Error: %s (%s)", st.Message(), strings.ToLower(st.Code().String())), 1)
	}
	return cli.Exit("Error: "+err.Error(), 1)
}

var jsonMarshal = protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true, Multiline: true, Indent: "  "}

// printJSON writes v as indented JSON; proto messages use their snake_case field names.
func printJSON(v any) error {
	if m, ok := v.(proto.Message); ok {
		b, err := jsonMarshal.Marshal(m)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(os.Stdout, string(b))
		return err
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
