package rpc

import (
	"context"
	"errors"
	"net/http"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Error kinds. Every sentinel error of Grid (cluster, nodes, agent, fsm) is
// declared with NewSentinel and one of these kinds; the kind alone decides
// the gRPC code (StatusCode) and, through it, the HTTP status (HTTPStatus).
// These two tables are the only ones: REST, cluster and agent all use them.
var (
	// ErrInvalid: the request is malformed or out of range (INVALID_ARGUMENT, HTTP 400).
	ErrInvalid = errors.New("invalid argument")
	// ErrNotFound: the named agent, node or peer does not exist (NOT_FOUND, HTTP 404).
	ErrNotFound = errors.New("not found")
	// ErrExists: what the request creates exists already (ALREADY_EXISTS, HTTP 409).
	ErrExists = errors.New("already exists")
	// ErrPrecondition: the state does not allow the request now (FAILED_PRECONDITION, HTTP 409).
	ErrPrecondition = errors.New("failed precondition")
	// ErrExhausted: no capacity is left (RESOURCE_EXHAUSTED, HTTP 429).
	ErrExhausted = errors.New("resource exhausted")
	// ErrAborted: a concurrent order got there first; retry (ABORTED, HTTP 409).
	ErrAborted = errors.New("aborted")
	// ErrUnavailable: try again later or elsewhere (UNAVAILABLE, HTTP 503).
	ErrUnavailable = errors.New("unavailable")
	// ErrOutOfRange: a position (a stream's resume seq) lies outside what
	// exists (OUT_OF_RANGE, HTTP 400).
	ErrOutOfRange = errors.New("out of range")
	// ErrUnauthenticated: no valid credentials (UNAUTHENTICATED, HTTP 401).
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrPermissionDenied: valid credentials without the needed capability
	// (PERMISSION_DENIED, HTTP 403).
	ErrPermissionDenied = errors.New("permission denied")
)

// kindCodes is the one sentinel -> gRPC code table.
var kindCodes = []struct {
	kind error
	code codes.Code
}{
	{ErrInvalid, codes.InvalidArgument},
	{ErrNotFound, codes.NotFound},
	{ErrExists, codes.AlreadyExists},
	{ErrPrecondition, codes.FailedPrecondition},
	{ErrExhausted, codes.ResourceExhausted},
	{ErrAborted, codes.Aborted},
	{ErrUnavailable, codes.Unavailable},
	{ErrOutOfRange, codes.OutOfRange},
	{ErrUnauthenticated, codes.Unauthenticated},
	{ErrPermissionDenied, codes.PermissionDenied},
	{context.DeadlineExceeded, codes.DeadlineExceeded},
	{context.Canceled, codes.Canceled},
}

// ErrAgentUnreachable: the leader could not reach the agent an order was
// for, or it did not answer in time. It is FAILED_PRECONDITION (HTTP 409),
// deliberately not UNAVAILABLE: UNAVAILABLE means "this master or the
// leader cannot serve now, try again or elsewhere", and a forwarding
// master or a client must not read a dead agent as a dead leader (close its
// leader connection, resend the order). The order stays recorded and the
// leader's reconciler finishes it when the agent answers again.
var ErrAgentUnreachable = NewSentinel("agent unreachable", ErrPrecondition)

// sentinel is a named error of a kind: its message is its own, and
// errors.Is(err, kind) holds.
type sentinel struct {
	msg  string
	kind error
}

func (s *sentinel) Error() string { return s.msg }
func (s *sentinel) Unwrap() error { return s.kind }

// NewSentinel declares a sentinel error with message msg and kind (one of
// the Err kinds above), e.g.
//
//	var ErrNodeExists = rpc.NewSentinel("storage node already exists", rpc.ErrExists)
func NewSentinel(msg string, kind error) error {
	return &sentinel{msg: msg, kind: kind}
}

// Coded is an error that carries its own gRPC code (an agent's refusal
// relayed by the master keeps the agent's code).
type Coded interface {
	error
	GRPCCode() codes.Code
}

// StatusCode is the gRPC code err is answered with: a status error keeps its
// code, a Coded error gives its own, a sentinel's kind picks one from the
// table, anything else is INTERNAL.
func StatusCode(err error) codes.Code {
	if err == nil {
		return codes.OK
	}
	if st, ok := status.FromError(err); ok {
		return st.Code()
	}
	var c Coded
	if errors.As(err, &c) {
		return c.GRPCCode()
	}
	for _, k := range kindCodes {
		if errors.Is(err, k.kind) {
			return k.code
		}
	}
	return codes.Internal
}

// ToStatus converts err to a gRPC status error at the edge: a status error
// passes through; otherwise the code is StatusCode(err) and the message is
// err's text (with its wrapped context).
func ToStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Error(StatusCode(err), err.Error())
}

// StatusClientClosedRequest is the HTTP status of a request the client
// cancelled (nginx's 499).
const StatusClientClosedRequest = 499

// HTTPStatus is the one gRPC code -> HTTP status table of the REST API.
func HTTPStatus(c codes.Code) int {
	switch c {
	case codes.OK:
		return http.StatusOK
	case codes.InvalidArgument, codes.OutOfRange:
		return http.StatusBadRequest
	case codes.NotFound:
		return http.StatusNotFound
	case codes.AlreadyExists, codes.FailedPrecondition, codes.Aborted:
		return http.StatusConflict
	case codes.ResourceExhausted:
		return http.StatusTooManyRequests
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	case codes.PermissionDenied:
		return http.StatusForbidden
	case codes.Unavailable:
		return http.StatusServiceUnavailable
	case codes.DeadlineExceeded:
		return http.StatusGatewayTimeout
	case codes.Canceled:
		return StatusClientClosedRequest
	case codes.Unimplemented:
		return http.StatusNotImplemented
	default:
		return http.StatusInternalServerError
	}
}
