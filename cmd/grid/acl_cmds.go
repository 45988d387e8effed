package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/urfave/cli/v2"
)

// aclCommand is `grid acl bootstrap|token|policy`.
func aclCommand() *cli.Command {
	return &cli.Command{
		Name:  "acl",
		Usage: "ACL tokens and policies (masters started with --acl)",
		Subcommands: []*cli.Command{
			{
				Name:   "bootstrap",
				Usage:  "create the first management token (once per cluster)",
				Flags:  clientFlags(),
				Action: aclBootstrapAction,
			},
			{
				Name:  "token",
				Usage: "create, list and revoke tokens",
				Subcommands: []*cli.Command{
					{
						Name:      "create",
						Usage:     "create a token with one or more policies",
						UsageText: "grid acl token create --policy NAME [--policy NAME]... [--agent AGENT_ID] [--name NAME] [--ttl 24h]",
						Flags: clientFlags(
							&cli.StringSliceFlag{Name: "policy", Required: true, Usage: "management, operator, read, agent or a custom policy (repeatable)"},
							&cli.StringFlag{Name: "agent", Usage: "bind an agent-policy token to this agent id"},
							&cli.StringFlag{Name: "name", Usage: "a description"},
							&cli.DurationFlag{Name: "ttl", Usage: "expire after this long (default never)"},
						),
						Action: aclTokenCreateAction,
					},
					{Name: "list", Usage: "list tokens (accessor ids, never secrets)", Flags: clientFlags(), Action: aclTokenListAction},
					{Name: "revoke", Usage: "revoke a token", UsageText: "grid acl token revoke ACCESSOR_ID", Flags: clientFlags(), Action: aclTokenRevokeAction},
				},
			},
			{
				Name:  "policy",
				Usage: "custom policies: lists of capabilities",
				Subcommands: []*cli.Command{
					{
						Name:      "create",
						Usage:     "create or replace a custom policy",
						UsageText: "grid acl policy create --name NAME --cap CAPABILITY [--cap ...]",
						Flags: clientFlags(
							&cli.StringFlag{Name: "name", Required: true},
							&cli.StringSliceFlag{Name: "cap", Required: true, Usage: "capability (repeatable), e.g. read, node:spawn"},
							&cli.StringFlag{Name: "description"},
						),
						Action: func(c *cli.Context) error {
							return withMaster(c, func(ctx context.Context, client rpc.GridMasterClient) error {
								_, err := client.ACLPolicyUpsert(ctx, &rpc.ACLPolicy{Name: c.String("name"), Capabilities: c.StringSlice("cap"), Description: c.String("description")})
								if err == nil {
									fmt.Fprintf(c.App.Writer, "policy %s written\n", c.String("name"))
								}
								return err
							})
						},
					},
					{
						Name: "list", Usage: "list built-in and custom policies", Flags: clientFlags(),
						Action: func(c *cli.Context) error {
							return withMaster(c, func(ctx context.Context, client rpc.GridMasterClient) error {
								out, err := client.ACLPolicyList(ctx, &rpc.Empty{})
								if err != nil {
									return err
								}
								if c.Bool("json") {
									return printJSON(out)
								}
								for _, p := range out.GetPolicies() {
									fmt.Fprintf(c.App.Writer, "%-12s %s\n", p.GetName(), strings.Join(p.GetCapabilities(), ","))
								}
								return nil
							})
						},
					},
					{
						Name: "delete", Usage: "delete a custom policy", UsageText: "grid acl policy delete NAME", Flags: clientFlags(),
						Action: func(c *cli.Context) error {
							if c.NArg() != 1 {
								return cli.Exit("Error: want one policy name", 2)
							}
							return withMaster(c, func(ctx context.Context, client rpc.GridMasterClient) error {
								_, err := client.ACLPolicyDelete(ctx, &rpc.ACLPolicyName{Name: c.Args().First()})
								return err
							})
						},
					},
				},
			},
		},
	}
}

// printSecret prints a new token.
func printSecret(c *cli.Context, out *rpc.ACLTokenSecret) error {
	if c.Bool("json") {
		return printJSON(map[string]any{"accessor_id": out.GetToken().GetAccessorId(), "secret_id": out.GetSecretId(),
			"policies": out.GetToken().GetPolicies(), "agent_id": out.GetToken().GetAgentId(), "name": out.GetToken().GetName()})
	}
	fmt.Fprintf(c.App.Writer, "AccessorID: %s\nSecretID:   %s\nPolicies:   %s\n", out.GetToken().GetAccessorId(), out.GetSecretId(),
		strings.Join(out.GetToken().GetPolicies(), ","))
	if a := out.GetToken().GetAgentId(); a != "" {
		fmt.Fprintf(c.App.Writer, "Agent:      %s\n", a)
	}
	return nil
}

func aclBootstrapAction(c *cli.Context) error {
	return withMaster(c, func(ctx context.Context, client rpc.GridMasterClient) error {
		out, err := client.ACLBootstrap(ctx, &rpc.Empty{})
		if err != nil {
			return err
		}
		return printSecret(c, out)
	})
}

func aclTokenCreateAction(c *cli.Context) error {
	ttl := c.Duration("ttl")
	if ttl < 0 || (ttl > 0 && ttl < time.Second) {
		return cli.Exit("Error: --ttl: want at least 1s", 2)
	}
	return withMaster(c, func(ctx context.Context, client rpc.GridMasterClient) error {
		out, err := client.ACLTokenCreate(ctx, &rpc.ACLTokenCreateRequest{Policies: c.StringSlice("policy"),
			AgentId: c.String("agent"), Name: c.String("name"), TtlSeconds: int64(ttl / time.Second)})
		if err != nil {
			return err
		}
		return printSecret(c, out)
	})
}

func aclTokenListAction(c *cli.Context) error {
	return withMaster(c, func(ctx context.Context, client rpc.GridMasterClient) error {
		out, err := client.ACLTokenList(ctx, &rpc.Empty{})
		if err != nil {
			return err
		}
		if c.Bool("json") {
			return printJSON(out)
		}
		fmt.Fprintf(c.App.Writer, "%-36s  %-20s  %-10s  %s\n", "ACCESSOR", "POLICIES", "AGENT", "NAME")
		for _, t := range out.GetTokens() {
			fmt.Fprintf(c.App.Writer, "%-36s  %-20s  %-10s  %s\n", t.GetAccessorId(), strings.Join(t.GetPolicies(), ","), t.GetAgentId(), t.GetName())
		}
		return nil
	})
}

func aclTokenRevokeAction(c *cli.Context) error {
	if c.NArg() != 1 {
		return cli.Exit("Error: want one accessor id", 2)
	}
	return withMaster(c, func(ctx context.Context, client rpc.GridMasterClient) error {
		_, err := client.ACLTokenRevoke(ctx, &rpc.ACLAccessor{AccessorId: c.Args().First()})
		if err == nil {
			fmt.Fprintf(c.App.Writer, "revoked %s\n", c.Args().First())
		}
		return err
	})
}
