package main

import (
	"fmt"

	"github.com/gridctl/grid/rpc/security"
	"github.com/urfave/cli/v2"
)

// tlsCommand is `grid tls create-ca|create-cert`: the cluster's CA and the
// members' certificates for mutual TLS.
func tlsCommand() *cli.Command {
	return &cli.Command{
		Name:  "tls",
		Usage: "create the cluster CA and member certificates for mutual TLS",
		Subcommands: []*cli.Command{
			{
				Name:      "create-ca",
				Usage:     "write a new cluster CA (ca.pem, ca-key.pem) into --out",
				UsageText: "grid tls create-ca --out DIR [--days N]",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "out", Required: true, Usage: "directory for ca.pem and ca-key.pem (created if missing)"},
					&cli.IntFlag{Name: "days", Value: security.DefaultCADays, Usage: "validity in days"},
				},
				Action: createCAAction,
			},
			{
				Name:      "create-cert",
				Usage:     "write NAME.pem and NAME-key.pem signed by the CA, for NAME, localhost and 127.0.0.1",
				UsageText: "grid tls create-cert --ca-dir DIR --name NAME --out DIR [--role server|agent|client] [--cluster NAME] [--ip IP]... [--dns NAME]... [--days N]",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "ca-dir", Required: true, Usage: "directory holding ca.pem and ca-key.pem"},
					&cli.StringFlag{Name: "name", Required: true, Usage: "member name: common name, SAN and file name"},
					&cli.StringFlag{Name: "out", Required: true, Usage: "directory for NAME.pem and NAME-key.pem (created if missing)"},
					&cli.StringSliceFlag{Name: "ip", Usage: "extra IP address the certificate is valid for (repeatable)"},
					&cli.StringSliceFlag{Name: "dns", Usage: "extra DNS name the certificate is valid for (repeatable)"},
					&cli.IntFlag{Name: "days", Value: security.DefaultCertDays, Usage: "validity in days"},
					&cli.StringFlag{Name: "role", Value: security.RoleServer, Usage: "server (masters), agent (agents) or client (operators, CLI): the SAN <role>.<cluster>.grid"},
					&cli.StringFlag{Name: "cluster", Value: security.DefaultCertCluster, Usage: "cluster name in the role SAN"},
				},
				Action: createCertAction,
			},
		},
	}
}

// createCAAction writes a new CA.
func createCAAction(c *cli.Context) error {
	if c.NArg() > 0 {
		return cli.Exit(fmt.Sprintf("Error: unexpected argument %q", c.Args().First()), 2)
	}
	if c.Int("days") < 1 {
		return cli.Exit(fmt.Sprintf("Error: --days %d: want at least 1", c.Int("days")), 2)
	}
	certPath, keyPath, err := security.WriteCA(c.String("out"), c.Int("days"))
	if err != nil {
		return cli.Exit("Error: create CA: "+err.Error(), 1)
	}
	fmt.Fprintf(c.App.Writer, "wrote %s\nwrote %s (keep it secret, off the cluster's machines)\n", certPath, keyPath)
	return nil
}

// createCertAction writes a member certificate signed by the CA.
func createCertAction(c *cli.Context) error {
	if c.NArg() > 0 {
		return cli.Exit(fmt.Sprintf("Error: unexpected argument %q", c.Args().First()), 2)
	}
	if c.Int("days") < 1 {
		return cli.Exit(fmt.Sprintf("Error: --days %d: want at least 1", c.Int("days")), 2)
	}
	req := security.CertRequest{
		Name:     c.String("name"),
		IPs:      c.StringSlice("ip"),
		DNSNames: c.StringSlice("dns"),
		Days:     c.Int("days"),
		Role:     c.String("role"),
		Cluster:  c.String("cluster"),
	}
	switch req.Role {
	case security.RoleServer, security.RoleAgent, security.RoleClient:
	default:
		return cli.Exit(fmt.Sprintf("Error: --role %q: want server, agent or client", req.Role), 2)
	}
	certPath, keyPath, err := security.WriteCert(c.String("ca-dir"), req, c.String("out"))
	if err != nil {
		return cli.Exit("Error: create certificate: "+err.Error(), 1)
	}
	fmt.Fprintf(c.App.Writer, "wrote %s\nwrote %s\n", certPath, keyPath)
	return nil
}

// keygenCommand is `grid keygen`: a fresh gossip encryption key for --encrypt.
func keygenCommand() *cli.Command {
	return &cli.Command{
		Name:      "keygen",
		Usage:     "print a fresh base64 gossip encryption key for --encrypt",
		UsageText: "grid keygen",
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return cli.Exit(fmt.Sprintf("Error: unexpected argument %q", c.Args().First()), 2)
			}
			key, err := security.NewGossipKey()
			if err != nil {
				return cli.Exit("Error: keygen: "+err.Error(), 1)
			}
			fmt.Fprintln(c.App.Writer, key)
			return nil
		},
	}
}
