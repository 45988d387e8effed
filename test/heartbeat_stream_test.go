package test

import (
	"bufio"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gridctl/grid/test/harness"
	"github.com/gridctl/grid/test/waitfor"
)

// openBeatStreams reads grid_agents_heartbeat_streams from m's /metrics.
func openBeatStreams(m *harness.Master) (float64, error) {
	resp, err := http.Get("http://" + m.HTTP + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "grid_agents_heartbeat_streams "); ok {
			return strconv.ParseFloat(strings.TrimSpace(rest), 64)
		}
	}
	return 0, fmt.Errorf("%s/metrics: no grid_agents_heartbeat_streams", m.HTTP)
}

// waitBeatStreams waits until m serves n open heartbeat streams.
func waitBeatStreams(t *testing.T, m *harness.Master, n float64) {
	t.Helper()
	waitfor.Until(t, 30*time.Second, fmt.Sprintf("%v heartbeat streams on %s", n, m.ID), func() (bool, string) {
		got, err := openBeatStreams(m)
		if err != nil {
			return false, err.Error()
		}
		return got == n, fmt.Sprintf("%v open", got)
	})
}

// TestAgentBeatsOnAStreamAndFollowsTheLeader: a real agent heartbeats on
// one HeartbeatStream to the leader; when the leader is killed the agent
// opens its stream on the new leader and is never marked offline.
func TestAgentBeatsOnAStreamAndFollowsTheLeader(t *testing.T) {
	c := harness.NewCluster(t, harness.Options{MasterArgs: shortLiveness})
	leader := c.WaitLeader(30 * time.Second)
	c.AddAgent("agent-s1", harness.AgentOptions{})
	waitStatus(t, c, "agent-s1", "healthy")
	waitBeatStreams(t, leader, 1)
	for _, f := range c.Followers(leader) {
		if n, err := openBeatStreams(f); err != nil || n != 0 {
			t.Errorf("follower %s serves %v heartbeat streams (%v); only the leader does", f.ID, n, err)
		}
	}
	if err := leader.Kill(); err != nil {
		t.Fatal(err)
	}
	next := c.WaitLeader(30 * time.Second)
	waitBeatStreams(t, next, 1)
	// Twice the offline threshold on the new leader: never offline.
	window := time.Now().Add(6 * time.Second)
	waitfor.Until(t, 30*time.Second, "an observation window of twice the offline threshold", func() (bool, string) {
		if s, err := agentStatus(c, "agent-s1"); err == nil && s == "offline" {
			t.Fatalf("agent-s1 marked offline after the leader changed to %s", next.ID)
		}
		return time.Now().After(window), "still observing"
	})
	waitStatus(t, c, "agent-s1", "healthy")
}
