package api

import (
	"net/http"
	"time"

	"github.com/gridctl/grid/rpc/security"
	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
)

// Config configures the REST API and dashboard.
type Config struct {
	// APIToken, when set, is required (Authorization: Bearer) on every mutating call.
	APIToken string
	// ReadToken is the masters' read-only token. When set, every read (all
	// of /api/ but the mutating calls) needs it or APIToken; on a mutating
	// call it gets 403 rather than 401. /healthz, /readyz, /metrics and the
	// dashboard stay open.
	ReadToken string
	// OnRefused, when set, is told about every request refused for its
	// token (caller address, "METHOD /path", reason; never the token), so
	// the master can audit it.
	OnRefused func(peerAddr, method, reason string)
	// Gatherer is served at /metrics next to the API's own HTTP metrics; nil
	// serves only the API's metrics.
	Gatherer prometheus.Gatherer
	// Logger is the parent logger; the server logs as "api".
	Logger hclog.Logger
	// RequestTimeout bounds each unary backend call made for one request. It
	// must cover a spawn (30 s on the agent plus retries).
	RequestTimeout time.Duration
	// MaxBodyBytes is the largest request body accepted; larger bodies get 413.
	MaxBodyBytes int64
	// KeepaliveInterval is how often an idle event stream gets an SSE comment
	// so that proxies and browsers keep the connection open.
	KeepaliveInterval time.Duration
	// CORSOrigins lists the origins (scheme://host:port) allowed to call the
	// API from a browser page they serve (--cors-origin); none by default,
	// never a wildcard. The dashboard is same-origin and needs none.
	CORSOrigins []string
	// PeerHosts, when set, lists the HTTP addresses (host:port) of the
	// cluster's masters: a page served by one of them (the dashboard,
	// which moves to another master when its own dies) is allowed like a
	// listed origin.
	PeerHosts func() []string
	// Authorizer, when set, decides tokens and capabilities (the master's,
	// with ACLs); nil builds one from APIToken and ReadToken.
	Authorizer *security.Authorizer
	// Streams, when set, bounds open event streams per token or client
	// (shared with the gRPC port); nil allows security.DefaultMaxStreams.
	Streams *security.StreamLimiter
	// Insecure, when set, makes the dashboard show a banner: no token
	// guards a non-loopback address.
	Insecure bool
	// DefaultEventLimit is the number of events listed when ?limit is absent.
	DefaultEventLimit uint32
	// MaxEventLimit is the largest ?limit accepted by the events listing.
	MaxEventLimit uint32
	// EnableDebug serves pprof under /debug/pprof/ (full token when set).
	EnableDebug bool
	// SampleInterval is how often the dashboard's chart data is sampled
	// from Gatherer (/api/grid/timeseries keeps 360 samples).
	SampleInterval time.Duration
	// DebugConfig is served at /debug/config (full token when set): the
	// process's version and configuration with secrets redacted.
	DebugConfig any
}

// DefaultConfig returns the configuration a master uses unless told otherwise.
func DefaultConfig() Config {
	return Config{
		RequestTimeout:    45 * time.Second,
		MaxBodyBytes:      1 << 20,
		KeepaliveInterval: 15 * time.Second,
		DefaultEventLimit: 100,
		MaxEventLimit:     1000,
		SampleInterval:    10 * time.Second,
	}
}

// withDefaults fills zero fields of cfg from DefaultConfig.
func (cfg Config) withDefaults() Config {
	def := DefaultConfig()
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = def.RequestTimeout
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = def.MaxBodyBytes
	}
	if cfg.KeepaliveInterval <= 0 {
		cfg.KeepaliveInterval = def.KeepaliveInterval
	}
	if cfg.DefaultEventLimit == 0 {
		cfg.DefaultEventLimit = def.DefaultEventLimit
	}
	if cfg.MaxEventLimit == 0 {
		cfg.MaxEventLimit = def.MaxEventLimit
	}
	if cfg.SampleInterval <= 0 {
		cfg.SampleInterval = def.SampleInterval
	}
	if cfg.DefaultEventLimit > cfg.MaxEventLimit {
		cfg.DefaultEventLimit = cfg.MaxEventLimit
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.Streams == nil {
		cfg.Streams = security.NewStreamLimiter(0)
	}
	return cfg
}

// Server is the REST API, the SSE stream and the embedded dashboard.
type Server struct {
	backend Backend
	cfg     Config
	logger  hclog.Logger
	mux     *http.ServeMux
	metrics *httpMetrics
	handler http.Handler
	// staticAuth is used when Config.Authorizer is nil.
	staticAuth *security.Authorizer
	sampler    *sampler // the dashboard's charts; nil without a Gatherer
}

// New builds a Server over backend. Zero fields of cfg take their
// DefaultConfig values.
func New(backend Backend, cfg Config) *Server {
	cfg = cfg.withDefaults()
	s := &Server{
		backend: backend,
		cfg:     cfg,
		logger:  cfg.Logger.Named("api"),
		mux:     http.NewServeMux(),
		metrics: newHTTPMetrics(),
	}
	s.staticAuth = security.NewAuthorizer(cfg.APIToken, cfg.ReadToken, nil)
	s.registerRoutes()
	s.handler = s.browserSafety(s.mux)
	if cfg.Gatherer != nil {
		s.sampler = newSampler(prometheus.Gatherers{cfg.Gatherer, s.metrics.registry}, cfg.SampleInterval)
	}
	return s
}

// Close stops the chart sampler.
func (s *Server) Close() {
	if s.sampler != nil {
		s.sampler.close()
	}
}

// Handler is the http.Handler to serve.
func (s *Server) Handler() http.Handler { return s.handler }

// handlerFunc is an API handler: it writes its success response itself and
// returns an error for the edge to turn into a JSON error response.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// registerRoutes wires every endpoint of the REST contract.
func (s *Server) registerRoutes() {
	s.route(http.MethodGet, "/healthz", s.healthz)
	s.route(http.MethodGet, "/readyz", s.readyz)
	s.mux.Handle("/metrics", s.metrics.instrument("/metrics", s.metricsHandler()))
	s.registerDebug()
	s.route(http.MethodGet, "/api/grid/timeseries", s.guard(security.CapRead, s.timeseries))
	s.route(http.MethodGet, "/api/grid/graph/{id}/neighbors", s.guard(security.CapRead, s.getNeighbors))

	s.route(http.MethodGet, "/api/grid/status", s.guard(security.CapRead, s.getStatus))
	s.route(http.MethodGet, "/api/grid/agents", s.guard(security.CapRead, s.listAgents))
	s.route(http.MethodGet, "/api/grid/nodes", s.guard(security.CapRead, s.listNodes))
	s.route(http.MethodGet, "/api/grid/nodes/{node_id}", s.guard(security.CapRead, s.getNode))
	s.route(http.MethodGet, "/api/grid/masters", s.guard(security.CapRead, s.listMasters))
	s.route(http.MethodGet, "/api/grid/events", s.guard(security.CapRead, s.listEvents))
	s.route(http.MethodGet, "/api/grid/events/stream", s.guard(security.CapRead, s.streamEvents))
	s.route(http.MethodPost, "/api/grid/spawn", s.guard(security.CapNodeSpawn, s.spawn))
	s.route(http.MethodPost, "/api/grid/stop", s.guard(security.CapNodeStop, s.stop))
	s.route(http.MethodPost, "/api/grid/query", s.guard(security.CapRead, s.query)) // a read
	s.route(http.MethodPost, "/api/grid/operator/remove-peer", s.guard(security.CapOperatorRaft, s.removePeer))
	s.route(http.MethodPost, "/api/grid/operator/transfer-leadership", s.guard(security.CapOperatorRaft, s.transferLeadership))
	s.route(http.MethodGet, "/api/grid/operator/verify", s.guard(security.CapOperatorRead, s.verify))
	s.route(http.MethodGet, "/api/grid/operator/failovers", s.guard(security.CapOperatorRead, s.listFailovers))
	s.route(http.MethodGet, "/api/grid/operator/autopilot/health", s.guard(security.CapOperatorRead, s.autopilotHealth))
	s.route("", "/api/grid/agents/{id}", s.agentResource)
	s.route(http.MethodPost, "/api/grid/agents/{id}/eligibility", s.guard(security.CapAgentWrite, s.setEligibility))
	s.route(http.MethodPost, "/api/grid/agents/{id}/drain", s.guard(security.CapAgentWrite, s.drainAgent))
	s.route(http.MethodGet, "/api/grid/alerts", s.guard(security.CapRead, s.listAlerts))
	s.registerACLRoutes()
	s.route(http.MethodGet, "/api/grid/ui-config", s.uiConfig)

	// Anything else under /api/ is a JSON 404, not the dashboard.
	s.route("", "/api/", func(w http.ResponseWriter, r *http.Request) error {
		return routeError(http.StatusNotFound, "no such endpoint: %s %s", r.Method, r.URL.Path)
	})
	s.mux.Handle("/", s.metrics.instrument("dashboard", s.dashboardHandler()))
}

// route registers h for one method on pattern; any other method gets a JSON
// 405 (HEAD is accepted where GET is). An empty method accepts every method.
func (s *Server) route(method, pattern string, h handlerFunc) {
	wrapped := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if method != "" && r.Method != method && !(method == http.MethodGet && r.Method == http.MethodHead) {
			w.Header().Set("Allow", method)
			s.writeError(w, r, routeError(http.StatusMethodNotAllowed, "method %s not allowed on %s; use %s", r.Method, r.URL.Path, method))
			return
		}
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
	s.mux.Handle(pattern, s.metrics.instrument(pattern, wrapped))
}
