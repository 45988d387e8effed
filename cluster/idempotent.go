package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gridctl/grid/fsm"
	"github.com/gridctl/grid/rpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
)

// Idempotent retries. A mutating call that carries a request id (rpc
// requestid.go) and succeeds leaves its response in the replicated
// request-dedupe table (fsm requests.go); a retry with the same id, on this
// leader or a later one, is answered from there and not carried out again.
// A call whose whole effect is one raft command (unregister) records its
// response in the same entry (applyRecorded), so no failover can split the
// two. Concurrent tries of one id on the leader run one at a time
// (requestLocks).

// requestID is the call's request id: the in-process one, else gRPC metadata.
func requestID(ctx context.Context) string {
	if id := rpc.RequestIDFromContext(ctx); id != "" {
		return id
	}
	md, ok := metadata.FromIncomingContext(ctx)
	if !ok {
		return ""
	}
	if v := md.Get(rpc.RequestIDMetadataKey); len(v) > 0 {
		return v[0]
	}
	return ""
}

// requestLocks serialises the tries of one request id on this leader.
type requestLocks struct {
	mu   sync.Mutex
	held map[string]chan struct{}
}

// lock waits until no other try of id runs here, then holds id until the
// returned func is called.
func (l *requestLocks) lock(ctx context.Context, id string) (func(), error) {
	for {
		l.mu.Lock()
		if l.held == nil {
			l.held = make(map[string]chan struct{})
		}
		ch, busy := l.held[id]
		if !busy {
			done := make(chan struct{})
			l.held[id] = done
			l.mu.Unlock()
			return func() {
				l.mu.Lock()
				delete(l.held, id)
				l.mu.Unlock()
				close(done)
			}, nil
		}
		l.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// recordedResponse returns the response recorded for id, if any; a record
// of another method is ErrInvalid (an id reused for a different call).
func recordedResponse[T proto.Message](m *Master, id, method string, out T) (T, bool, error) {
	rec, ok := m.fsm.Request(id)
	if !ok {
		return out, false, nil
	}
	if rec.Method != method {
		return out, false, fmt.Errorf("%w: request id %q was used for %s, not %s", ErrInvalid, id, rec.Method, method)
	}
	if err := proto.Unmarshal(rec.Response, out); err != nil {
		return out, false, fmt.Errorf("recorded response of %q: %w", id, err)
	}
	return out, true, nil
}

// idempotent runs a mutating call on the leader at most once per request
// id: a recorded response answers a retry; otherwise run runs and, if it
// succeeded and did not record itself, its response is recorded. Without a
// request id it just runs.
func idempotent[T proto.Message](ctx context.Context, m *Master, method string, newOut func() T,
	run func(ctx context.Context) (T, error)) (T, error) {
	var zero T
	id := requestID(ctx)
	if id == "" {
		return run(ctx)
	}
	if err := rpc.ValidateRequestID(id); err != nil {
		return zero, err
	}
	unlock, err := m.endpoint.requests.lock(ctx, id)
	if err != nil {
		return zero, err
	}
	defer unlock()
	if out, ok, err := recordedResponse(m, id, method, newOut()); err != nil || ok {
		if ok {
			m.logger.Debug("answered a retried request from its record", "request_id", id, "method", method)
		}
		return out, err
	}
	out, err := run(ctx)
	if err != nil {
		return zero, err
	}
	if _, ok := m.fsm.Request(id); ok {
		return out, nil // recorded with its command (applyRecorded)
	}
	resp, err := proto.Marshal(out)
	if err != nil {
		return out, nil
	}
	if _, err := m.raftApply(fsm.RecordRequestType, &rpc.RequestRecord{
		RequestId: id, Method: method, Response: resp, At: time.Now().UnixMicro(),
	}); err != nil && !errors.Is(err, fsm.ErrDuplicateRequest) {
		// The call succeeded; only its retry protection is missing.
		m.logger.Warn("record request failed", "request_id", id, "method", method, "error", err)
	}
	return out, nil
}

// applyRecorded commits command t with msg; with a request id on ctx the
// command travels inside a request record, so the command and the record
// of response commit together or not at all.
func (m *Master) applyRecorded(ctx context.Context, method string, t fsm.MessageType, msg, response proto.Message) (any, error) {
	id := requestID(ctx)
	if id == "" || rpc.ValidateRequestID(id) != nil {
		return m.raftApply(t, msg)
	}
	cmd, err := fsm.Encode(t, msg)
	if err != nil {
		return nil, err
	}
	resp, err := proto.Marshal(response)
	if err != nil {
		return nil, err
	}
	return m.raftApply(fsm.RecordRequestType, &rpc.RequestRecord{
		RequestId: id, Method: method, Response: resp, At: time.Now().UnixMicro(), Command: cmd,
	})
}

func newEmpty() *rpc.Empty { return &rpc.Empty{} }

// transferOnce runs a leadership transfer at most once per request id. The
// transfer moves leadership away, so its record cannot be written after
// it: the id is recorded first, and forgotten again if the transfer fails
// while this master still leads. A retry that finds the record answers
// with the current leader and moves nothing.
func (m *Master) transferOnce(ctx context.Context, run func(ctx context.Context) (*rpc.TransferLeadershipResponse, error)) (*rpc.TransferLeadershipResponse, error) {
	const method = "TransferLeadership"
	id := requestID(ctx)
	if id == "" {
		return run(ctx)
	}
	if err := rpc.ValidateRequestID(id); err != nil {
		return nil, err
	}
	unlock, err := m.endpoint.requests.lock(ctx, id)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if _, ok, err := recordedResponse(m, id, method, new(rpc.TransferLeadershipResponse)); err != nil || ok {
		if err != nil {
			return nil, err
		}
		return &rpc.TransferLeadershipResponse{NewLeaderId: m.config.ID}, nil
	}
	resp, _ := proto.Marshal(&rpc.TransferLeadershipResponse{})
	if _, err := m.raftApply(fsm.RecordRequestType, &rpc.RequestRecord{
		RequestId: id, Method: method, Response: resp, At: time.Now().UnixMicro(),
	}); err != nil {
		if errors.Is(err, fsm.ErrDuplicateRequest) {
			return &rpc.TransferLeadershipResponse{NewLeaderId: m.config.ID}, nil
		}
		return nil, err
	}
	out, err := run(ctx)
	if err != nil && m.isLeader() {
		if _, ferr := m.raftApply(fsm.RecordRequestType, &rpc.RequestRecord{RequestId: id, Method: method, Forget: true}); ferr != nil {
			m.logger.Warn("forget failed transfer request", "request_id", id, "error", ferr)
		}
	}
	return out, err
}
