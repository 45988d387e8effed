package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// healthCommand is `grid health`: a probe for container health checks and
// scripts (the image has no shell or curl). Exit 0 when healthy, 1 if not.
func healthCommand() *cli.Command {
	return &cli.Command{
		Name:  "health",
		Usage: "probe a local master (HTTP /healthz) or agent (gRPC health); exit 0 when healthy",
		UsageText: "grid health --http 127.0.0.1:9000 [--path /readyz]\n" +
			"   grid health --grpc 127.0.0.1:8001",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "http", Usage: "a master's HTTP address; GET --path must answer 200"},
			&cli.StringFlag{Name: "path", Value: "/healthz", Usage: "HTTP path to probe (/healthz: process up; /readyz: has a leader and caught up)"},
			&cli.StringFlag{Name: "grpc", Usage: "a master's or agent's gRPC address; grpc.health.v1 must say SERVING"},
			&cli.DurationFlag{Name: "timeout", Value: 3 * time.Second, Usage: "give up after this long"},
		}, tlsFlags()...),
		Action: runHealth,
	}
}

func runHealth(c *cli.Context) error {
	httpAddr, grpcAddr := normalizeMaster(c.String("http")), normalizeMaster(c.String("grpc"))
	if (httpAddr == "") == (grpcAddr == "") {
		return cli.Exit("Error: give exactly one of --http or --grpc", exitUsage)
	}
	ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
	defer cancel()
	if httpAddr != "" {
		path := c.String("path")
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		scheme := "http"
		if tlsFiles(c).Enabled() {
			scheme = "https" // certificate checks are for gRPC; this probes liveness only
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+httpAddr+path, nil)
		if err != nil {
			return cli.Exit("Error: "+err.Error(), exitUsage)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return cli.Exit(fmt.Sprintf("Error: unhealthy: %v", err), exitError)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return cli.Exit(fmt.Sprintf("Error: unhealthy: GET %s answered %s", path, resp.Status), exitError)
		}
		fmt.Fprintln(c.App.Writer, "healthy")
		return nil
	}
	opts, err := securityDialOptions(tlsFiles(c), "")
	if err != nil {
		return err
	}
	conn, err := grpc.NewClient(grpcAddr, opts...)
	if err != nil {
		return cli.Exit("Error: "+err.Error(), exitUsage)
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return cli.Exit(fmt.Sprintf("Error: unhealthy: %s: %s", grpcAddr, unreachableReason(err)), exitError)
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return cli.Exit(fmt.Sprintf("Error: unhealthy: %s reports %s", grpcAddr, resp.GetStatus()), exitError)
	}
	fmt.Fprintln(c.App.Writer, "healthy")
	return nil
}
