package bench

import (
	"bufio"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/harness"
)

// leaderMetric reads an unlabelled sample (go_goroutines) from a master's /metrics.
func leaderMetric(m *harness.Master, name string) (float64, error) {
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + m.HTTP + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(rest), 64)
		}
	}
	return 0, fmt.Errorf("%s/metrics: no %s", m.HTTP, name)
}

// offlineCount is how many agents whose id starts with prefix the leader
// lists as offline, and how many it lists with that prefix.
func offlineCount(m *harness.Master, prefix string) (offline, total int, err error) {
	ctx, cancel := harness.Ctx(10 * time.Second)
	defer cancel()
	l, err := m.Client().ListAgents(ctx, &rpc.Empty{})
	if err != nil {
		return 0, 0, err
	}
	for _, a := range l.Agents {
		if !strings.HasPrefix(a.AgentId, prefix) {
			continue
		}
		total++
		if a.Status == rpc.AgentOffline {
			offline++
		}
	}
	return offline, total, nil
}

// commitIndex is a master's Raft commit index.
func commitIndex(m *harness.Master) (uint64, error) {
	ctx, cancel := harness.Ctx(10 * time.Second)
	defer cancel()
	st, err := m.Client().GetClusterStatus(ctx, &rpc.Empty{})
	if err != nil {
		return 0, err
	}
	return st.CommitIndex, nil
}

// waitAllOffline polls the leader every 50 ms until want agents with prefix
// are offline and returns when it first saw them all (within 50 ms plus
// one ListAgents call).
func waitAllOffline(m *harness.Master, prefix string, want int, limit time.Duration) (time.Time, error) {
	deadline := time.Now().Add(limit)
	for {
		off, total, err := offlineCount(m, prefix)
		now := time.Now()
		if err == nil && off >= want {
			return now, nil
		}
		if now.After(deadline) {
			return now, fmt.Errorf("%d of %d %s* agents offline after %s (last error %v)", off, total, prefix, limit, err)
		}
		time.Sleep(50 * time.Millisecond) // polling interval of the measurement
	}
}
