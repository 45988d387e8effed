package events

import (
	"fmt"
	"unicode"
	"unicode/utf8"

	"github.com/gridctl/grid/rpc"
)

// MaxEntityLen is the longest entity id an event may carry, in bytes.
const MaxEntityLen = 128

// Limits on events accepted at the edge (EmitEvents) and on filters.
const (
	maxEventsPerRequest = 10000
	maxEventIDLen       = 200  // bytes
	maxSourceLen        = 200  // bytes
	maxDetailKeys       = 64   // keys per event
	maxDetailBytes      = 4096 // sum of key and value lengths per event
	maxFilterLimit      = 10000
	maxFilterTerms      = 64 // types or entity ids in one filter
)

// validateEmitRequest checks an EmitEvents request; the error names the
// event's index and the field.
func validateEmitRequest(req *rpc.EmitEventsRequest) error {
	n := len(req.GetEvents())
	if n == 0 {
		return fmt.Errorf("%w: events is empty (send 1 to %d)", ErrInvalid, maxEventsPerRequest)
	}
	if n > maxEventsPerRequest {
		return fmt.Errorf("%w: %d events in one request (at most %d)", ErrInvalid, n, maxEventsPerRequest)
	}
	if len(req.GetSource()) > maxSourceLen {
		return fmt.Errorf("%w: source is %d bytes long (at most %d)", ErrInvalid, len(req.GetSource()), maxSourceLen)
	}
	for i, e := range req.GetEvents() {
		if e == nil {
			return fmt.Errorf("%w: events[%d] is null", ErrInvalid, i)
		}
		if err := validateEvent(e); err != nil {
			return fmt.Errorf("events[%d]: %w", i, err)
		}
	}
	return nil
}

// validateEvent checks one event's id, type, entity, timestamp, source and
// details against the limits above.
func validateEvent(e *rpc.Event) error {
	switch {
	case e.GetId() == "":
		return fmt.Errorf("%w: id is empty", ErrInvalid)
	case len(e.GetId()) > maxEventIDLen:
		return fmt.Errorf("%w: id is %d bytes long (at most %d)", ErrInvalid, len(e.GetId()), maxEventIDLen)
	case !utf8.ValidString(e.GetId()):
		return fmt.Errorf("%w: id is not valid UTF-8", ErrInvalid)
	}
	if err := validateEventType("type", e.GetType()); err != nil {
		return err
	}
	if err := validateEntity("entity_id", e.GetEntityId()); err != nil {
		return err
	}
	if e.GetTimestamp() <= 0 {
		return fmt.Errorf("%w: timestamp %d must be > 0 (unix micros)", ErrInvalid, e.GetTimestamp())
	}
	if len(e.GetSource()) > maxSourceLen {
		return fmt.Errorf("%w: source is %d bytes long (at most %d)", ErrInvalid, len(e.GetSource()), maxSourceLen)
	}
	if len(e.GetDetails()) > maxDetailKeys {
		return fmt.Errorf("%w: details has %d keys (at most %d)", ErrInvalid, len(e.GetDetails()), maxDetailKeys)
	}
	size := 0
	for k, v := range e.GetDetails() {
		if k == "" {
			return fmt.Errorf("%w: details has an empty key", ErrInvalid)
		}
		size += len(k) + len(v)
	}
	if size > maxDetailBytes {
		return fmt.Errorf("%w: details are %d bytes (at most %d)", ErrInvalid, size, maxDetailBytes)
	}
	return nil
}

// validateEventType accepts only defined, non-zero event types.
func validateEventType(field string, t rpc.EventType) error {
	if t == rpc.EventType_EVENT_TYPE_UNSPECIFIED {
		return fmt.Errorf("%w: %s is unspecified", ErrInvalid, field)
	}
	if _, ok := rpc.EventType_name[int32(t)]; !ok {
		return fmt.Errorf("%w: %s %d is not a known event type", ErrInvalid, field, int32(t))
	}
	return nil
}

// validateEntity accepts 1-128 bytes of printable UTF-8.
func validateEntity(field, s string) error {
	if s == "" {
		return fmt.Errorf("%w: %s is empty", ErrInvalid, field)
	}
	if len(s) > MaxEntityLen {
		return fmt.Errorf("%w: %s is %d bytes long (at most %d)", ErrInvalid, field, len(s), MaxEntityLen)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalid, field)
	}
	for i, r := range s {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return fmt.Errorf("%w: %s %q has a space or control character at byte %d", ErrInvalid, field, truncate(s, 64), i)
		}
	}
	return nil
}

// validateEventFilter checks a QueryEvents filter (or a stream's filter).
func validateEventFilter(f *rpc.EventFilter) error {
	if f == nil {
		return nil
	}
	if len(f.GetTypes()) > maxFilterTerms {
		return fmt.Errorf("%w: %d types in the filter (at most %d)", ErrInvalid, len(f.GetTypes()), maxFilterTerms)
	}
	for i, t := range f.GetTypes() {
		if err := validateEventType(fmt.Sprintf("types[%d]", i), t); err != nil {
			return err
		}
	}
	if len(f.GetEntityIds()) > maxFilterTerms {
		return fmt.Errorf("%w: %d entity_ids in the filter (at most %d)", ErrInvalid, len(f.GetEntityIds()), maxFilterTerms)
	}
	for i, id := range f.GetEntityIds() {
		if err := validateEntity(fmt.Sprintf("entity_ids[%d]", i), id); err != nil {
			return err
		}
	}
	if f.GetSince() < 0 {
		return fmt.Errorf("%w: since %d is negative", ErrInvalid, f.GetSince())
	}
	if f.GetUntil() < 0 {
		return fmt.Errorf("%w: until %d is negative", ErrInvalid, f.GetUntil())
	}
	if f.GetSince() > 0 && f.GetUntil() > 0 && f.GetSince() > f.GetUntil() {
		return fmt.Errorf("%w: since %d is after until %d", ErrInvalid, f.GetSince(), f.GetUntil())
	}
	if f.GetLimit() > maxFilterLimit {
		return fmt.Errorf("%w: limit %d is above %d", ErrInvalid, f.GetLimit(), maxFilterLimit)
	}
	return nil
}

// truncate cuts s to at most n bytes for logs and messages, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
