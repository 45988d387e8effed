package agent

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/gridctl/grid/rpc/security"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// httpServer is the agent's --http-addr: /healthz (the process is up),
// /readyz (registered with a master), /metrics, /debug/config and, with
// EnableDebug, /debug/pprof/. The debug routes need the full token when
// APIToken is set.
type httpServer struct {
	srv *http.Server
	lis net.Listener
}

func newHTTPServer(a *Agent, lis net.Listener, reg *prometheus.Registry) *httpServer {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeHTTPJSON(w, http.StatusOK, map[string]any{"status": "ok", "agent_id": a.cfg.AgentID})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		addr, leader := a.hb.Master()
		if !a.hb.Registered() {
			writeHTTPJSON(w, http.StatusServiceUnavailable, map[string]any{"ready": false, "reason": "not registered with a master"})
			return
		}
		writeHTTPJSON(w, http.StatusOK, map[string]any{"ready": true, "master": addr, "leader_id": leader})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	// The debug routes take the token the agent's gRPC port checks on its
	// mutating calls (the masters' token; replaced on SIGHUP).
	guard := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			got, ok := security.BearerToken(r.Header.Get("Authorization"))
			if _, ref := a.auth.Authorize(got, ok, security.CapUnknown); ref != nil {
				writeHTTPJSON(w, http.StatusUnauthorized, map[string]any{"success": false,
					"error": "this call needs an Authorization: Bearer <token> header with the full token"})
				return
			}
			h(w, r)
		}
	}
	mux.HandleFunc("GET /debug/config", guard(func(w http.ResponseWriter, r *http.Request) {
		writeHTTPJSON(w, http.StatusOK, a.cfg.DebugConfig)
	}))
	if a.cfg.EnableDebug {
		mux.HandleFunc("/debug/pprof/", guard(pprof.Index))
		mux.HandleFunc("/debug/pprof/cmdline", guard(pprof.Cmdline))
		mux.HandleFunc("/debug/pprof/profile", guard(pprof.Profile))
		mux.HandleFunc("/debug/pprof/symbol", guard(pprof.Symbol))
		mux.HandleFunc("/debug/pprof/trace", guard(pprof.Trace))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeHTTPJSON(w, http.StatusNotFound, map[string]any{"success": false, "error": "no such endpoint: " + r.Method + " " + r.URL.Path})
	})
	return &httpServer{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, lis: lis}
}

func writeHTTPJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
