package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/rpc/security"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// SSE event names on GET /api/grid/events/stream.
const (
	// sseEventGrid carries one event of the history; its SSE id is the seq.
	sseEventGrid = "grid_event"
	// sseEventGap says the resume point is older than the retained history;
	// the stream closes after it and the client must resync from a listing.
	sseEventGap = "gap"
	// sseEventStreamError says the backend stream failed (for example the
	// master lost its leader); the stream closes and the client reconnects.
	sseEventStreamError = "stream_error"
)

// streamRecv is one event of the backend stream, or its end.
type streamRecv struct {
	event *rpc.Event
	err   error
}

// streamEvents is GET /api/grid/events/stream: Server-Sent Events resuming
// exactly after ?after=SEQ or the Last-Event-ID header (which wins: it is
// what a reconnecting EventSource sends). event_type and entity_id filter as
// on the listing. A resume point older than retention is answered with 410
// before the stream starts, or with a "gap" event if found out later.
func (s *Server) streamEvents(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	after, err := resumePoint(r)
	if err != nil {
		return err
	}
	types, err := parseEventTypes(q.Get("event_type"))
	if err != nil {
		return err
	}
	entities := splitList(q.Get("entity_id"))
	for _, e := range entities {
		if err := validateEntityID("entity_id", e); err != nil {
			return err
		}
	}
	// ?stale is accepted for symmetry with the listing; a stream is always
	// answered from the local replica.
	if _, err := staleParam(r); err != nil {
		return err
	}
	if err := s.checkRetained(r, after); err != nil {
		return err
	}

	release, err := s.cfg.Streams.Acquire(security.StreamKey(security.IdentityFrom(r.Context()), clientHost(r)))
	if err != nil {
		s.refused(r, "too many event streams")
		return err
	}
	defer release()

	ctx, cancel := context.WithCancel(r.Context())
	// The backend runs the stream in its own goroutine and hands each event
	// over through recv; its end (nil becomes io.EOF) comes last.
	recv := make(chan streamRecv)
	streamDone := make(chan struct{})
	defer func() { cancel(); <-streamDone }()
	go func() {
		defer close(streamDone)
		err := s.backend.StreamEvents(ctx, &rpc.StreamEventsRequest{
			After:  after,
			Filter: &rpc.EventFilter{Types: types, EntityIds: entities},
		}, func(e *rpc.Event) error {
			select {
			case recv <- streamRecv{event: e}:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		if err == nil {
			err = io.EOF
		}
		select {
		case recv <- streamRecv{err: err}:
		case <-ctx.Done():
		}
	}()

	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // a stream outlives the server's write timeout
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprintf(w, "retry: 2000\n: streaming events after seq %d\n\n", after); err != nil {
		return nil
	}
	if err := rc.Flush(); err != nil {
		return nil
	}
	s.metrics.sseStreams.Inc()
	defer s.metrics.sseStreams.Dec()
	s.logger.Debug("event stream opened", "after", after, "remote", r.RemoteAddr)

	keepalive := time.NewTicker(s.cfg.KeepaliveInterval)
	defer keepalive.Stop()
	last := after
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-keepalive.C:
			if _, err := io.WriteString(w, ": keepalive\n\n"); err != nil {
				return nil
			}
			if err := rc.Flush(); err != nil {
				return nil
			}
		case res := <-recv:
			if res.err != nil {
				s.endStream(w, rc, res.err, last)
				return nil
			}
			e := res.event
			if e.GetSeq() <= last && last != 0 {
				continue // already sent (a backend replaying its resume point)
			}
			if !matchesStreamFilter(e, types, entities) {
				last = max(last, e.GetSeq())
				continue
			}
			if err := writeSSE(w, strconv.FormatUint(e.GetSeq(), 10), sseEventGrid, toEventView(e)); err != nil {
				return nil
			}
			if err := rc.Flush(); err != nil {
				return nil
			}
			last = e.GetSeq()
		}
	}
}

// endStream tells the client why the stream ends: a gap (OutOfRange) or a
// stream error. A normal end or a client that went away gets nothing.
func (s *Server) endStream(w http.ResponseWriter, rc *http.ResponseController, err error, last uint64) {
	if errors.Is(err, io.EOF) || errors.Is(err, context.Canceled) || status.Code(err) == codes.Canceled {
		return
	}
	_, msg, code := httpStatusFor(err)
	name := sseEventStreamError
	if status.Code(err) == codes.OutOfRange {
		name = sseEventGap
		code = "out_of_range"
	}
	s.logger.Debug("event stream ended", "reason", name, "last_seq", last, "error", err)
	body := map[string]any{"success": false, "error": msg, "code": code, "last_seq": last}
	if writeSSE(w, "", name, body) == nil {
		_ = rc.Flush()
	}
}

// writeSSE writes one SSE message; data is JSON on a single line.
func writeSSE(w io.Writer, id, event string, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return err
	}
	if id != "" {
		if _, err := fmt.Fprintf(w, "id: %s\n", id); err != nil {
			return err
		}
	}
	_, err = fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b)
	return err
}

// resumePoint is the seq to resume after: Last-Event-ID if sent, else
// ?after, else 0 (the start of the retained history).
func resumePoint(r *http.Request) (uint64, error) {
	if v := r.Header.Get("Last-Event-ID"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, invalidf("Last-Event-ID %q: must be an event sequence number", v)
		}
		return n, nil
	}
	if v := r.URL.Query().Get("after"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, invalidf("after %q: must be a non-negative integer sequence number", v)
		}
		return n, nil
	}
	return 0, nil
}

// checkRetained refuses (410) a resume point the local replica no longer
// retains, so that a client never silently misses events.
func (s *Server) checkRetained(r *http.Request, after uint64) error {
	if after == 0 {
		return nil
	}
	ctx, cancel := s.backendContext(r)
	defer cancel()
	list, err := s.backend.QueryEvents(ctx, &rpc.EventFilter{Limit: 1, Ascending: true, Stale: true})
	if err != nil {
		return err
	}
	if first := list.GetFirstSeq(); first > 0 && after+1 < first {
		return routeError(http.StatusGone, "events after seq %d are no longer retained (oldest retained seq is %d): resync from GET /api/grid/events", after, first)
	}
	return nil
}

// matchesStreamFilter applies the stream's type and entity filters (the
// backend applies them too; this keeps the contract whatever it does).
func matchesStreamFilter(e *rpc.Event, types []rpc.EventType, entities []string) bool {
	if len(types) > 0 && !slices.Contains(types, e.GetType()) {
		return false
	}
	if len(entities) > 0 && !slices.Contains(entities, e.GetEntityId()) {
		return false
	}
	return true
}
