package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/harness"
	"github.com/gridctl/grid/test/waitfor"
)

// keyringMember is one member of `grid operator keyring ... --json`.
type keyringMember struct {
	ID      string   `json:"id"`
	Kind    string   `json:"kind"`
	Keys    []string `json:"keys"`
	Primary string   `json:"primary"`
	Error   string   `json:"error"`
}

// keyringCLI runs `grid operator keyring args... --json` as the operator
// (TLS and the full token) and returns the members' answers.
func (f *secFixture) keyringCLI(t *testing.T, args ...string) []keyringMember {
	t.Helper()
	// Flags go before the KEY argument.
	full := append([]string{"operator", "keyring", args[0]}, f.operatorFlags()...)
	out := grid(t, f.c, append(full, args[1:]...)...)
	var resp struct {
		Members []keyringMember `json:"members"`
	}
	if err := json.Unmarshal([]byte(out), &resp); err != nil {
		t.Fatalf("keyring %v: %v\n%s", args, err, out)
	}
	for _, m := range resp.Members {
		if m.Error != "" {
			t.Fatalf("keyring %v: %s %s: %s", args, m.Kind, m.ID, m.Error)
		}
	}
	return resp.Members
}

// operatorFlags are the CLI flags of the operator: TLS and the full token.
func (f *secFixture) operatorFlags() []string {
	return []string{"--json", "--api-token", f.sec.APIToken,
		"--tls-ca", f.sec.TLS.CA, "--tls-cert", f.sec.TLS.Cert, "--tls-key", f.sec.TLS.Key}
}

// allAlive waits until the leader's gossip view lists every name alive.
func allAlive(t *testing.T, leader *harness.Master, names []string, what string) {
	t.Helper()
	waitfor.Until(t, 30*time.Second, what, func() (bool, string) {
		ctx, cancel := harness.Ctx(3 * time.Second)
		defer cancel()
		l, err := leader.Client().ListMembers(ctx, &rpc.Empty{})
		if err != nil {
			return false, err.Error()
		}
		alive := map[string]bool{}
		var seen []string
		for _, m := range l.GetMembers() {
			alive[m.GetName()] = m.GetStatus() == "alive"
			seen = append(seen, m.GetName()+"="+m.GetStatus())
		}
		for _, n := range names {
			if !alive[n] {
				return false, fmt.Sprintf("%s not alive: %v", n, seen)
			}
		}
		return true, ""
	})
}

// TestGossipKeyRotation rotates the gossip key (install new, use new,
// remove old) on a running 3-master, 2-agent cluster: no member is lost,
// agents stay healthy, writes still work, a member holding only the old
// key is refused, and a restart keeps the rotated keyring.
func TestGossipKeyRotation(t *testing.T) {
	f := newSecFixture(t)
	c := f.c
	leader := c.WaitLeader(30 * time.Second)
	join := []string{"--join", c.GossipAddrs()}
	c.AddAgent("agent-1", harness.AgentOptions{Args: join})
	c.AddAgent("agent-2", harness.AgentOptions{Args: join})
	names := []string{"master-1", "master-2", "master-3", "agent-1", "agent-2"}
	for _, m := range c.Masters {
		if !slices.Contains(names, m.ID) {
			t.Fatalf("unexpected master id %s (the test names master-1..3)", m.ID)
		}
	}
	allAlive(t, leader, names, "3 masters and 2 agents alive in gossip")

	oldKey, newKey := f.sec.GossipKey, gossipKey(7)
	check := func(members []keyringMember, step string, want func(m keyringMember) bool) {
		t.Helper()
		if len(members) != 5 {
			t.Fatalf("%s: %d members answered, want 5: %+v", step, len(members), members)
		}
		for _, m := range members {
			if !want(m) {
				t.Fatalf("%s: %s %s has keys %v, primary %s", step, m.Kind, m.ID, m.Keys, m.Primary)
			}
		}
	}
	check(f.keyringCLI(t, "list"), "list", func(m keyringMember) bool {
		return slices.Equal(m.Keys, []string{oldKey}) && m.Primary == oldKey
	})
	f.keyringCLI(t, "install", newKey)
	check(f.keyringCLI(t, "list"), "after install", func(m keyringMember) bool {
		return len(m.Keys) == 2 && slices.Contains(m.Keys, newKey) && m.Primary == oldKey
	})
	allAlive(t, leader, names, "every member alive after install")
	f.keyringCLI(t, "use", newKey)
	check(f.keyringCLI(t, "list"), "after use", func(m keyringMember) bool {
		return len(m.Keys) == 2 && m.Primary == newKey
	})
	allAlive(t, leader, names, "every member alive after use")
	f.keyringCLI(t, "remove", oldKey)
	check(f.keyringCLI(t, "list"), "after remove", func(m keyringMember) bool {
		return slices.Equal(m.Keys, []string{newKey}) && m.Primary == newKey
	})
	allAlive(t, leader, names, "every member alive after remove")

	// The primary cannot be removed.
	args := append(append([]string{"operator", "keyring", "remove"}, f.operatorFlags()...), newKey)
	if out, err := gridErr(c, args...); err == nil || !strings.Contains(out, "primary") {
		t.Fatalf("removing the primary key: %v\n%s", err, out)
	}

	// Agents stay healthy and a write still works.
	waitfor.Until(t, 30*time.Second, "both agents healthy", func() (bool, string) {
		ctx, cancel := harness.Ctx(3 * time.Second)
		defer cancel()
		l, err := leader.Client().ListAgents(ctx, &rpc.Empty{})
		if err != nil {
			return false, err.Error()
		}
		healthy := 0
		for _, a := range l.GetAgents() {
			if a.GetStatus() == "healthy" {
				healthy++
			}
		}
		return healthy == 2, fmt.Sprint(l.GetAgents())
	})
	ctx, cancel := harness.Ctx(30 * time.Second)
	defer cancel()
	sp, err := leader.Client().SpawnStorageNode(ctx, &rpc.SpawnRequest{AgentId: "agent-1"})
	if err != nil || !sp.GetSuccess() {
		t.Fatalf("spawn after the rotation: %v %v", sp, err)
	}

	// A member holding only the old key is no longer let in.
	stale := startImpostor(t, oldKey, "stale-member", "stale-member", "127.0.0.1:1", leader.Gossip)
	if n := stale.NumMembers(); n > 1 {
		t.Fatalf("a member with the removed key sees %d members", n)
	}

	// A restart keeps the rotated keyring (the data dir's), though the
	// master and the agent are still started with --encrypt OLD.
	m := c.Followers(leader)[0]
	if err := m.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	a := c.Agents[1]
	if err := a.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	// Their own views prove they joined: a member that cannot decrypt
	// gossip would see nobody.
	allAlive(t, m, names, "the restarted master sees every member (it joined with the new key)")
	waitfor.Until(t, 30*time.Second, "the restarted agent rejoined gossip", func() (bool, string) {
		b, err := os.ReadFile(a.Log)
		if err != nil {
			return false, err.Error()
		}
		n := bytes.Count(b, []byte("joined gossip pool"))
		return n >= 2, fmt.Sprintf("%d joins in its log", n)
	})
	allAlive(t, leader, names, "every member alive after the restarts")
	check(f.keyringCLI(t, "list"), "after restarts", func(m keyringMember) bool {
		return slices.Equal(m.Keys, []string{newKey}) && m.Primary == newKey
	})
}
