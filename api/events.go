package api

import (
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gridctl/grid/rpc"
)

// listEvents is GET /api/grid/events: the replicated event history filtered
// by type, entity, time and sequence.
func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) error {
	filter, err := s.parseEventFilter(r.URL.Query(), time.Now())
	if err != nil {
		return err
	}
	ctx, cancel := s.backendContext(r)
	defer cancel()
	list, err := s.backend.QueryEvents(ctx, filter)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, eventListView{
		Events:   toEventViews(list.GetEvents()),
		LastSeq:  list.GetLastSeq(),
		FirstSeq: list.GetFirstSeq(),
	})
	return nil
}

// parseEventFilter reads the events query parameters:
//
//	event_type  names or codes, comma separated (spawn_failed,12)
//	entity_id   comma separated
//	since/until RFC 3339 or unix seconds; since inclusive, until exclusive
//	hours       the last N hours (conflicts with since)
//	after       only events with seq > after
//	limit       1..MaxEventLimit, default DefaultEventLimit
//	order       asc or desc (default desc: newest first)
//	stale       true lets the local replica answer
func (s *Server) parseEventFilter(q url.Values, now time.Time) (*rpc.EventFilter, error) {
	f := &rpc.EventFilter{Limit: s.cfg.DefaultEventLimit}
	var err error
	if f.Types, err = parseEventTypes(q.Get("event_type")); err != nil {
		return nil, err
	}
	for _, e := range splitList(q.Get("entity_id")) {
		if err := validateEntityID("entity_id", e); err != nil {
			return nil, err
		}
		f.EntityIds = append(f.EntityIds, e)
	}
	if v := q.Get("since"); v != "" {
		if f.Since, err = parseTimeParam("since", v); err != nil {
			return nil, err
		}
	}
	if v := q.Get("until"); v != "" {
		if f.Until, err = parseTimeParam("until", v); err != nil {
			return nil, err
		}
	}
	if v := q.Get("hours"); v != "" {
		if q.Get("since") != "" {
			return nil, invalidf("hours and since both set: use one of them")
		}
		h, err := strconv.ParseFloat(v, 64)
		if err != nil || h <= 0 || math.IsInf(h, 0) || math.IsNaN(h) || h > 24*365*100 {
			return nil, invalidf("hours %q: must be a positive number of hours", v)
		}
		f.Since = now.Add(-time.Duration(h * float64(time.Hour))).UnixMicro()
	}
	if f.Since != 0 && f.Until != 0 && f.Until <= f.Since {
		return nil, invalidf("until must be after since")
	}
	if v := q.Get("after"); v != "" {
		if f.After, err = strconv.ParseUint(v, 10, 64); err != nil {
			return nil, invalidf("after %q: must be a non-negative integer sequence number", v)
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n == 0 || n > uint64(s.cfg.MaxEventLimit) {
			return nil, invalidf("limit %q: must be an integer between 1 and %d", v, s.cfg.MaxEventLimit)
		}
		f.Limit = uint32(n)
	}
	switch v := strings.ToLower(q.Get("order")); v {
	case "", "desc":
	case "asc":
		f.Ascending = true
	default:
		return nil, invalidf("order %q: must be asc or desc", v)
	}
	if f.Stale, err = staleValue(q.Get("stale")); err != nil {
		return nil, err
	}
	return f, nil
}

// parseEventTypes reads a comma list of event type names or codes.
func parseEventTypes(v string) ([]rpc.EventType, error) {
	var out []rpc.EventType
	for _, name := range splitList(v) {
		t, err := rpc.ParseEventType(name)
		if err != nil {
			return nil, invalidf("event_type %q: not a known event type name or code (e.g. spawn_failed or 12)", name)
		}
		out = append(out, t)
	}
	return out, nil
}

// parseTimeParam reads an RFC 3339 time or unix seconds as unix micros.
func parseTimeParam(name, v string) (int64, error) {
	if sec, err := strconv.ParseInt(v, 10, 64); err == nil {
		if sec < 0 || sec > 1<<40 {
			return 0, invalidf("%s %q: unix seconds out of range", name, v)
		}
		return sec * 1_000_000, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return 0, invalidf("%s %q: must be RFC 3339 (2025-01-02T15:04:05Z) or unix seconds", name, v)
	}
	if t.Unix() < 0 {
		return 0, invalidf("%s %q: before 1970", name, v)
	}
	return t.UnixMicro(), nil
}

// staleValue parses a stale flag; "" is false.
func staleValue(v string) (bool, error) {
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, invalidf("stale %q: must be true or false", v)
	}
	return b, nil
}

// splitList splits a comma list, dropping blanks.
func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
