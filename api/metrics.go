package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// httpMetrics are the API's own Prometheus metrics, kept in a registry of
// their own so that several Servers (tests, dev clusters) never collide.
type httpMetrics struct {
	registry   *prometheus.Registry
	requests   *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	sseStreams prometheus.Gauge
}

func newHTTPMetrics() *httpMetrics {
	m := &httpMetrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "grid", Subsystem: "api", Name: "requests_total",
			Help: "HTTP requests served by the REST API, by route, method and status code.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "grid", Subsystem: "api", Name: "request_duration_seconds",
			Help:    "Latency of REST API requests (event streams excluded), by route and method.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route", "method"}),
		sseStreams: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "grid", Subsystem: "api", Name: "event_streams",
			Help: "Event streams (SSE) open right now.",
		}),
	}
	m.registry.MustRegister(m.requests, m.latency, m.sseStreams)
	return m
}

// statusRecorder remembers the status code written through it.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush and write deadlines.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// instrument counts and times requests to h under route (a pattern, never
// the raw path, so the label set stays small).
func (m *httpMetrics) instrument(route string, h http.Handler) http.Handler {
	streaming := route == "/api/grid/events/stream"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		code := rec.code
		if code == 0 {
			code = http.StatusOK
		}
		method := r.Method
		switch method {
		case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodOptions:
		default:
			method = "other"
		}
		m.requests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
		if !streaming {
			m.latency.WithLabelValues(route, method).Observe(time.Since(start).Seconds())
		}
	})
}

// metricsHandler serves /metrics: Config.Gatherer (the master's raft,
// heartbeat, event and spawn metrics) together with the API's own.
func (s *Server) metricsHandler() http.Handler {
	gatherers := prometheus.Gatherers{s.metrics.registry}
	if s.cfg.Gatherer != nil {
		gatherers = append(prometheus.Gatherers{s.cfg.Gatherer}, gatherers...)
	}
	return promhttp.HandlerFor(gatherers, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}
