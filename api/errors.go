package api

import (
	"context"
	"errors"
	"fmt"
	"github.com/gridctl/grid/rpc"
	"net/http"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrInvalidInput marks a request refused before the backend was called:
// a malformed or ill-typed body, an unknown field, a bad query parameter or a
// value out of range. It becomes HTTP 400.
var ErrInvalidInput = errors.New("invalid input")

// ErrBodyTooLarge marks a request body larger than Config.MaxBodyBytes. It
// becomes HTTP 413.
var ErrBodyTooLarge = errors.New("request body too large")

// ErrUnauthorized marks a mutating call without the configured bearer token
// (or with a wrong one). It becomes HTTP 401.
var ErrUnauthorized = errors.New("unauthorized")

// ErrForbidden marks a mutating call made with the read-only token. It
// becomes HTTP 403.
var ErrForbidden = errors.New("forbidden")

// httpStatusError is an error that already knows its HTTP status (unknown
// routes, wrong methods).
type httpStatusError struct {
	status int
	msg    string
}

func (e *httpStatusError) Error() string { return e.msg }

// routeError builds an error answered with the given HTTP status.
func routeError(code int, format string, args ...any) error {
	return &httpStatusError{status: code, msg: fmt.Sprintf(format, args...)}
}

// invalidf wraps ErrInvalidInput with what was wrong and why.
func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidInput, fmt.Sprintf(format, args...))
}

// errorBody is the JSON shape of every error response.
type errorBody struct {
	Success bool   `json:"success"`
	Error   string `json:"error"`
	// Code is the gRPC code name in snake_case when the backend refused the
	// call ("not_found", "unavailable"), else a short HTTP reason.
	Code string `json:"code,omitempty"`
}

// httpStatusFor maps err to an HTTP status, the message shown to the client
// and a short code.
func httpStatusFor(err error) (int, string, string) {
	var hse *httpStatusError
	switch {
	case errors.As(err, &hse):
		return hse.status, hse.msg, strings.ReplaceAll(strings.ToLower(http.StatusText(hse.status)), " ", "_")
	case errors.Is(err, ErrInvalidInput):
		return http.StatusBadRequest, err.Error(), "invalid_input"
	case errors.Is(err, ErrBodyTooLarge):
		return http.StatusRequestEntityTooLarge, err.Error(), "body_too_large"
	case errors.Is(err, ErrUnauthorized):
		return http.StatusUnauthorized, err.Error(), "unauthenticated"
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden, err.Error(), "permission_denied"
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, "backend call timed out: " + err.Error(), "deadline_exceeded"
	case errors.Is(err, context.Canceled):
		return 499, "request canceled", "canceled"
	}
	st, ok := status.FromError(err)
	if !ok {
		// A sentinel of package rpc (a body that broke the wire contract).
		c := rpc.StatusCode(err)
		return rpc.HTTPStatus(c), err.Error(), codeName(c)
	}
	return rpc.HTTPStatus(st.Code()), st.Message(), codeName(st.Code())
}

// codeName is a gRPC code in snake_case ("not_found").
func codeName(c codes.Code) string {
	var b strings.Builder
	for i, r := range c.String() {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// writeError answers with the JSON error shape and logs server-side failures.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code, msg, short := httpStatusFor(err)
	if code >= 500 {
		s.logger.Warn("request failed", "method", r.Method, "path", r.URL.Path, "status", code, "error", err)
	} else {
		s.logger.Debug("request refused", "method", r.Method, "path", r.URL.Path, "status", code, "error", err)
	}
	if code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="grid"`)
	}
	writeJSON(w, code, errorBody{Success: false, Error: msg, Code: short})
}

// errorf wraps a sentinel error with a description.
func errorf(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, args...))
}
