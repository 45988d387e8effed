package api

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/gridctl/grid/rpc/security"
)

// requireToken guards a mutating handler: when Config.APIToken is set the
// request must carry "Authorization: Bearer <token>" (compared in constant
// time), else it is refused with 401 (403 for the read-only token) before
// anything else is read.
func (s *Server) requireToken(h handlerFunc) handlerFunc {
	if s.cfg.APIToken == "" {
		return h
	}
	want := []byte(s.cfg.APIToken)
	return func(w http.ResponseWriter, r *http.Request) error {
		got, ok := bearerToken(r)
		if !ok {
			s.refused(r, security.RefusedMissingToken)
			return errorf(ErrUnauthorized, "this call needs an Authorization: Bearer <token> header")
		}
		if subtle.ConstantTimeCompare([]byte(got), want) != 1 {
			if s.cfg.ReadToken != "" && security.TokenMatches(got, s.cfg.ReadToken) {
				s.refused(r, security.RefusedReadOnlyToken)
				return errorf(ErrForbidden, "the read-only API token cannot change anything")
			}
			s.refused(r, security.RefusedInvalidToken)
			return errorf(ErrUnauthorized, "the bearer token is not valid")
		}
		return h(w, r)
	}
}

// requireReadToken guards a read: when Config.ReadToken is set the request
// must carry the full or the read-only token, else it is refused with 401
// (and audited) before anything else is read. Without a read token reads
// are open, as on the masters' gRPC port.
func (s *Server) requireReadToken(h handlerFunc) handlerFunc {
	if s.cfg.ReadToken == "" {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		got, ok := bearerToken(r)
		if !ok {
			s.refused(r, security.RefusedMissingToken)
			return errorf(ErrUnauthorized, "this call needs an Authorization: Bearer <token> header (the full or the read-only token)")
		}
		if !security.TokenMatches(got, s.cfg.APIToken) && !security.TokenMatches(got, s.cfg.ReadToken) {
			s.refused(r, security.RefusedInvalidToken)
			return errorf(ErrUnauthorized, "the bearer token is not valid")
		}
		return h(w, r)
	}
}

// refused reports a refused request to Config.OnRefused.
func (s *Server) refused(r *http.Request, reason string) {
	if s.cfg.OnRefused != nil {
		s.cfg.OnRefused(r.RemoteAddr, r.Method+" "+r.URL.Path, reason)
	}
}

// bearerToken extracts the token of an "Authorization: Bearer" header.
func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// backendContext is the context for one unary backend call made on behalf of
// r: bounded by Config.RequestTimeout.
func (s *Server) backendContext(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
}
