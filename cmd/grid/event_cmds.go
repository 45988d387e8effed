package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/urfave/cli/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
)

// Bounds the CLI checks before asking a master.
const (
	eventsMaxLimit   = 10000
	queryMaxBytes    = 10 << 10
	followRetryDelay = 500 * time.Millisecond
)

func eventsCommand() *cli.Command {
	return &cli.Command{
		Name:  "events",
		Usage: "list events from the replicated event history (--follow to stream new ones)",
		Flags: clientFlags(
			&cli.StringSliceFlag{Name: "type", Aliases: []string{"t"}, Usage: "event type name or code (repeatable or comma-separated), e.g. spawn_failed,30"},
			&cli.StringSliceFlag{Name: "entity", Aliases: []string{"e"}, Usage: "entity id (agent-001, a node id, cluster, a master id); repeatable"},
			&cli.StringFlag{Name: "since", Usage: "only events at or after: RFC3339, a date (2026-11-20) or a duration ago (2h, 30m, 7d)"},
			&cli.StringFlag{Name: "until", Usage: "only events before: RFC3339, a date or a duration ago"},
			&cli.Float64Flag{Name: "hours", Usage: "only events of the last N hours (instead of --since)"},
			&cli.Uint64Flag{Name: "after", Usage: "only events with seq greater than this"},
			&cli.IntFlag{Name: "limit", Aliases: []string{"n"}, Value: 100, Usage: "at most this many events (1-10000)"},
			&cli.BoolFlag{Name: "ascending", Usage: "oldest first"},
			&cli.BoolFlag{Name: "stale", Usage: "answer from the contacted master's replica"},
			&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "after listing, stream new events until interrupted (reconnects to another --master)"},
		),
		Action: func(c *cli.Context) error {
			filter, err := eventFilterFromFlags(c, time.Now())
			if err != nil {
				return cli.Exit("Error: "+err.Error(), 1)
			}
			if c.Bool("follow") {
				return followEvents(c, filter)
			}
			return withMaster(c, func(ctx context.Context, client rpc.GridMasterClient) error {
				resp, err := client.QueryEvents(ctx, filter)
				if err != nil {
					return err
				}
				if c.Bool("json") {
					return printJSON(resp)
				}
				printEventTable(os.Stdout, resp.GetEvents())
				fmt.Printf("%d events (stored seq %d-%d)\n", len(resp.GetEvents()), resp.GetFirstSeq(), resp.GetLastSeq())
				return nil
			})
		},
	}
}

// eventFilterFromFlags validates the flags of `grid events` into a filter.
func eventFilterFromFlags(c *cli.Context, now time.Time) (*rpc.EventFilter, error) {
	f := &rpc.EventFilter{After: c.Uint64("after"), Ascending: c.Bool("ascending"), Stale: c.Bool("stale")}
	for _, raw := range c.StringSlice("type") {
		for _, name := range strings.Split(raw, ",") {
			if name = strings.TrimSpace(name); name == "" {
				continue
			}
			t, err := rpc.ParseEventType(name)
			if err != nil {
				return nil, fmt.Errorf("--type %q: not an event type name or code (e.g. spawn_failed or 12)", name)
			}
			if !slices.Contains(f.Types, t) {
				f.Types = append(f.Types, t)
			}
		}
	}
	for _, raw := range c.StringSlice("entity") {
		for _, e := range strings.Split(raw, ",") {
			if e = strings.TrimSpace(e); e != "" {
				f.EntityIds = append(f.EntityIds, e)
			}
		}
	}
	if c.IsSet("hours") && c.IsSet("since") {
		return nil, errors.New("--hours and --since both set; give one")
	}
	if c.IsSet("hours") {
		h := c.Float64("hours")
		if h <= 0 || h > 24*366*10 {
			return nil, fmt.Errorf("--hours %v: must be above 0 and at most ten years", h)
		}
		f.Since = now.Add(-time.Duration(h * float64(time.Hour))).UnixMicro()
	}
	var err error
	if s := c.String("since"); s != "" {
		if f.Since, err = parseWhen(s, now); err != nil {
			return nil, fmt.Errorf("--since: %w", err)
		}
	}
	if s := c.String("until"); s != "" {
		if f.Until, err = parseWhen(s, now); err != nil {
			return nil, fmt.Errorf("--until: %w", err)
		}
	}
	if f.Since != 0 && f.Until != 0 && f.Until <= f.Since {
		return nil, errors.New("--until must be later than --since")
	}
	limit := c.Int("limit")
	if limit < 1 || limit > eventsMaxLimit {
		return nil, fmt.Errorf("--limit %d: must be 1-%d", limit, eventsMaxLimit)
	}
	f.Limit = uint32(limit)
	return f, nil
}

// parseWhen reads RFC3339, a date, a date and time, or a duration ago
// ("2h", "30m", "7d") into unix micros.
func parseWhen(s string, now time.Time) (int64, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UnixMicro(), nil
	}
	for _, layout := range []string{"2006-01-02", "2006-01-02T15:04", "2006-01-02 15:04"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t.UnixMicro(), nil
		}
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n > 0 && n <= 3660 {
			return now.AddDate(0, 0, -n).UnixMicro(), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d).UnixMicro(), nil
	}
	return 0, fmt.Errorf("%q is not a time: use RFC3339 (2026-11-20T14:00:00Z), a date (2026-11-20) or a duration ago (2h, 30m, 7d)", s)
}

// followEvents lists the matching events oldest first, then streams new
// ones. On an error it moves to the next --master and resumes after the
// last seq printed, so nothing is skipped or printed twice.
func followEvents(c *cli.Context, filter *rpc.EventFilter) error {
	addrs := masterAddrs(c)
	if len(addrs) == 0 {
		return cli.Exit("Error: --master is empty", 2)
	}
	asJSON := c.Bool("json")
	after, listed := filter.GetAfter(), false
	printed := false
	opts, err := dialOptions(c)
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		addr := addrs[attempt%len(addrs)]
		err := followOnce(c.Context, addr, opts, filter, &after, &listed, &printed, asJSON)
		if c.Context.Err() != nil {
			return nil
		}
		if code := status.Code(err); code == codes.InvalidArgument || code == codes.OutOfRange || code == codes.PermissionDenied || code == codes.Unauthenticated {
			return clientError(err)
		}
		fmt.Fprintf(os.Stderr, "stream from %s ended (%v); resuming after seq %d on the next master\n", addr, err, after)
		select {
		case <-c.Context.Done():
			return nil
		case <-time.After(followRetryDelay):
		}
	}
}

// followOnce lists (the first time) and streams from one master.
func followOnce(ctx context.Context, addr string, opts []grpc.DialOption, filter *rpc.EventFilter, after *uint64, listed, printed *bool, asJSON bool) error {
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return err
	}
	defer conn.Close()
	client := rpc.NewGridMasterClient(conn)
	emit := func(e *rpc.Event) {
		if e.GetSeq() <= *after {
			return
		}
		*after = e.GetSeq()
		if asJSON {
			b, _ := protoJSON(e, protojson.MarshalOptions{UseProtoNames: true})
			fmt.Println(string(b))
			return
		}
		if !*printed {
			fmt.Printf("%-8s %-24s %-20s %-20s %s\n", "SEQ", "TIME", "TYPE", "ENTITY", "DETAILS")
			*printed = true
		}
		fmt.Printf("%-8d %-24s %-20s %-20s %s\n", e.GetSeq(), formatMicros(e.GetTimestamp()), e.GetType().Name(), e.GetEntityId(), formatDetails(e.GetDetails()))
	}
	if !*listed {
		qctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		resp, err := client.QueryEvents(qctx, filter)
		cancel()
		if err != nil {
			return err
		}
		events := resp.GetEvents()
		if !filter.GetAscending() {
			slices.Reverse(events)
		}
		for _, e := range events {
			emit(e)
		}
		// Everything stored so far has been considered: stream from the top.
		if resp.GetLastSeq() > *after {
			*after = resp.GetLastSeq()
		}
		*listed = true
	}
	stream, err := client.StreamEvents(ctx, &rpc.StreamEventsRequest{
		After:  *after,
		Filter: &rpc.EventFilter{Types: filter.GetTypes(), EntityIds: filter.GetEntityIds()},
	})
	if err != nil {
		return err
	}
	for {
		e, err := stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return errors.New("stream closed by the master")
			}
			return err
		}
		emit(e)
	}
}

func queryCommand() *cli.Command {
	return &cli.Command{
		Name:      "query",
		Usage:     `ask about the event history in plain English, e.g. grid query "spawn failures in the last 2 hours"`,
		ArgsUsage: `"question"`,
		Flags:     clientFlags(),
		Action: func(c *cli.Context) error {
			q := strings.TrimSpace(strings.Join(c.Args().Slice(), " "))
			if q == "" {
				return cli.Exit(`Error: give a question, e.g. grid query "what happened to agent-001 today"`, 1)
			}
			if len(q) > queryMaxBytes {
				return cli.Exit(fmt.Sprintf("Error: the question is %d bytes; the limit is %d", len(q), queryMaxBytes), 1)
			}
			return withMaster(c, func(ctx context.Context, client rpc.GridMasterClient) error {
				resp, err := client.AskQuery(ctx, callerQuery(q, time.Now()))
				if err != nil {
					return err
				}
				if c.Bool("json") {
					return printJSON(resp)
				}
				printQueryAnswer(os.Stdout, resp)
				return nil
			})
		},
	}
}

// printQueryAnswer shows the interpretation, then the answer.
func printQueryAnswer(w io.Writer, resp *rpc.NaturalQueryResponse) {
	in := resp.GetInterpretation()
	line := []string{"intent=" + in.GetIntent()}
	if len(in.GetEventTypes()) > 0 {
		line = append(line, "types="+strings.Join(in.GetEventTypes(), ","))
	}
	if len(in.GetEntities()) > 0 {
		line = append(line, "entities="+strings.Join(in.GetEntities(), ","))
	}
	if in.GetSince() != 0 {
		line = append(line, "since="+formatMicros(in.GetSince()))
	}
	if in.GetUntil() != 0 {
		line = append(line, "until="+formatMicros(in.GetUntil()))
	}
	if in.GetStateTarget() != "" {
		line = append(line, "state="+in.GetStateTarget()+"/"+in.GetStateStatus())
	}
	line = append(line, interpretationExtras(in)...)
	fmt.Fprintf(w, "Interpretation: %s\n", strings.Join(line, " "))
	if resp.GetExplanation() != "" {
		fmt.Fprintln(w, resp.GetExplanation())
	}
	fmt.Fprintln(w)
	switch {
	case in.GetIntent() == "state" && in.GetStateTarget() == "nodes":
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NODE\tAGENT\tSTATUS\tPID\tENDPOINT")
		for _, n := range resp.GetNodes() {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", n.GetNodeId(), n.GetAgentId(), n.GetStatus(), n.GetPid(), n.GetEndpoint())
		}
		tw.Flush()
		fmt.Fprintf(w, "%d nodes\n", len(resp.GetNodes()))
	case in.GetIntent() == "state":
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "AGENT\tSTATUS\tNODES\tLAST HEARTBEAT")
		for _, a := range resp.GetAgents() {
			fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%s\n", a.GetAgentId(), a.GetStatus(), a.GetCurrentStorageNodes(), a.GetMaxStorageNodes(), formatUnix(int64(a.GetLastHeartbeat())))
		}
		tw.Flush()
		fmt.Fprintf(w, "%d agents\n", len(resp.GetAgents()))
	case in.GetIntent() == "count":
		fmt.Fprintf(w, "Count: %d\n", resp.GetCount())
	case in.GetIntent() == "aggregate" && len(in.GetUnknownEntities()) == 0:
		printGroups(w, in.GetGroupBy(), resp.GetGroups())
	case in.GetIntent() == "why" && len(resp.GetChain()) > 0:
		printChain(w, resp.GetChain())
	default:
		printEventTable(w, resp.GetResults())
		fmt.Fprintf(w, "%d events\n", resp.GetCount())
	}
	if ex := resp.GetExamples(); len(ex) > 0 {
		fmt.Fprintln(w, "\nTry for example:")
		for _, q := range ex {
			fmt.Fprintf(w, "  grid query %q\n", q)
		}
	}
}

// printEventTable writes events as SEQ TIME TYPE ENTITY DETAILS.
func printEventTable(w io.Writer, events []*rpc.Event) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTIME\tTYPE\tENTITY\tDETAILS")
	for _, e := range events {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", e.GetSeq(), formatMicros(e.GetTimestamp()), e.GetType().Name(), e.GetEntityId(), formatDetails(e.GetDetails()))
	}
	tw.Flush()
}

func formatMicros(us int64) string {
	return time.UnixMicro(us).Local().Format("2006-01-02 15:04:05.000")
}

func formatUnix(sec int64) string {
	if sec == 0 {
		return "-"
	}
	return time.Unix(sec, 0).Local().Format("2006-01-02 15:04:05")
}

// formatDetails renders details as sorted key=value pairs.
func formatDetails(d map[string]string) string {
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + strconv.Quote(d[k])
	}
	return strings.Join(parts, " ")
}

// callerQuery is a question with the caller's time zone, so "today" is the
// caller's day: the IANA name (from $TZ or /etc/localtime) and the offset.
func callerQuery(q string, now time.Time) *rpc.NaturalQueryRequest {
	_, off := now.Zone()
	return &rpc.NaturalQueryRequest{Query: q, TimeZone: localZoneName(), UtcOffsetS: int32(off), HasUtcOffset: true}
}

// localZoneName is this machine's IANA zone name, or "" when unknown.
func localZoneName() string {
	if tz := strings.TrimPrefix(os.Getenv("TZ"), ":"); tz != "" && !strings.HasPrefix(tz, "/") {
		return tz
	}
	if name := time.Local.String(); name != "Local" && name != "" {
		return name
	}
	if target, err := os.Readlink("/etc/localtime"); err == nil {
		if _, name, ok := strings.Cut(target, "zoneinfo/"); ok {
			return name
		}
	}
	return ""
}
