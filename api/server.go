package api

import (
	"net/http"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
)

// Config configures the REST API and dashboard.
type Config struct {
	// APIToken, when set, is required (Authorization: Bearer) on every mutating call.
	APIToken string
	// Gatherer is served at /metrics; nil serves an empty page.
	Gatherer prometheus.Gatherer
	// Logger is the parent logger; the server logs as "api".
	Logger hclog.Logger
}

// Server is the REST API, the SSE stream and the embedded dashboard.
type Server struct {
	backend Backend
	cfg     Config
	mux     *http.ServeMux
}

// New builds a Server over backend.
func New(backend Backend, cfg Config) *Server {
	s := &Server{backend: backend, cfg: cfg, mux: http.NewServeMux()}
	return s
}

// Handler is the http.Handler to serve.
func (s *Server) Handler() http.Handler { return s.mux }
