package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/urfave/cli/v2"
)

// devMaster is one master of the dev cluster and its fixed loopback ports.
type devMaster struct {
	id                       string
	grpc, raft, gossip, http int
}

var devMasters = []devMaster{
	{"master-1", 7000, 7001, 7946, 9000},
	{"master-2", 7100, 7101, 7956, 9001},
	{"master-3", 7200, 7201, 7966, 9002},
}

func devCommand() *cli.Command {
	return &cli.Command{
		Name:  "dev",
		Usage: "run a local cluster: 3 masters and 2 agents on 127.0.0.1, dashboard on http://127.0.0.1:9000",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "data-dir", Value: "data/dev", Usage: "where the processes keep their state"},
			&cli.IntFlag{Name: "agents", Value: 2, Usage: "number of agents"},
			&cli.BoolFlag{Name: "clean", Usage: "remove --data-dir first"},
			&cli.StringFlag{Name: "raft-profile", Value: "default", Usage: "default|fast"},
			&cli.BoolFlag{Name: "log-json", Usage: "every process logs JSON objects, one per line, unprefixed"},
		},
		Action: runDev,
	}
}

func runDev(c *cli.Context) error {
	jsonLogs := c.Bool("log-json")
	logger := hclog.New(&hclog.LoggerOptions{Name: "dev", Level: hclog.Info, JSONFormat: jsonLogs})
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	dir, err := filepath.Abs(c.String("data-dir"))
	if err != nil {
		return err
	}
	if c.Bool("clean") {
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
	}
	var procs []*exec.Cmd
	var wg sync.WaitGroup
	start := func(name string, args ...string) error {
		if jsonLogs {
			args = append(args, "--log-json")
		}
		cmd := exec.Command(exe, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		out, err := cmd.StdoutPipe()
		if err != nil {
			return err
		}
		cmd.Stderr = cmd.Stdout
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start %s: %w", name, err)
		}
		procs = append(procs, cmd)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if jsonLogs { // a prefix would break the JSON; each line names its module
				_, _ = io.Copy(os.Stdout, out)
				return
			}
			prefixLines(os.Stdout, name, out)
		}()
		return nil
	}
	var joins, grpcs []string
	for _, m := range devMasters {
		joins = append(joins, fmt.Sprintf("127.0.0.1:%d", m.gossip))
		grpcs = append(grpcs, fmt.Sprintf("127.0.0.1:%d", m.grpc))
	}
	for _, m := range devMasters {
		err := start(m.id, "master", "--id", m.id, "--data-dir", filepath.Join(dir, m.id),
			"--grpc-addr", fmt.Sprintf("127.0.0.1:%d", m.grpc), "--raft-addr", fmt.Sprintf("127.0.0.1:%d", m.raft),
			"--gossip-addr", fmt.Sprintf("127.0.0.1:%d", m.gossip), "--http-addr", fmt.Sprintf("127.0.0.1:%d", m.http),
			"--bootstrap-expect", fmt.Sprint(len(devMasters)), "--join", strings.Join(joins, ","),
			"--raft-profile", c.String("raft-profile"))
		if err != nil {
			return err
		}
	}
	for i := 1; i <= c.Int("agents"); i++ {
		id := fmt.Sprintf("agent-%03d", i)
		from := 50051 + (i-1)*50
		err := start(id, "agent", "--id", id, "--data-dir", filepath.Join(dir, id),
			"--grpc-addr", fmt.Sprintf("127.0.0.1:%d", 8000+i), "--gossip-addr", fmt.Sprintf("127.0.0.1:%d", 7946+i),
			"--masters", strings.Join(grpcs, ","), "--port-range", fmt.Sprintf("%d-%d", from, from+49),
			"--http-addr", fmt.Sprintf("127.0.0.1:%d", 8100+i),
			"--stop-nodes-on-exit") // Ctrl-C stops the storage nodes too
		if err != nil {
			return err
		}
	}
	logger.Info("dev cluster starting", "dashboard", "http://127.0.0.1:9000", "masters", strings.Join(grpcs, ","), "data_dir", dir)
	logger.Info("try: bin/grid status; kill the leader's process and watch the dashboard move to the new leader")

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	<-sigs
	logger.Info("stopping dev cluster")
	for _, p := range procs {
		_ = p.Process.Signal(syscall.SIGTERM)
	}
	done := make(chan struct{})
	go func() {
		for _, p := range procs {
			_ = p.Wait()
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		for _, p := range procs {
			_ = syscall.Kill(-p.Process.Pid, syscall.SIGKILL)
		}
	}
	wg.Wait()
	return nil
}

// prefixLines copies r to w line by line, each line prefixed with name.
func prefixLines(w io.Writer, name string, r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fmt.Fprintf(w, "%-10s | %s\n", name, sc.Text())
	}
}
