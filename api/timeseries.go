package api

import (
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// timeseriesPoints is how many samples the dashboard's charts get: an hour
// at the default interval.
const timeseriesPoints = 360

// sample is one point of the dashboard's charts, taken from this master's
// own /metrics (Config.Gatherer) every Config.SampleInterval.
type sample struct {
	At          int64              `json:"t"`                   // unix millis
	CommitMs    *float64           `json:"commit_ms,omitempty"` // mean raft_commitTime over the interval (leader only)
	Heartbeats  float64            `json:"heartbeats_per_s"`    // agent heartbeats handled as leader, per second
	Agents      map[string]float64 `json:"agents"`              // grid_agents by status
	Events      map[string]float64 `json:"events"`              // events applied in the interval, by type
	Term        float64            `json:"term"`
	IsLeader    bool               `json:"is_leader"`
	totals      map[string]float64 // counters at this sample, for the next delta
	commitSum   float64
	commitCount float64
}

// sampler keeps the last timeseriesPoints samples.
type sampler struct {
	gatherer prometheus.Gatherer
	interval time.Duration
	stop     chan struct{}
	once     sync.Once

	mu      sync.Mutex
	samples []sample
}

func newSampler(g prometheus.Gatherer, interval time.Duration) *sampler {
	sm := &sampler{gatherer: g, interval: interval, stop: make(chan struct{})}
	go sm.run()
	return sm
}

func (sm *sampler) run() {
	t := time.NewTicker(sm.interval)
	defer t.Stop()
	sm.take()
	for {
		select {
		case <-sm.stop:
			return
		case <-t.C:
			sm.take()
		}
	}
}

func (sm *sampler) close() { sm.once.Do(func() { close(sm.stop) }) }

// count is the number of samples kept.
func (sm *sampler) count() int {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	return len(sm.samples)
}

// take gathers once and appends a sample.
func (sm *sampler) take() {
	fams, err := sm.gatherer.Gather()
	if err != nil && len(fams) == 0 {
		return
	}
	cur := sample{At: time.Now().UnixMilli(), Agents: map[string]float64{}, Events: map[string]float64{}, totals: map[string]float64{}}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			switch f.GetName() {
			case "grid_agents":
				cur.Agents[label(m, "status")] = m.GetGauge().GetValue()
			case "grid_events_applied_total":
				cur.totals["ev:"+label(m, "type")] = m.GetCounter().GetValue()
			case "grid_agents_heartbeats_received_total":
				cur.totals["heartbeats"] = m.GetCounter().GetValue()
			case "grid_raft_term":
				cur.Term = m.GetGauge().GetValue()
			case "grid_raft_is_leader":
				cur.IsLeader = m.GetGauge().GetValue() == 1
			case "raft_commitTime":
				cur.commitSum, cur.commitCount = m.GetSummary().GetSampleSum(), float64(m.GetSummary().GetSampleCount())
			}
		}
	}
	sm.mu.Lock()
	defer sm.mu.Unlock()
	if n := len(sm.samples); n > 0 {
		prev := sm.samples[n-1]
		secs := float64(cur.At-prev.At) / 1000
		for k, v := range cur.totals {
			d := v - prev.totals[k]
			if d < 0 {
				d = v
			}
			if k == "heartbeats" && secs > 0 {
				cur.Heartbeats = d / secs
			} else if d > 0 && len(k) > 3 {
				cur.Events[k[3:]] = d
			}
		}
		if dc := cur.commitCount - prev.commitCount; dc > 0 {
			ms := (cur.commitSum - prev.commitSum) / dc
			cur.CommitMs = &ms
		}
	}
	sm.samples = append(sm.samples, cur)
	if len(sm.samples) > timeseriesPoints {
		sm.samples = sm.samples[len(sm.samples)-timeseriesPoints:]
	}
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// timeseries serves the dashboard's chart data: GET /api/grid/timeseries ->
// {"interval_s", "samples": [...]}, oldest first.
func (s *Server) timeseries(w http.ResponseWriter, r *http.Request) error {
	out := struct {
		IntervalS float64  `json:"interval_s"`
		Samples   []sample `json:"samples"`
	}{Samples: []sample{}}
	if s.sampler != nil {
		out.IntervalS = s.sampler.interval.Seconds()
		s.sampler.mu.Lock()
		out.Samples = append(out.Samples, s.sampler.samples...)
		s.sampler.mu.Unlock()
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
