package api

import (
	"context"
	"net"
	"net/http"
	"strings"

	"github.com/gridctl/grid/rpc/security"
	"google.golang.org/grpc/codes"
)

// authorizer is the Authorizer the API checks tokens with: Config.Authorizer
// (the master's, shared with its gRPC port) or one built from the static
// tokens.
func (s *Server) authorizer() *security.Authorizer {
	if s.cfg.Authorizer != nil {
		return s.cfg.Authorizer
	}
	return s.staticAuth
}

// guard protects a handler with capability c: the request's bearer token
// is resolved (static tokens, ACL tokens) and must hold c, else 401 (no or
// a bad token) or 403 naming the missing capability, audited, before
// anything else is read. The identity and the token ride in the request's
// context for the backend (which forwards the caller's token to the leader).
func (s *Server) guard(c string, h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		tok, present := bearerToken(r)
		id, ref := s.authorizer().Authorize(tok, present, c)
		if ref != nil {
			s.refused(r, ref.Reason)
			if ref.Code == codes.PermissionDenied {
				return errorf(ErrForbidden, "%s", ref.Message)
			}
			return errorf(ErrUnauthorized, "%s; send Authorization: Bearer <token>", ref.Message)
		}
		ctx := security.WithIdentity(r.Context(), id)
		if present {
			ctx = security.WithBearer(ctx, tok)
		}
		return h(w, r.WithContext(ctx))
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
	return security.BearerToken(r.Header.Get("Authorization"))
}

// clientHost is the request's remote host.
func clientHost(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return strings.TrimSpace(r.RemoteAddr)
}

// backendContext is the context for one unary backend call made on behalf of
// r: bounded by Config.RequestTimeout.
func (s *Server) backendContext(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
}
