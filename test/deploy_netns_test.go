package test

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/harness"
	"github.com/gridctl/grid/test/waitfor"
)

// deployNetwork is this file's network of namespaces: its own names, host
// link and subnet, so it never collides with the chaos suite's
// (gridchaos-*, 10.77.0.0/24) when both run on one machine.
var deployNetwork = harness.NetworkSpec{Prefix: "griddeploy-", HostLink: "griddeploy0", Subnet: "10.78.0"}

// TestAgentAdvertisesARoutableAddressInNetns: with a master in its own
// network namespace (non-loopback address), an agent in another one started
// without --advertise-addr and bound to every address registers its
// namespace's address, and a storage node spawned through it gets an
// endpoint on that address that answers from outside. An agent that would
// advertise loopback to those masters (forced, or bound to 127.0.0.1)
// refuses to start: exit 2, naming --advertise-addr.
func TestAgentAdvertisesARoutableAddressInNetns(t *testing.T) {
	if !agentBuilt(t) {
		t.Skip("grid agent not built yet")
	}
	n := harness.NewNetworkWith(t, deployNetwork) // skips with the reason when not root or `ip` is missing
	c := harness.NewNetCluster(t, n, harness.Options{Masters: 1})
	leader := c.WaitLeader(60 * time.Second)

	const id = "agent-any"
	a, err := c.AddAgentIn(n, id, harness.AgentOptions{Args: []string{"--grpc-addr", ":8001", "--gossip-addr", ":7947"}})
	if err != nil {
		t.Fatal(err)
	}
	ip := n.Netns(id).IP
	want := net.JoinHostPort(ip, "8001")
	waitfor.Until(t, 60*time.Second, id+" registered with endpoint "+want, func() (bool, string) {
		ctx, cancel := harness.Ctx(3 * time.Second)
		defer cancel()
		l, err := leader.Client().ListAgents(ctx, &rpc.Empty{})
		if err != nil {
			return false, err.Error()
		}
		for _, r := range l.Agents {
			if r.AgentId == id {
				return r.Endpoint == want && r.Status == "healthy", fmt.Sprintf("endpoint %q status %s\n%s", r.Endpoint, r.Status, a.Tail(400))
			}
		}
		return false, "not registered yet\n" + a.Tail(400)
	})
	if tail := a.Tail(1 << 16); !strings.Contains(tail, "advertise_addr="+want) {
		t.Fatalf("the agent did not choose %s itself (the master must not have to patch it):\n%s", want, tail)
	}

	ctx, cancel := harness.Ctx(30 * time.Second)
	defer cancel()
	resp, err := leader.Client().SpawnStorageNode(ctx, &rpc.SpawnRequest{AgentId: id})
	if err != nil || !resp.Success {
		t.Fatalf("spawn through %s: %v %+v", id, err, resp)
	}
	host, _, err := net.SplitHostPort(resp.Endpoint)
	if err != nil || host != ip {
		t.Fatalf("storage node endpoint %q: want host %s (the agent's advertise host)", resp.Endpoint, ip)
	}
	waitfor.Until(t, 30*time.Second, resp.NodeId+" answers at "+resp.Endpoint+" from outside the namespace", func() (bool, string) {
		if err := harness.StorageNodeServesAt(resp.NodeId, resp.Endpoint, 2*time.Second); err != nil {
			return false, err.Error()
		}
		return true, ""
	})

	for _, tc := range []struct {
		id   string
		args []string
	}{
		{"agent-lo-adv", []string{"--advertise-addr", "127.0.0.1:8001"}},
		{"agent-lo-bind", []string{"--grpc-addr", "127.0.0.1:8001"}},
	} {
		bad, err := c.AddAgentIn(n, tc.id, harness.AgentOptions{Args: tc.args})
		if err != nil {
			t.Fatal(err)
		}
		if err := bad.Wait(30 * time.Second); err != nil {
			t.Fatalf("%s %v: the agent kept running with a loopback advertise address: %v\n%s", tc.id, tc.args, err, bad.Tail(2000))
		}
		tail := bad.Tail(2000)
		if code := bad.ExitCode(); code != 2 {
			t.Fatalf("%s %v: exit code %d, want 2 (configuration error)\n%s", tc.id, tc.args, code, tail)
		}
		for _, s := range []string{"loopback address 127.0.0.1:8001", "--advertise-addr", c.Masters[0].GRPC} {
			if !strings.Contains(tail, s) {
				t.Fatalf("%s %v: the refusal does not say %q:\n%s", tc.id, tc.args, s, tail)
			}
		}
	}
}
