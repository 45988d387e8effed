package api

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

// webFiles is the dashboard: plain HTML, CSS and JavaScript, no build step.
//
//go:embed web
var webFiles embed.FS

// dashboardHandler serves the dashboard at / and /grid and its assets
// (/app.js, /style.css). Any other path is a JSON 404.
func (s *Server) dashboardHandler() http.Handler {
	sub, err := fs.Sub(webFiles, "web")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET")
			s.writeError(w, r, routeError(http.StatusMethodNotAllowed, "method %s not allowed on %s; use GET", r.Method, r.URL.Path))
			return
		}
		switch p := r.URL.Path; {
		case p == "/" || p == "/grid" || p == "/grid/" || p == "/index.html":
			w.Header().Set("Cache-Control", "no-cache")
			http.ServeFileFS(w, r, sub, "index.html")
		case strings.Count(p, "/") == 1 && isAsset(p):
			w.Header().Set("Cache-Control", "no-cache")
			files.ServeHTTP(w, r)
		default:
			s.writeError(w, r, routeError(http.StatusNotFound, "no such page: %s", p))
		}
	})
}

// isAsset says whether p names one of the dashboard's static files.
func isAsset(p string) bool {
	return strings.HasSuffix(p, ".js") || strings.HasSuffix(p, ".css") || strings.HasSuffix(p, ".svg")
}
