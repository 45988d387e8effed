package rpc

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// Name is the event type's snake_case name as stored and shown
// ("spawn_failed"); "" for EVENT_TYPE_UNSPECIFIED.
func (t EventType) Name() string {
	if t == EventType_EVENT_TYPE_UNSPECIFIED {
		return ""
	}
	name, ok := EventType_name[int32(t)]
	if !ok {
		return fmt.Sprintf("type_%d", int32(t))
	}
	return strings.ToLower(name)
}

// ParseEventType maps a snake_case name ("spawn_failed") or a decimal code
// ("12") to its EventType.
func ParseEventType(s string) (EventType, error) {
	s = strings.TrimSpace(s)
	if v, ok := EventType_value[strings.ToUpper(s)]; ok && v != 0 {
		return EventType(v), nil
	}
	var code int32
	if _, err := fmt.Sscanf(s, "%d", &code); err == nil && fmt.Sprint(code) == s {
		if _, ok := EventType_name[code]; ok && code != 0 {
			return EventType(code), nil
		}
	}
	return EventType_EVENT_TYPE_UNSPECIFIED, fmt.Errorf("unknown event type %q", s)
}

// AllEventTypes lists every defined event type in code order.
func AllEventTypes() []EventType {
	out := make([]EventType, 0, len(EventType_name))
	for code := range int32(100) {
		if _, ok := EventType_name[code]; ok && code != 0 {
			out = append(out, EventType(code))
		}
	}
	return out
}

// NewEventID makes a producer-side event id: unique, so that a retried batch
// is deduplicated on apply.
func NewEventID(source string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", source, time.Now().UnixMicro(), hex.EncodeToString(b[:]))
}

// NewEvent builds an event stamped now with a fresh producer-made id.
func NewEvent(source string, t EventType, entity string, details map[string]string) *Event {
	return &Event{
		Id:        NewEventID(source),
		Type:      t,
		EntityId:  entity,
		Timestamp: time.Now().UnixMicro(),
		Details:   details,
		Source:    source,
	}
}
