package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/gridctl/grid/cluster/events"
	"github.com/gridctl/grid/rpc"
	"github.com/urfave/cli/v2"
)

// alertFlags are the master's alert and webhook flags.
func alertFlags() []cli.Flag {
	def := events.DefaultConfig()
	return []cli.Flag{
		&cli.StringFlag{Name: "alert-rules", Usage: "HCL or JSON file of alert_rule blocks (change or switch off a built-in rule, add custom ones) and webhook blocks (per webhook a URL, secret and event types)"},
		&cli.StringSliceFlag{Name: "webhook", Usage: "http(s) URL the leader POSTs alerts to, signed and in seq order (repeatable)"},
		&cli.StringFlag{Name: "webhook-secret", Usage: "HMAC-SHA256 key signing --webhook deliveries (X-Grid-Signature)"},
		&cli.StringFlag{Name: "webhook-events", Value: "alerts", Usage: "what --webhook receives: alerts, all, or event types comma-separated"},
		&cli.DurationFlag{Name: "webhook-max-lag", Value: def.WebhookMaxLag, Usage: "a webhook failing longer than this raises webhook_failing"},
	}
}

// applyAlertFlags fills the alert rules and webhooks of cfg from the flags
// and --alert-rules; any bad rule or URL is refused before start.
func applyAlertFlags(c *cli.Context, cfg *events.Config) error {
	var fileRules []events.AlertRule
	var hooks []events.WebhookConfig
	if path := c.String("alert-rules"); path != "" {
		var err error
		if fileRules, hooks, err = events.LoadAlertFile(path); err != nil {
			return err
		}
	}
	cfg.AlertRules = events.MergeAlertRules(events.DefaultAlertRules(), fileRules)
	var types []string
	switch v := strings.TrimSpace(c.String("webhook-events")); v {
	case "", "alerts":
	case "all", "*":
		types = []string{"*"}
	default:
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				types = append(types, t)
			}
		}
	}
	for _, u := range c.StringSlice("webhook") {
		w := events.WebhookConfig{URL: strings.TrimSpace(u), Secret: c.String("webhook-secret"), EventTypes: types}
		if err := w.Validate(); err != nil {
			return fmt.Errorf("--webhook: %w", err)
		}
		hooks = append(hooks, w)
	}
	seen := map[string]bool{}
	for _, w := range hooks {
		if seen[w.WebhookName()] {
			return fmt.Errorf("webhook %q is configured twice", w.WebhookName())
		}
		seen[w.WebhookName()] = true
	}
	cfg.Webhooks = hooks
	if cfg.WebhookMaxLag = c.Duration("webhook-max-lag"); cfg.WebhookMaxLag <= 0 {
		return fmt.Errorf("--webhook-max-lag must be positive")
	}
	return nil
}

func alertsCommand() *cli.Command {
	return &cli.Command{
		Name:  "alerts",
		Usage: "list firing alerts (--all: resolved ones too)",
		Flags: clientFlags(&cli.BoolFlag{Name: "all", Usage: "include resolved alerts"}),
		Action: func(c *cli.Context) error {
			return withMaster(c, func(ctx context.Context, client rpc.GridMasterClient) error {
				resp, err := client.ListAlerts(ctx, &rpc.ListAlertsRequest{All: c.Bool("all")})
				if err != nil {
					return err
				}
				if c.Bool("json") {
					return printJSON(resp)
				}
				printAlerts(os.Stdout, resp.GetAlerts())
				return nil
			})
		},
	}
}

func printAlerts(w io.Writer, alerts []*rpc.Alert) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RULE\tKEY\tSTATE\tFIRED\tRESOLVED\tTRIGGERS\tSUMMARY")
	for _, a := range alerts {
		resolved := "-"
		if a.GetResolvedAt() != 0 {
			resolved = formatMicros(a.GetResolvedAt())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", a.GetRule(), a.GetKey(), a.GetState(), formatMicros(a.GetFiredAt()),
			resolved, len(a.GetTriggerEventIds()), a.GetSummary())
	}
	tw.Flush()
	fmt.Fprintf(w, "%d alerts\n", len(alerts))
}

func webhooksCommand() *cli.Command {
	return &cli.Command{
		Name:  "webhooks",
		Usage: "webhook delivery",
		Subcommands: []*cli.Command{{
			Name:  "status",
			Usage: "show each webhook's acknowledged seq and lag (answered by the leader)",
			Flags: clientFlags(),
			Action: func(c *cli.Context) error {
				return withMaster(c, func(ctx context.Context, client rpc.GridMasterClient) error {
					resp, err := client.WebhookStatus(ctx, &rpc.Empty{})
					if err != nil {
						return err
					}
					if c.Bool("json") {
						return printJSON(resp)
					}
					tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "NAME\tURL\tACKED SEQ\tLAST SEQ\tLAG\tDELIVERED\tFAILING SINCE\tLAST ERROR")
					for _, h := range resp.GetWebhooks() {
						failing := "-"
						if h.GetFailingSince() != 0 {
							failing = formatMicros(h.GetFailingSince())
						}
						fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\n", h.GetName(), h.GetUrl(), h.GetAckedSeq(), h.GetLastSeq(),
							h.GetLag(), h.GetDelivered(), failing, h.GetLastError())
					}
					tw.Flush()
					fmt.Printf("%d webhooks\n", len(resp.GetWebhooks()))
					return nil
				})
			},
		}},
	}
}

// interpretationExtras are the issue-18 parts of a query's interpretation line.
func interpretationExtras(in *rpc.QueryInterpretation) []string {
	var out []string
	if in.GetGroupBy() != "" {
		out = append(out, "group_by="+in.GetGroupBy(), "order="+in.GetOrder())
		if in.GetLimit() > 0 {
			out = append(out, "limit="+strconv.Itoa(int(in.GetLimit())))
		}
	}
	if h := in.GetHaving(); h != nil {
		out = append(out, "having="+h.GetOp()+":"+strconv.Itoa(int(h.GetCount())))
	}
	if a := in.GetAnchor(); a != nil {
		s := "anchor=" + a.GetRelation() + ":" + strings.Join(a.GetEventTypes(), ",")
		if a.GetEntity() != "" {
			s += ":" + a.GetEntity()
		}
		if evs := a.GetEvents(); len(evs) > 0 {
			s += "@" + formatMicros(evs[0].GetTimestamp())
		}
		out = append(out, s)
	}
	for _, u := range in.GetUnknownEntities() {
		out = append(out, "unknown="+u.GetEntity()+"(did you mean "+strings.Join(u.GetSuggestions(), ", ")+"?)")
	}
	return out
}

// printGroups writes aggregate rows as a table.
func printGroups(w io.Writer, key string, groups []*rpc.QueryGroup) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "%s\tCOUNT\n", strings.ToUpper(key))
	for _, g := range groups {
		fmt.Fprintf(tw, "%s\t%d\n", g.GetKey(), g.GetCount())
	}
	tw.Flush()
	fmt.Fprintf(w, "%d rows\n", len(groups))
}

// printChain writes a why answer as a causal chain, oldest first.
func printChain(w io.Writer, chain []*rpc.CausalStep) {
	for i, st := range chain {
		e := st.GetEvent()
		arrow := "  "
		if i > 0 {
			arrow = "->"
		}
		fmt.Fprintf(w, "%s %s  seq %-6d %-18s %-14s (%s)\n", arrow, formatMicros(e.GetTimestamp()), e.GetSeq(),
			e.GetType().Name(), e.GetEntityId(), st.GetLink())
	}
	fmt.Fprintf(w, "%d steps\n", len(chain))
}
