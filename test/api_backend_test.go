package test

import (
	"bufio"
	"fmt"
	"github.com/gridctl/grid/test/waitfor"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/harness"
)

// The REST API calls its master in-process: a spawn on a follower's HTTP
// address is forwarded to the leader over the follower's leader connection,
// and the master process never opens a connection to its own gRPC port.
func TestRESTAPIFollowerSpawnInProcess(t *testing.T) {
	if !agentBuilt(t) {
		t.Skip("grid agent is not built")
	}
	c := harness.NewCluster(t, harness.Options{Security: &harness.Security{APIToken: testAPIToken}})
	leader := c.WaitLeader(30 * time.Second)
	follower := c.Followers(leader)[0]
	ag := c.AddAgent("agent-inproc", harness.AgentOptions{})
	waitfor.Until(t, 30*time.Second, "agent healthy in the follower's REST view", func() (bool, string) {
		code, out := restCall(t, follower, "GET", "/api/grid/agents", "")
		for _, a := range asList(out["agents"]) {
			if a["agent_id"] == ag.ID && a["status"] == "healthy" {
				return true, ""
			}
		}
		return false, fmt.Sprint(code, out)
	})

	// Every kind of backend call through the follower's REST API.
	if code, out := restCall(t, follower, "GET", "/readyz", ""); code != 200 {
		t.Fatalf("readyz = %d %v", code, out)
	}
	for _, p := range []string{"/api/grid/status", "/api/grid/nodes", "/api/grid/masters", "/api/grid/events?limit=5", "/api/grid/agents?stale=true"} {
		if code, out := restCall(t, follower, "GET", p, ""); code != 200 {
			t.Fatalf("GET %s on the follower = %d %v", p, code, out)
		}
	}
	code, out := restCall(t, follower, "POST", "/api/grid/spawn", `{"agent_id":"agent-inproc","memory_limit_mb":128}`, authed()...)
	if code != 200 || out["success"] != true || out["node_id"] == "" || out["pid"] == float64(0) {
		t.Fatalf("REST spawn on follower %s = %d %v", follower.ID, code, out)
	}
	nodeID := out["node_id"].(string)
	pid := uint32(out["pid"].(float64))

	// The leader carried it out: its registry has the node running with that pid.
	ctx, cancel := harness.Ctx(10 * time.Second)
	st, err := leader.Client().GetStorageNodeStatus(ctx, &rpc.NodeId{NodeId: nodeID})
	cancel()
	if err != nil || st.GetStatus() != "running" || st.GetPid() != pid || st.GetAgentId() != ag.ID {
		t.Fatalf("leader's record of %s = %v, %v; want running pid %d on %s", nodeID, st, err, pid, ag.ID)
	}
	code, out = restCall(t, follower, "GET", "/api/grid/nodes/"+nodeID, "")
	if code != 200 || out["status"] != "running" {
		t.Fatalf("REST node status on the follower = %d %v", code, out)
	}
	code, out = restCall(t, follower, "POST", "/api/grid/spawn", fmt.Sprintf(`{"agent_id":"agent-inproc","node_id":%q}`, nodeID), authed()...)
	requireRESTError(t, "second spawn of the same node id", code, out, 409, nodeID)
	code, out = restCall(t, follower, "POST", "/api/grid/stop", fmt.Sprintf(`{"node_id":%q}`, nodeID), authed()...)
	if code != 200 || out["success"] != true {
		t.Fatalf("REST stop on the follower = %d %v", code, out)
	}

	// The follower's process holds a connection to the leader's gRPC port
	// (the forward above used it) and none to its own.
	peers, err := establishedPeers(follower.PID())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(peers, leader.GRPC) {
		t.Fatalf("follower %s has no connection to the leader's gRPC port %s (peers %v): the check below would prove nothing",
			follower.ID, leader.GRPC, peers)
	}
	if slices.Contains(peers, follower.GRPC) {
		t.Fatalf("follower %s is connected to its own gRPC port %s: the REST API dialed it (peers %v)", follower.ID, follower.GRPC, peers)
	}
}

// asList reads a JSON array of objects.
func asList(v any) []map[string]any {
	var out []map[string]any
	l, _ := v.([]any)
	for _, e := range l {
		if m, ok := e.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// establishedPeers lists the remote addresses ("ip:port") of the ESTABLISHED
// TCP connections whose sockets process pid holds, from /proc.
func establishedPeers(pid int) ([]string, error) {
	if pid == 0 {
		return nil, fmt.Errorf("process is not running")
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return nil, err
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join(fmt.Sprintf("/proc/%d/fd", pid), fd.Name()))
		if err == nil && strings.HasPrefix(link, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	var peers []string
	for _, table := range []string{"tcp", "tcp6"} {
		f, err := os.Open(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			if len(fields) < 10 || fields[3] != "01" || !inodes[fields[9]] {
				continue
			}
			if addr, err := procAddr(fields[2]); err == nil {
				peers = append(peers, addr)
			}
		}
		f.Close()
	}
	return peers, nil
}

// procAddr decodes a /proc/net/tcp address: hex IP in host (little-endian)
// 32-bit words, a colon, hex port.
func procAddr(s string) (string, error) {
	ipHex, portHex, ok := strings.Cut(s, ":")
	if !ok || len(ipHex)%8 != 0 {
		return "", fmt.Errorf("bad address %q", s)
	}
	port, err := strconv.ParseUint(portHex, 16, 16)
	if err != nil {
		return "", err
	}
	ip := make(net.IP, 0, len(ipHex)/2)
	for w := 0; w < len(ipHex); w += 8 {
		word, err := strconv.ParseUint(ipHex[w:w+8], 16, 32)
		if err != nil {
			return "", err
		}
		ip = append(ip, byte(word), byte(word>>8), byte(word>>16), byte(word>>24))
	}
	if v4 := ip.To4(); v4 != nil {
		ip = v4
	}
	return net.JoinHostPort(ip.String(), strconv.FormatUint(port, 10)), nil
}
