package api

import (
	"encoding/json"
	"net/http"
	"net/http/pprof"

	"github.com/gridctl/grid/rpc/security"
)

// registerDebug serves /debug/config (this process's version and
// configuration, secrets redacted) and, with Config.EnableDebug, pprof under
// /debug/pprof/. Both need capability operator:monitor (the full token, an
// operator or management ACL token) when a token is set.
func (s *Server) registerDebug() {
	s.route(http.MethodGet, "/debug/config", s.guard(security.CapMonitor, func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "application/json")
		return json.NewEncoder(w).Encode(s.cfg.DebugConfig)
	}))
	if !s.cfg.EnableDebug {
		return
	}
	wrap := func(h http.HandlerFunc) handlerFunc {
		return s.guard(security.CapMonitor, func(w http.ResponseWriter, r *http.Request) error {
			h(w, r)
			return nil
		})
	}
	s.route("", "/debug/pprof/", wrap(pprof.Index))
	s.route("", "/debug/pprof/cmdline", wrap(pprof.Cmdline))
	s.route("", "/debug/pprof/profile", wrap(pprof.Profile))
	s.route("", "/debug/pprof/symbol", wrap(pprof.Symbol))
	s.route("", "/debug/pprof/trace", wrap(pprof.Trace))
}
