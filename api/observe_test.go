package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/waitfor"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// graphMaster is a fakeMaster with an event graph (GraphBackend).
type graphMaster struct {
	*fakeMaster
	asked *rpc.GetNeighborsRequest
}

func (g *graphMaster) GetNeighbors(_ context.Context, in *rpc.GetNeighborsRequest) (*rpc.GetNeighborsResponse, error) {
	g.asked = in
	if in.GetConceptId() == "nobody" {
		return nil, status.Error(codes.NotFound, "concept_id \"nobody\": not found")
	}
	return &rpc.GetNeighborsResponse{Neighbors: []*rpc.Neighbor{{ConceptId: "event-x-1", AssocType: 50, Confidence: 1}}}, nil
}

func call(t *testing.T, h http.Handler, method, path, token string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	b, _ := io.ReadAll(w.Result().Body)
	return w.Code, string(b)
}

func TestGraphNeighborsRoute(t *testing.T) {
	g := &graphMaster{fakeMaster: newFakeMaster()}
	h := New(g, Config{Logger: testLogger(t), APIToken: "full", ReadToken: "read"}).Handler()
	code, body := call(t, h, http.MethodGet, "/api/grid/graph/master-1/neighbors?limit=7", "read")
	if code != http.StatusOK || !strings.Contains(body, `"id":"event-x-1"`) || g.asked.GetLimit() != 7 {
		t.Fatalf("neighbors: %d %s (asked %v)", code, body, g.asked)
	}
	for _, tc := range []struct {
		path, token string
		code        int
	}{
		{"/api/grid/graph/master-1/neighbors", "", http.StatusUnauthorized},
		{"/api/grid/graph/master-1/neighbors?limit=0", "read", http.StatusBadRequest},
		{"/api/grid/graph/master-1/neighbors?limit=501", "read", http.StatusBadRequest},
		{"/api/grid/graph/bad%20id/neighbors", "read", http.StatusBadRequest},
		{"/api/grid/graph/nobody/neighbors", "read", http.StatusNotFound},
	} {
		code, body := call(t, h, http.MethodGet, tc.path, tc.token)
		var e struct {
			Success bool   `json:"success"`
			Error   string `json:"error"`
		}
		if code != tc.code || json.Unmarshal([]byte(body), &e) != nil || e.Success || e.Error == "" {
			t.Errorf("GET %s: %d %s, want %d with a JSON error", tc.path, code, body, tc.code)
		}
	}
	// A backend without a graph answers 501.
	plain := New(newFakeMaster(), Config{Logger: testLogger(t)}).Handler()
	if code, _ := call(t, plain, http.MethodGet, "/api/grid/graph/master-1/neighbors", ""); code != http.StatusNotImplemented {
		t.Errorf("no graph backend: %d, want 501", code)
	}
}

func TestTimeseriesSamplesTheGatherer(t *testing.T) {
	reg := prometheus.NewRegistry()
	applied := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "grid_events_applied_total"}, []string{"type"})
	agents := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "grid_agents"}, []string{"status"})
	reg.MustRegister(applied, agents)
	agents.WithLabelValues("healthy").Set(2)
	s := New(newFakeMaster(), Config{Logger: testLogger(t), Gatherer: reg, SampleInterval: 20 * time.Millisecond})
	defer s.Close()
	// The first sample is the baseline: count only what happens after it.
	waitSamples := func(n int) {
		t.Helper()
		waitfor.True(t, 10*time.Second, fmt.Sprintf("%d samples", n), func() bool { return s.sampler.count() >= n })
	}
	waitSamples(1)
	applied.WithLabelValues("spawn_succeeded").Add(3)
	var out struct {
		IntervalS float64 `json:"interval_s"`
		Samples   []struct {
			Agents map[string]float64 `json:"agents"`
			Events map[string]float64 `json:"events"`
		} `json:"samples"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body := call(t, s.Handler(), http.MethodGet, "/api/grid/timeseries", "")
		if code != http.StatusOK || json.Unmarshal([]byte(body), &out) != nil {
			t.Fatalf("timeseries: %d %s", code, body)
		}
		total := 0.0
		for _, sm := range out.Samples {
			total += sm.Events["spawn_succeeded"]
		}
		if len(out.Samples) >= 2 && out.Samples[len(out.Samples)-1].Agents["healthy"] == 2 && total == 3 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("samples never showed 3 spawn_succeeded and 2 healthy agents: %d samples, %.0f events", len(out.Samples), total)
		}
		waitSamples(len(out.Samples) + 1)
	}
}
