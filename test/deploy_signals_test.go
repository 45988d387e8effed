package test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gridctl/grid/test/harness"
	"github.com/gridctl/grid/test/waitfor"
)

// TestSIGHUPReloadsTheMasterLogLevel: a master started from a config file
// at log_level "info" logs no debug line (its start-up has many at debug);
// after the file says "debug" and SIGHUP arrives it logs debug lines
// (memberlist's, for a connection to its gossip port) without a restart.
func TestSIGHUPReloadsTheMasterLogLevel(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "master.hcl")
	grpcAddr, raftAddr, gossip, httpAddr := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	write := func(level string) {
		text := fmt.Sprintf("data_dir = %q\ngrpc_addr = %q\nraft_addr = %q\ngossip_addr = %q\nhttp_addr = %q\n"+
			"bootstrap_expect = 1\nraft_profile = \"fast\"\nlog_level = %q\n",
			filepath.Join(dir, "data"), grpcAddr, raftAddr, gossip, httpAddr, level)
		if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("info")
	p := &harness.Proc{Name: "reload-master", Args: []string{"master", "--id", "reload-master", "--config", cfg}, Log: filepath.Join(dir, "master.log")}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop(10 * time.Second) })
	waitfor.Until(t, 30*time.Second, "the master leads", func() (bool, string) {
		tail := p.Tail(1 << 20)
		return strings.Contains(tail, "cluster leadership acquired"), tail
	})
	if tail := p.Tail(1 << 20); strings.Contains(tail, "[DEBUG]") {
		t.Fatalf("a master at log_level info logged debug lines:\n%s", tail)
	}

	write("debug")
	if err := syscall.Kill(p.PID(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitfor.Until(t, 15*time.Second, "debug lines after SIGHUP", func() (bool, string) {
		tail := p.Tail(1 << 20)
		_, after, reloaded := strings.Cut(tail, "log level set")
		if !reloaded {
			return false, "no reload yet:\n" + tail
		}
		if conn, err := net.DialTimeout("tcp", gossip, time.Second); err == nil { // memberlist logs each stream at debug
			conn.Close()
		}
		return strings.Contains(after, "[DEBUG]"), after
	})
	if !p.Running() {
		t.Fatalf("the master exited on SIGHUP:\n%s", p.Tail(3000))
	}
}

// TestDevCtrlCStopsEverything: `grid dev` (in its own network namespace,
// so its fixed ports collide with nothing) with a storage node spawned,
// then SIGINT: grid dev exits and no process started under its data dir,
// storage nodes included, is left.
func TestDevCtrlCStopsEverything(t *testing.T) {
	if !agentBuilt(t) {
		t.Skip("grid agent not built yet")
	}
	n := harness.NewNetworkWith(t, deployNetwork) // skips with the reason when not root or `ip` is missing
	ns, err := n.Add("dev")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	t.Cleanup(func() {
		for _, pid := range harness.ProcsUnder(data) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	dev := &harness.Proc{Name: "dev", Args: []string{"dev", "--data-dir", data, "--agents", "1", "--raft-profile", "fast"}, Log: filepath.Join(dir, "dev.log")}
	if err := ns.Start(dev); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dev.Stop(20 * time.Second) })

	spawn := &harness.Proc{Name: "spawn", Args: []string{"spawn", "--master", "127.0.0.1:7000", "--agent", "agent-001", "--node-id", "dev-node-1", "--json"}, Log: filepath.Join(dir, "spawn.log")}
	waitfor.Until(t, 90*time.Second, "a storage node spawned through the dev cluster", func() (bool, string) {
		if err := ns.Start(spawn); err != nil {
			return false, err.Error()
		}
		if err := spawn.Wait(30 * time.Second); err != nil {
			return false, err.Error()
		}
		if code := spawn.ExitCode(); code != 0 {
			return false, fmt.Sprintf("grid spawn exit %d: %s\n%s", code, spawn.Tail(500), dev.Tail(2000))
		}
		return len(harness.StorageNodeProcs(data)) > 0, "no storage-node process under " + data
	})
	if len(harness.ProcsUnder(data)) < 5 {
		t.Fatalf("want 3 masters, an agent and a storage node under %s, got pids %v", data, harness.ProcsUnder(data))
	}

	if err := syscall.Kill(dev.PID(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := dev.Wait(40 * time.Second); err != nil {
		t.Fatalf("grid dev did not exit on SIGINT: %v\n%s", err, dev.Tail(3000))
	}
	waitfor.Until(t, 10*time.Second, "no process left under "+data, func() (bool, string) {
		left := harness.ProcsUnder(data)
		var what []string
		for _, pid := range left {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			what = append(what, fmt.Sprintf("%d: %s", pid, strings.ReplaceAll(string(b), "\x00", " ")))
		}
		return len(left) == 0, strings.Join(what, "\n")
	})
}
