package agent

import (
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/prometheus/client_golang/prometheus"
)

// agentMetrics is the agent's Prometheus collector: most series are read
// from the agent's parts at scrape time; heartbeat round trips and node
// health-check latencies are observed as they happen.
type agentMetrics struct {
	a *Agent

	heartbeatRTT prometheus.Histogram
	healthCheck  *prometheus.HistogramVec

	registered, master, nodeStatus, restarts, uptime, rss, buffered, dropped *prometheus.Desc
}

func newAgentMetrics(a *Agent) *agentMetrics {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("grid_agent_"+name, help, labels, nil)
	}
	return &agentMetrics{
		a: a,
		heartbeatRTT: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "grid", Subsystem: "agent", Name: "heartbeat_rtt_seconds",
			Help:    "Round-trip time of acknowledged heartbeats to the masters.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}}),
		healthCheck: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "grid", Subsystem: "agent", Name: "node_health_check_seconds",
			Help:    "Latency of the agent's StorageService.HealthCheck calls to its running nodes.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}}, []string{"node_id"}),
		registered: d("registered", "1 when the agent is registered with a master."),
		master:     d("master_info", "Always 1: the master this agent last heartbeated (master) and the leader it named.", "master", "leader_id"),
		nodeStatus: d("node_status", "1 for each node's current status.", "node_id", "status"),
		restarts:   d("node_restarts_total", "Restarts of each node by the agent.", "node_id"),
		uptime:     d("node_uptime_seconds", "Seconds since each running node's process started.", "node_id"),
		rss:        d("node_resident_memory_bytes", "Resident memory of each running node's process.", "node_id"),
		buffered:   d("events_buffered", "Events waiting for a master's acknowledgement."),
		dropped:    d("events_dropped_total", "Events dropped because the buffer was full."),
	}
}

// Describe is prometheus.Collector.
func (m *agentMetrics) Describe(ch chan<- *prometheus.Desc) {
	m.heartbeatRTT.Describe(ch)
	m.healthCheck.Describe(ch)
	for _, d := range []*prometheus.Desc{m.registered, m.master, m.nodeStatus, m.restarts, m.uptime, m.rss, m.buffered, m.dropped} {
		ch <- d
	}
}

// Collect is prometheus.Collector.
func (m *agentMetrics) Collect(ch chan<- prometheus.Metric) {
	m.heartbeatRTT.Collect(ch)
	m.healthCheck.Collect(ch)
	a := m.a
	reg := 0.0
	if a.hb.Registered() {
		reg = 1
	}
	ch <- prometheus.MustNewConstMetric(m.registered, prometheus.GaugeValue, reg)
	if addr, leader := a.hb.Master(); addr != "" {
		ch <- prometheus.MustNewConstMetric(m.master, prometheus.GaugeValue, 1, addr, leader)
	}
	now := time.Now()
	for _, n := range a.sup.List() {
		id := n.GetNodeId()
		ch <- prometheus.MustNewConstMetric(m.nodeStatus, prometheus.GaugeValue, 1, id, n.GetStatus())
		ch <- prometheus.MustNewConstMetric(m.restarts, prometheus.CounterValue, float64(n.GetRestartCount()), id)
		if n.GetStatus() != rpc.NodeRunning || n.GetPid() == 0 {
			continue
		}
		if st := n.GetStartedAt(); st > 0 {
			ch <- prometheus.MustNewConstMetric(m.uptime, prometheus.GaugeValue, now.Sub(time.UnixMicro(st)).Seconds(), id)
		}
		if b, ok := residentBytes(int(n.GetPid())); ok {
			ch <- prometheus.MustNewConstMetric(m.rss, prometheus.GaugeValue, float64(b), id)
		}
	}
	ch <- prometheus.MustNewConstMetric(m.buffered, prometheus.GaugeValue, float64(a.events.Pending()))
	ch <- prometheus.MustNewConstMetric(m.dropped, prometheus.CounterValue, float64(a.events.Dropped()))
}

// residentBytes reads a process's resident set from /proc/PID/statm.
func residentBytes(pid int) (int64, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/statm")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, false
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0, false
	}
	return pages * int64(os.Getpagesize()), true
}

// observeHealthCheck records a successful node health check's latency
// (the HealthChecker calls it).
func (m *agentMetrics) observeHealthCheck(nodeID string, d time.Duration) {
	m.healthCheck.WithLabelValues(nodeID).Observe(d.Seconds())
}

// forgetNode drops the latency series of a node no longer supervised.
func (m *agentMetrics) forgetNode(nodeID string) {
	m.healthCheck.DeleteLabelValues(nodeID)
}
