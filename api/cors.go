package api

import (
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// browserSafety keeps the browser from being turned against the cluster:
//   - CORS answers only origins listed in Config.CORSOrigins (none by
//     default: the dashboard is same-origin); never a wildcard;
//   - a preflight from any other origin gets 403;
//   - a mutating request (anything but GET, HEAD, OPTIONS) must send
//     Content-Type: application/json (a text/plain or form POST is what a
//     cross-site page can send without a preflight) and either no Origin
//     (CLI clients) or a listed or same-host one; otherwise 403/415,
//     audited, before any handler runs.
func (s *Server) browserSafety(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		allowed := origin != "" && s.originAllowed(origin)
		h := w.Header()
		h.Add("Vary", "Origin")
		if allowed && !s.sameHost(origin, r) {
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Expose-Headers", "Content-Type")
		}
		if r.Method == http.MethodOptions {
			if origin != "" && !allowed && !s.sameHost(origin, r) {
				s.refused(r, "preflight from an unlisted origin")
				s.writeError(w, r, routeError(http.StatusForbidden, "origin %q is not allowed (see --cors-origin)", origin))
				return
			}
			h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Last-Event-ID, X-Request-Id")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if origin != "" && !allowed && !s.sameHost(origin, r) {
				s.refused(r, "cross-origin request from an unlisted origin")
				s.writeError(w, r, routeError(http.StatusForbidden, "cross-origin request from %q refused (see --cors-origin)", origin))
				return
			}
			if r.ContentLength != 0 || r.Header.Get("Content-Type") != "" {
				mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
				if err != nil || mt != "application/json" {
					s.refused(r, "non-JSON content type")
					s.writeError(w, r, routeError(http.StatusUnsupportedMediaType, "mutating requests need Content-Type: application/json"))
					return
				}
			} else if origin != "" {
				// A body-less POST from a browser page: still refuse unless same-host/listed (checked above).
				_ = origin
			}
		}
		next.ServeHTTP(w, r)
	})
}

// originAllowed reports whether origin is listed in Config.CORSOrigins or
// is a page served by one of the cluster's masters (Config.PeerHosts).
func (s *Server) originAllowed(origin string) bool {
	for _, o := range s.cfg.CORSOrigins {
		if strings.EqualFold(strings.TrimRight(o, "/"), strings.TrimRight(origin, "/")) {
			return true
		}
	}
	if s.cfg.PeerHosts == nil {
		return false
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || u.Path != "" {
		return false
	}
	for _, h := range s.cfg.PeerHosts() {
		if h != "" && strings.EqualFold(h, u.Host) {
			return true
		}
	}
	return false
}

// sameHost reports whether origin names the host the request was sent to
// (the dashboard served by this master).
func (s *Server) sameHost(origin string, r *http.Request) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	return strings.EqualFold(u.Host, r.Host)
}
