package rpc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
)

// Request ids make retries of mutating calls idempotent. A client makes one
// id per intended operation and sends it with every try: as gRPC metadata
// (RequestIDMetadataKey), as the REST header X-Request-Id or body field
// request_id, or in-process with WithRequestID. The leader keeps the
// response of each call that succeeded, by id, for a while (fsm.RequestTTL).

// RequestIDHeader is the REST API's request id header.
const RequestIDHeader = "X-Request-Id"

// ValidateRequestID checks a request id: the id rule (ValidateID).
func ValidateRequestID(id string) error { return ValidateID("request_id", id) }

// NewRequestID makes a request id: "req-" and 16 random hex digits.
func NewRequestID() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("request id: %w", err)
	}
	return "req-" + hex.EncodeToString(b[:]), nil
}

type requestIDKey struct{}

// WithRequestID attaches a request id to ctx for an in-process call (the
// REST API's calls into the master); empty id leaves ctx as it is.
func WithRequestID(ctx context.Context, id string) context.Context {
	if id == "" {
		return ctx
	}
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestIDFromContext is the id WithRequestID attached ("" if none).
func RequestIDFromContext(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}
