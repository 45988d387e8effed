package main

import (
	"context"
	"crypto/sha256"
	"sync"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/rpc/security"
	"github.com/urfave/cli/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
)

// requestIDs gives every mutating call of one CLI run a request id
// (x-grid-request-id), the same one for each try of the same call (the
// next --master address after UNAVAILABLE), so that a try that succeeded
// on a leader whose answer was lost is not carried out twice. --request-id
// sets the id, so an operator can retry a command by hand safely.
type requestIDs struct {
	fixed string
	mu    sync.Mutex
	ids   map[[32]byte]string
}

func newRequestIDs(c *cli.Context) *requestIDs {
	return &requestIDs{fixed: c.String("request-id"), ids: map[[32]byte]string{}}
}

// idFor returns the id of one call (method and request body).
func (r *requestIDs) idFor(method string, req any) (string, error) {
	if r.fixed != "" {
		return r.fixed, nil
	}
	h := sha256.New()
	h.Write([]byte(method))
	if m, ok := req.(proto.Message); ok {
		b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(m)
		h.Write(b)
	}
	var key [32]byte
	copy(key[:], h.Sum(nil))
	r.mu.Lock()
	defer r.mu.Unlock()
	if id, ok := r.ids[key]; ok {
		return id, nil
	}
	id, err := rpc.NewRequestID()
	if err != nil {
		return "", err
	}
	r.ids[key] = id
	return id, nil
}

// interceptor adds the request id to mutating unary calls.
func (r *requestIDs) interceptor(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn,
	invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if security.IsMutatingGridMethod(method) {
		id, err := r.idFor(method, req)
		if err != nil {
			return err
		}
		ctx = metadata.AppendToOutgoingContext(ctx, rpc.RequestIDMetadataKey, id)
	}
	return invoker(ctx, method, req, reply, cc, opts...)
}
