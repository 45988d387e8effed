package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/rpc/security"
	"github.com/urfave/cli/v2"
)

// keyringCommand is `grid operator keyring list|install|use|remove`: the
// contacted master runs the operation on every master and agent alive in
// gossip. Rotate with install NEW, use NEW, remove OLD.
func keyringCommand() *cli.Command {
	sub := func(op, usage string, needsKey bool) *cli.Command {
		cmd := &cli.Command{
			Name:  op,
			Usage: usage,
			Flags: clientFlags(&cli.BoolFlag{Name: "local", Usage: "only the contacted master, not the whole cluster"}),
			Action: func(c *cli.Context) error {
				return runKeyring(c, op, needsKey)
			},
		}
		if needsKey {
			cmd.ArgsUsage = "KEY"
		}
		return cmd
	}
	return &cli.Command{
		Name:  "keyring",
		Usage: "rotate the gossip encryption key on every master and agent",
		Subcommands: []*cli.Command{
			sub(security.KeyringList, "list each member's gossip keys and its primary (encrypting) key", false),
			sub(security.KeyringInstall, "add KEY to every member's keyring (members then read messages sealed with it)", true),
			sub(security.KeyringUse, "make KEY, already installed, the key every member encrypts with", true),
			sub(security.KeyringRemove, "remove KEY (not the primary) from every member's keyring", true),
		},
	}
}

func runKeyring(c *cli.Context, op string, needsKey bool) error {
	req := &rpc.KeyringRequest{Op: op, Local: c.Bool("local")}
	switch {
	case needsKey && c.NArg() != 1:
		return cli.Exit(fmt.Sprintf("Error: grid operator keyring %s takes one KEY (base64, `grid keygen`)", op), 2)
	case !needsKey && c.NArg() != 0:
		return cli.Exit(fmt.Sprintf("Error: grid operator keyring %s takes no argument", op), 2)
	case needsKey:
		req.Key = strings.TrimSpace(c.Args().First())
		if _, err := security.ParseGossipKey(req.Key); err != nil {
			return cli.Exit("Error: "+err.Error(), 2)
		}
	}
	var failed int
	err := withMaster(c, func(ctx context.Context, client rpc.GridMasterClient) error {
		resp, err := client.Keyring(ctx, req)
		if err != nil {
			return err
		}
		for _, m := range resp.GetMembers() {
			if m.GetError() != "" {
				failed++
			}
		}
		if c.Bool("json") {
			return printJSON(resp)
		}
		printKeyring(op, resp.GetMembers())
		return nil
	})
	if err != nil {
		return err
	}
	if failed > 0 {
		return cli.Exit(fmt.Sprintf("Error: keyring %s failed on %d member(s)", op, failed), 1)
	}
	return nil
}

// printKeyring prints one line per member and key; list also sums up how
// many members hold each key.
func printKeyring(op string, members []*rpc.KeyringMember) {
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "MEMBER\tKIND\tKEY\tPRIMARY\tERROR")
	holders := map[string]int{}
	for _, m := range members {
		if m.GetError() != "" {
			fmt.Fprintf(w, "%s\t%s\t-\t-\t%s\n", m.GetId(), m.GetKind(), m.GetError())
			continue
		}
		for _, k := range m.GetKeys() {
			holders[k]++
			primary := ""
			if k == m.GetPrimary() {
				primary = "yes"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t\n", m.GetId(), m.GetKind(), k, primary)
		}
	}
	_ = w.Flush()
	if op == security.KeyringList {
		fmt.Printf("\n%d member(s); ", len(members))
		parts := make([]string, 0, len(holders))
		for k, n := range holders {
			parts = append(parts, fmt.Sprintf("%s on %d", k, n))
		}
		sort.Strings(parts)
		fmt.Println(strings.Join(parts, ", "))
	}
}
