package test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/harness"
	"github.com/gridctl/grid/test/waitfor"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

// deployDir is the repository's deploy/ directory.
func deployDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "deploy")
}

// TestSystemdUnitsVerify runs systemd-analyze verify on both units (with
// ExecStart pointed at the binary under test) and checks that the agent's
// unit leaves storage nodes running across agent restarts.
func TestSystemdUnitsVerify(t *testing.T) {
	bin, err := harness.Binary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, unit := range []string{"grid-master.service", "grid-agent.service"} {
		b, err := os.ReadFile(filepath.Join(deployDir(), "systemd", unit))
		if err != nil {
			t.Fatal(err)
		}
		text := strings.ReplaceAll(string(b), "/usr/local/bin/grid", bin)
		if err := os.WriteFile(filepath.Join(dir, unit), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	agentUnit, _ := os.ReadFile(filepath.Join(dir, "grid-agent.service"))
	if !strings.Contains(string(agentUnit), "\nKillMode=process\n") {
		t.Fatalf("grid-agent.service must set KillMode=process (the default control-group kills every storage node on restart):\n%s", agentUnit)
	}
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skipf("systemd-analyze not installed (.ci/run installs systemd): %v", err)
	}
	out, err := exec.Command("systemd-analyze", "verify", filepath.Join(dir, "grid-master.service"), filepath.Join(dir, "grid-agent.service")).CombinedOutput()
	if err != nil || strings.Contains(string(out), "grid-") {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// exampleConfig reads a deploy/config example and rewrites addresses,
// paths and the join/masters lists for a loopback test (ports changed).
func exampleConfig(t *testing.T, name string, repl ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(deployDir(), "config", name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.NewReplacer(repl...).Replace(string(b))
}

func freeAddr(t *testing.T) string {
	t.Helper()
	a, err := harness.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestExampleHCLClusterWithTokenFiles starts three masters and an agent from
// deploy/config/*.hcl only (addresses, ports and paths changed for the test;
// the id from --id), with the token and gossip key read from files.
func TestExampleHCLClusterWithTokenFiles(t *testing.T) {
	bin, err := harness.Binary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	secrets := filepath.Join(dir, "etc")
	if err := os.MkdirAll(secrets, 0o700); err != nil {
		t.Fatal(err)
	}
	key, err := exec.Command(bin, "keygen").Output()
	if err != nil {
		t.Fatal(err)
	}
	const token, readToken = "test-api-token-0123456789", "test-read-token-0123456789"
	for name, v := range map[string]string{"api-token": token, "read-token": readToken, "gossip-key": string(key)} {
		if err := os.WriteFile(filepath.Join(secrets, name), []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	type member struct{ grpc, raft, gossip, http string }
	var ms []member
	for i := 0; i < 3; i++ {
		ms = append(ms, member{freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)})
	}
	joins := fmt.Sprintf(`"%s", "%s", "%s"`, ms[0].gossip, ms[1].gossip, ms[2].gossip)
	grpcs := fmt.Sprintf(`"%s", "%s", "%s"`, ms[0].grpc, ms[1].grpc, ms[2].grpc)
	var procs []*harness.Proc
	t.Cleanup(func() {
		for _, p := range procs {
			_ = p.Stop(10 * time.Second)
		}
	})
	var masterAddrs []string
	for i, m := range ms {
		id := fmt.Sprintf("hcl-master-%d", i+1)
		text := exampleConfig(t, "master.hcl",
			`"{{ GetPrivateIP }}:7000"`, `"`+m.grpc+`"`,
			`"{{ GetPrivateIP }}:7001"`, `"`+m.raft+`"`,
			`"{{ GetPrivateIP }}:7946"`, `"`+m.gossip+`"`,
			`"0.0.0.0:9000"`, `"`+m.http+`"`,
			`"10.0.0.11:7946", "10.0.0.12:7946", "10.0.0.13:7946"`, joins,
			"/var/lib/grid/master", filepath.Join(dir, id),
			"/etc/grid", secrets)
		cfgDir := filepath.Join(dir, id+".d") // a directory of config files
		if err := os.MkdirAll(cfgDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(cfgDir, "10-master.hcl"), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(cfgDir, "20-timings.json"), []byte(`{"raft_profile": "fast"}`), 0o644); err != nil {
			t.Fatal(err)
		}
		p := &harness.Proc{Name: id, Args: []string{"master", "--id", id, "--config", cfgDir}, Log: filepath.Join(dir, id+".log")}
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		procs = append(procs, p)
		masterAddrs = append(masterAddrs, m.grpc)
	}
	agentGRPC := freeAddr(t)
	agentText := exampleConfig(t, "agent.hcl",
		`"0.0.0.0:8001"`, `"`+agentGRPC+`"`,
		`"{{ GetPrivateIP }}:8001"`, `"`+agentGRPC+`"`,
		`"10.0.0.11:7000", "10.0.0.12:7000", "10.0.0.13:7000"`, grpcs,
		`"50051-50150"`, `"52100-52119"`,
		"/var/lib/grid/agent", filepath.Join(dir, "hcl-agent"),
		"/etc/grid", secrets)
	agentCfg := filepath.Join(dir, "agent.hcl")
	if err := os.WriteFile(agentCfg, []byte(agentText), 0o644); err != nil {
		t.Fatal(err)
	}
	ap := &harness.Proc{Name: "hcl-agent", Args: []string{"agent", "--id", "hcl-agent", "--config", agentCfg}, Log: filepath.Join(dir, "hcl-agent.log")}
	if err := ap.Start(); err != nil {
		t.Fatal(err)
	}
	procs = append(procs, ap)

	conn, err := grpc.NewClient(masterAddrs[0], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := rpc.NewGridMasterClient(conn)
	authed := func(tok string) (func(), *rpc.AgentList, error) {
		ctx, cancel := harness.Ctx(3 * time.Second)
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
		l, err := client.ListAgents(ctx, &rpc.Empty{})
		return cancel, l, err
	}
	waitfor.Until(t, 60*time.Second, "the agent registered and healthy with the three HCL masters", func() (bool, string) {
		cancel, l, err := authed(readToken)
		defer cancel()
		if err != nil {
			return false, err.Error() + "\n" + procs[0].Tail(5) + ap.Tail(5)
		}
		for _, a := range l.Agents {
			if a.AgentId == "hcl-agent" && a.Status == "healthy" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("agents: %v", l.Agents)
	})
	// The read token from the file is required: no token is refused.
	cancel, _, err := authed("wrong-token-0123456789")
	cancel()
	if err == nil {
		t.Fatal("a wrong token was accepted: the masters did not read read_token_file")
	}
	// Masters report their version in list-peers.
	ctx, cancel2 := harness.Ctx(5 * time.Second)
	defer cancel2()
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	peers, err := client.ListMasters(ctx, &rpc.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	if len(peers.Masters) != 3 {
		t.Fatalf("want 3 masters, got %v", peers.Masters)
	}
	for _, m := range peers.Masters {
		if m.Version == "" {
			t.Fatalf("master %s reports no version: %v", m.Id, peers.Masters)
		}
	}
}
