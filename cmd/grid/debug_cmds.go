package main

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/urfave/cli/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// debugCommand is `grid debug bundle` (as `nomad operator debug`).
func debugCommand() *cli.Command {
	return &cli.Command{
		Name:  "debug",
		Usage: "collect diagnostics",
		Subcommands: []*cli.Command{{
			Name: "bundle",
			Usage: "collect status, peers, members, metrics samples, profiles, recent logs, versions and redacted configuration " +
				"from every master and agent reachable into a .tar.gz; index.json says what could not be collected and why",
			Flags: clientFlags(
				&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Required: true, Usage: "archive to write (FILE.tar.gz)"},
				&cli.DurationFlag{Name: "duration", Value: 30 * time.Second, Usage: "how long to sample metrics for"},
				&cli.DurationFlag{Name: "interval", Value: 10 * time.Second, Usage: "time between metrics samples"},
			),
			Action: runDebugBundle,
		}},
	}
}

// bundle is the archive being built: files by path, and what is missing.
type bundle struct {
	files   map[string][]byte
	missing []bundleMiss
}

// bundleMiss is one thing that could not be collected.
type bundleMiss struct {
	Member string `json:"member"`
	Item   string `json:"item"`
	Reason string `json:"reason"`
}

func (b *bundle) add(name string, data []byte) { b.files[name] = data }

func (b *bundle) miss(member, item string, err error) {
	b.missing = append(b.missing, bundleMiss{Member: member, Item: item, Reason: err.Error()})
}

func (b *bundle) addJSON(name string, v any) {
	var data []byte
	if m, ok := v.(proto.Message); ok {
		data, _ = jsonMarshal.Marshal(m)
	} else {
		data, _ = json.MarshalIndent(v, "", "  ")
	}
	b.add(name, data)
}

// bundleMember is a master or an agent to collect from.
type bundleMember struct {
	Role, ID, HTTP string
}

func runDebugBundle(c *cli.Context) error {
	out := c.String("output")
	if !strings.HasSuffix(out, ".tar.gz") && !strings.HasSuffix(out, ".tgz") {
		return cli.Exit("Error: --output must name a .tar.gz file", 2)
	}
	dur, interval := c.Duration("duration"), c.Duration("interval")
	if dur < 0 || interval <= 0 {
		return cli.Exit("Error: --duration must be >= 0 and --interval > 0", 2)
	}
	files, token, err := securityFromFlags(c)
	if err != nil {
		return err
	}
	httpClient, scheme, err := bundleHTTPClient(files.CA, files.Cert, files.Key)
	if err != nil {
		return cli.Exit("Error: "+err.Error(), 2)
	}
	b := &bundle{files: map[string][]byte{}}
	started := time.Now()
	var members []bundleMember
	err = withMaster(c, func(ctx context.Context, client rpc.GridMasterClient) error {
		members = collectCluster(ctx, client, b)
		return nil
	})
	if err != nil {
		return err
	}
	get := func(m bundleMember, p string) ([]byte, error) {
		if m.HTTP == "" {
			return nil, fmt.Errorf("no HTTP address known for %s %s", m.Role, m.ID)
		}
		ctx, cancel := context.WithTimeout(c.Context, 10*time.Second)
		defer cancel()
		return httpGet(ctx, httpClient, scheme+"://"+m.HTTP+p, token)
	}
	for _, m := range members {
		dir := m.Role + "s/" + m.ID + "/"
		for _, item := range []struct{ name, path string }{
			{"config.json", "/debug/config"},
			{"goroutine.txt", "/debug/pprof/goroutine?debug=2"},
			{"heap.pprof", "/debug/pprof/heap"},
		} {
			if data, err := get(m, item.path); err != nil {
				b.miss(m.Role+" "+m.ID, item.name, err)
			} else {
				b.add(dir+item.name, data)
			}
		}
		if data, err := memberLogs(c, m.ID); err != nil {
			b.miss(m.Role+" "+m.ID, "logs.txt", err)
		} else {
			b.add(dir+"logs.txt", data)
		}
	}
	// Metrics samples over --duration, every --interval (at least one).
	failed := map[string]bool{}
	sampling := time.Now()
	for n := 0; ; n++ {
		for _, m := range members {
			data, err := get(m, "/metrics")
			if err != nil {
				if !failed[m.ID] {
					failed[m.ID] = true
					b.miss(m.Role+" "+m.ID, "metrics", err)
				}
				continue
			}
			b.add(fmt.Sprintf("%ss/%s/metrics-%03d.prom", m.Role, m.ID, n), data)
		}
		if time.Since(sampling)+interval > dur {
			break
		}
		select {
		case <-c.Context.Done():
			return cli.Exit("Error: interrupted", 1)
		case <-time.After(interval):
		}
	}
	names := make([]string, 0, len(b.files))
	for name := range b.files {
		names = append(names, name)
	}
	sort.Strings(names)
	b.addJSON("index.json", map[string]any{
		"created_at": started.UTC().Format(time.RFC3339), "grid_version": version, "duration": dur.String(),
		"masters_contacted": masterAddrs(c), "members": members, "collected": names, "not_collected": b.missing,
	})
	if err := writeBundle(out, started, b.files); err != nil {
		return cli.Exit("Error: "+err.Error(), 1)
	}
	fmt.Printf("wrote %s: %d files, %d items not collected (see index.json)\n", out, len(b.files), len(b.missing))
	return nil
}

// collectCluster writes the cluster-wide views and returns the members to
// visit: every master in the Raft configuration, every agent in gossip.
func collectCluster(ctx context.Context, client rpc.GridMasterClient, b *bundle) []bundleMember {
	var members []bundleMember
	if st, err := client.GetClusterStatus(ctx, &rpc.Empty{}); err != nil {
		b.miss("cluster", "status.json", err)
	} else {
		b.addJSON("cluster/status.json", st)
		b.addJSON("cluster/autopilot-health.json", map[string]any{"failure_tolerance": st.GetFailureTolerance(), "masters": st.GetMasters()})
	}
	if ms, err := client.ListMasters(ctx, &rpc.Empty{}); err != nil {
		b.miss("cluster", "list-peers.json", err)
	} else {
		b.addJSON("cluster/list-peers.json", ms)
		for _, m := range ms.GetMasters() {
			members = append(members, bundleMember{Role: "master", ID: m.GetId(), HTTP: m.GetHttpAddr()})
		}
	}
	if mb, err := client.ListMembers(ctx, &rpc.Empty{}); err != nil {
		b.miss("cluster", "members.json", err)
	} else {
		b.addJSON("cluster/members.json", mb)
		for _, m := range mb.GetMembers() {
			if m.GetRole() == rpc.RoleAgent && m.GetTags()[rpc.TagID] != "" {
				members = append(members, bundleMember{Role: "agent", ID: m.GetTags()[rpc.TagID], HTTP: m.GetTags()[rpc.TagHTTPAddr]})
			}
		}
	}
	if ag, err := client.ListAgents(ctx, &rpc.Empty{}); err != nil {
		b.miss("cluster", "agents.json", err)
	} else {
		b.addJSON("cluster/agents.json", ag)
	}
	if nl, err := client.ListStorageNodes(ctx, &rpc.Empty{}); err != nil {
		b.miss("cluster", "nodes.json", err)
	} else {
		b.addJSON("cluster/nodes.json", nl)
	}
	return members
}

// memberLogs is the member's recent log lines through Monitor (tail).
func memberLogs(c *cli.Context, id string) ([]byte, error) {
	var buf strings.Builder
	err := withMaster(c, func(ctx context.Context, client rpc.GridMasterClient) error {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		stream, err := client.Monitor(ctx, &rpc.MonitorRequest{NodeId: id, LogLevel: "debug", Tail: rpc.MaxMonitorTail})
		if err != nil {
			return err
		}
		for {
			line, err := stream.Recv()
			if err != nil {
				// The read is bounded: its deadline (which a relaying master may
				// hit first and report) is the normal end.
				if ctx.Err() != nil || err == io.EOF || status.Code(err) == codes.DeadlineExceeded {
					return nil
				}
				return err
			}
			buf.WriteString(line.GetLine() + "\n")
		}
	})
	if err != nil {
		return nil, fmt.Errorf("%s", strings.TrimPrefix(err.Error(), "Error: "))
	}
	return []byte(buf.String()), nil
}

// bundleHTTPClient is the client for members' HTTP addresses: HTTPS with
// the cluster CA (and the client certificate) when TLS files are given.
func bundleHTTPClient(ca, cert, key string) (*http.Client, string, error) {
	if ca == "" {
		return &http.Client{}, "http", nil
	}
	pem, err := os.ReadFile(ca)
	if err != nil {
		return nil, "", err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, "", fmt.Errorf("%s: no certificate", ca)
	}
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if cert != "" {
		kp, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, "", err
		}
		cfg.Certificates = []tls.Certificate{kp}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}, "https", nil
}

func httpGet(ctx context.Context, client *http.Client, url, token string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(data)))
	}
	return data, nil
}

// writeBundle writes files under one top directory into a .tar.gz.
func writeBundle(out string, at time.Time, files map[string][]byte) error {
	f, err := os.OpenFile(out, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	gz := gzip.NewWriter(f)
	tw := tar.NewWriter(gz)
	top := "grid-debug-" + at.UTC().Format("20060102-150405")
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		hdr := &tar.Header{Name: path.Join(top, n), Mode: 0o600, Size: int64(len(files[n])), ModTime: at}
		if err := tw.WriteHeader(hdr); err != nil {
			f.Close()
			return err
		}
		if _, err := tw.Write(files[n]); err != nil {
			f.Close()
			return err
		}
	}
	if err := tw.Close(); err != nil {
		f.Close()
		return err
	}
	if err := gz.Close(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
