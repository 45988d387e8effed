package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/rpc/security"
	"github.com/urfave/cli/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// clientFlags are shared by every command that talks to a master.
func clientFlags(extra ...cli.Flag) []cli.Flag {
	return append([]cli.Flag{
		&cli.StringFlag{Name: "master", Aliases: []string{"m"}, Value: "127.0.0.1:7000", EnvVars: []string{"GRID_MASTER"},
			Usage: "gRPC address of any master; a comma-separated list is tried in order"},
		&cli.BoolFlag{Name: "json", Usage: "print machine-readable JSON"},
		&cli.DurationFlag{Name: "timeout", Value: 15 * time.Second, Usage: "give up after this long"},
		&cli.StringFlag{Name: "api-token", EnvVars: []string{"GRID_API_TOKEN"}, Usage: "bearer token sent on every call (needed for changes when masters run with --api-token)"},
		&cli.StringFlag{Name: "request-id", Usage: "request id of a change (made anew per run when empty): repeating a command with the same id is not carried out twice"},
	}, append(tlsFlags(), extra...)...)
}

// tlsFlags are --tls-ca, --tls-cert and --tls-key (GRID_TLS_CA, _CERT,
// _KEY), shared by masters, agents and client commands.
func tlsFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "tls-ca", EnvVars: []string{"GRID_TLS_CA"}, Usage: "cluster CA certificate (PEM); with --tls-cert and --tls-key turns mutual TLS on"},
		&cli.StringFlag{Name: "tls-cert", EnvVars: []string{"GRID_TLS_CERT"}, Usage: "this member's certificate (PEM), signed by --tls-ca"},
		&cli.StringFlag{Name: "tls-key", EnvVars: []string{"GRID_TLS_KEY"}, Usage: "the private key of --tls-cert (PEM)"},
	}
}

// tlsFiles reads the TLS flags.
func tlsFiles(c *cli.Context) security.TLSFiles {
	return security.TLSFiles{CA: c.String("tls-ca"), Cert: c.String("tls-cert"), Key: c.String("tls-key")}
}

// securityFromFlags checks and returns the TLS files and API token of a
// command; a bad setting is a usage error (exit 2).
func securityFromFlags(c *cli.Context) (security.TLSFiles, string, error) {
	files, token := tlsFiles(c), c.String("api-token")
	if err := files.Validate(); err != nil {
		return files, "", cli.Exit("Error: "+err.Error(), 2)
	}
	if err := security.ValidateTokens(token, ""); err != nil {
		return files, "", cli.Exit("Error: "+err.Error(), 2)
	}
	return files, token, nil
}

// masterAddrs splits --master into its addresses: host:port,
// http://host:port (the seed's form) or a comma-separated list of either.
func masterAddrs(c *cli.Context) []string {
	var out []string
	for _, a := range strings.Split(c.String("master"), ",") {
		if a = normalizeMaster(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// normalizeMaster strips a scheme and a trailing path from a master
// address ("http://localhost:7000/" -> "localhost:7000").
func normalizeMaster(s string) string {
	s = strings.TrimSpace(s)
	for _, p := range []string{"http://", "https://", "grpc://", "dns:///"} {
		if len(s) >= len(p) && strings.EqualFold(s[:len(p)], p) {
			s = s[len(p):]
		}
	}
	if i := strings.IndexByte(s, '/'); i >= 0 {
		s = s[:i]
	}
	return s
}

// dialOptions are the gRPC options client commands use: mutual TLS when
// the TLS flags are given (the server name is the dialed host) and the API
// token on every call.
func dialOptions(c *cli.Context) ([]grpc.DialOption, error) {
	files, token, err := securityFromFlags(c)
	if err != nil {
		return nil, err
	}
	if id := c.String("request-id"); id != "" {
		if err := rpc.ValidateRequestID(id); err != nil {
			return nil, cli.Exit("Error: "+err.Error(), 2)
		}
	}
	opts, err := securityDialOptions(files, token)
	if err != nil {
		return nil, err
	}
	return append(opts, grpc.WithUnaryInterceptor(newRequestIDs(c).interceptor)), nil
}

// securityDialOptions are the transport and per-call credentials for files
// and token.
func securityDialOptions(files security.TLSFiles, token string) ([]grpc.DialOption, error) {
	creds, err := security.DialCredentials(files, "")
	if err != nil {
		return nil, cli.Exit("Error: "+err.Error(), 2)
	}
	return []grpc.DialOption{grpc.WithTransportCredentials(creds), grpc.WithPerRPCCredentials(security.TokenCredentials(token))}, nil
}

// withMaster runs call against the masters of --master in order, moving on
// to the next address only when one is unreachable. Any master answers or
// forwards to the leader, so the first reachable one is enough.
func withMaster(c *cli.Context, call func(ctx context.Context, client rpc.GridMasterClient) error) error {
	return withMasterCtx(c, func(ctx context.Context) (context.Context, context.CancelFunc) {
		return context.WithTimeout(ctx, c.Duration("timeout"))
	}, call)
}

// withMasterCtx is withMaster with the call's context made by bound.
func withMasterCtx(c *cli.Context, bound func(context.Context) (context.Context, context.CancelFunc),
	call func(ctx context.Context, client rpc.GridMasterClient) error) error {
	addrs := masterAddrs(c)
	if len(addrs) == 0 {
		return cli.Exit("Error: --master is empty", 2)
	}
	ctx, cancel := bound(c.Context)
	defer cancel()
	opts, err := dialOptions(c)
	if err != nil {
		return err
	}
	var tried []string
	var answered error
	for _, addr := range addrs {
		conn, err := grpc.NewClient(addr, opts...)
		if err != nil {
			tried = append(tried, fmt.Sprintf("%s (%s)", addr, unreachableReason(err)))
			continue
		}
		err = call(ctx, rpc.NewGridMasterClient(conn))
		conn.Close()
		if status.Code(err) == codes.Unavailable && ctx.Err() == nil {
			if isTransportError(err) {
				tried = append(tried, fmt.Sprintf("%s (%s)", addr, unreachableReason(err)))
			} else {
				answered = err // it answered, but could not serve (e.g. no leader): try another
			}
			continue
		}
		if status.Code(err) == codes.Unavailable && isTransportError(err) {
			tried = append(tried, fmt.Sprintf("%s (%s)", addr, unreachableReason(err)))
			break
		}
		return clientError(err)
	}
	if answered != nil {
		return clientError(answered)
	}
	return noMasterError(tried)
}

// noMasterError says which masters were tried, why each failed, and what to check.
func noMasterError(tried []string) error {
	return cli.Exit("Error: no master reachable. Tried: "+strings.Join(tried, "; ")+".\n"+
		"Check that a master is running there (grid master, or grid dev for a local cluster), that --master\n"+
		"(or GRID_MASTER) names its gRPC address (host:port, default port 7000; not the HTTP port 9000),\n"+
		"and that --tls-ca/--tls-cert/--tls-key match the cluster's TLS setting.", 1)
}

// isTransportError reports whether a gRPC Unavailable error came from the
// connection (the master is not there) rather than from the master itself
// (for example "no leader").
func isTransportError(err error) bool {
	msg := status.Convert(err).Message()
	for _, s := range []string{"connection error", "transport", "dial", "connect:", "name resolver", "produced zero addresses", "handshake", "EOF"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// unreachableReason is the short cause of a connection failure.
func unreachableReason(err error) string {
	msg := status.Convert(err).Message()
	for _, s := range []string{"connection refused", "no such host", "i/o timeout", "network is unreachable",
		"no route to host", "certificate", "tls:", "connection reset", "produced zero addresses", "missing port", "too many colons"} {
		if strings.Contains(msg, s) {
			return s
		}
	}
	if status.Code(err) == codes.DeadlineExceeded {
		return "timed out"
	}
	return msg
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
