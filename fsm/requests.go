package fsm

import (
	"fmt"
	"sort"
	"time"

	"github.com/gridctl/grid/rpc"
	"google.golang.org/protobuf/proto"
)

// The request-dedupe table: a mutating call that carries a request id and
// succeeded leaves its response here, so that a retry of it (after a lost
// reply, a timeout or a failover) is answered with the first result instead
// of being carried out again. It is replicated state, bounded in age and
// size; expiry is decided from the commands' own timestamps, never the clock.
const (
	// RequestTTL is how long a recorded response answers retries.
	RequestTTL = 10 * time.Minute
	// MaxRequests bounds the table; the oldest records go first.
	MaxRequests = 4096
)

// applyRecordRequest applies the record's command, if it carries one, and
// keeps the record only when that succeeded; it returns the command's
// response (nil without a command). A request id already recorded is not
// applied again: its first record stays and ErrDuplicateRequest is returned.
func (f *FSM) applyRecordRequest(buf []byte, i uint64) interface{} {
	rec := new(rpc.RequestRecord)
	decode(RecordRequestType, buf, i, rec)
	if rec.RequestId == "" || rec.Method == "" {
		return fmt.Errorf("record request: %w: empty request_id or method", ErrInvalid)
	}
	if rec.Forget {
		f.mu.Lock()
		delete(f.requests, rec.RequestId)
		f.mu.Unlock()
		return nil
	}
	f.mu.RLock()
	_, dup := f.requests[rec.RequestId]
	f.mu.RUnlock()
	if dup {
		return fmt.Errorf("record request %q: %w", rec.RequestId, ErrDuplicateRequest)
	}
	var resp interface{}
	if len(rec.Command) > 0 {
		if MessageType(rec.Command[0]) == RecordRequestType {
			return fmt.Errorf("record request: %w: nested record", ErrInvalid)
		}
		resp = f.applyInner(i, rec.Command)
		if _, failed := resp.(error); failed {
			return resp
		}
	}
	rec.Command = nil
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests[rec.RequestId] = rec
	f.expireRequestsLocked(rec.At)
	return resp
}

// expireRequestsLocked drops records older than RequestTTL before now (a
// command's timestamp), then the oldest beyond MaxRequests.
func (f *FSM) expireRequestsLocked(now int64) {
	cutoff := now - RequestTTL.Microseconds()
	for id, r := range f.requests {
		if r.At < cutoff {
			delete(f.requests, id)
		}
	}
	if len(f.requests) <= MaxRequests {
		return
	}
	all := make([]*rpc.RequestRecord, 0, len(f.requests))
	for _, r := range f.requests {
		all = append(all, r)
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].At != all[j].At {
			return all[i].At < all[j].At
		}
		return all[i].RequestId < all[j].RequestId
	})
	for _, r := range all[:len(all)-MaxRequests] {
		delete(f.requests, r.RequestId)
	}
}

// Request returns the record of a request id, if the table holds it.
func (f *FSM) Request(id string) (*rpc.RequestRecord, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	r, ok := f.requests[id]
	if !ok {
		return nil, false
	}
	return proto.Clone(r).(*rpc.RequestRecord), true
}

// applyInner applies a record's command at the record's index. A command
// that does not decode is refused (ErrInvalid), not a panic: the record
// itself decoded, and every replica refuses it the same way.
func (f *FSM) applyInner(i uint64, cmd []byte) (resp interface{}) {
	defer func() {
		if p := recover(); p != nil {
			resp = fmt.Errorf("record request: %w: %v", ErrInvalid, p)
		}
	}()
	return f.dispatch(MessageType(cmd[0]), cmd[1:], i)
}
