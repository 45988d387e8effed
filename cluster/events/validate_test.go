package events

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/gridctl/grid/rpc"
)

func validEvent() *rpc.Event {
	return &rpc.Event{Id: "agent-1-1-ab", Type: rpc.EventType_SPAWN_FAILED, EntityId: "node-1", Timestamp: 1700000000000000,
		Details: map[string]string{"agent_id": "agent-1"}}
}

func TestValidateEmitRequest(t *testing.T) {
	bigDetails := map[string]string{}
	for i := range 65 {
		bigDetails[fmt.Sprintf("k%d", i)] = "v"
	}
	cases := []struct {
		name   string
		mutate func(r *rpc.EmitEventsRequest)
		want   string // substring of the error; "" = valid
	}{
		{"valid", func(r *rpc.EmitEventsRequest) {}, ""},
		{"no events", func(r *rpc.EmitEventsRequest) { r.Events = nil }, "events is empty"},
		{"too many events", func(r *rpc.EmitEventsRequest) {
			for range maxEventsPerRequest {
				r.Events = append(r.Events, validEvent())
			}
		}, "10001 events"},
		{"null event", func(r *rpc.EmitEventsRequest) { r.Events = append(r.Events, nil) }, "events[1] is null"},
		{"empty id", func(r *rpc.EmitEventsRequest) { r.Events[0].Id = "" }, "events[0]: invalid argument: id is empty"},
		{"long id", func(r *rpc.EmitEventsRequest) { r.Events[0].Id = strings.Repeat("x", 201) }, "id is 201 bytes"},
		{"unspecified type", func(r *rpc.EmitEventsRequest) { r.Events[0].Type = 0 }, "type is unspecified"},
		{"unknown type", func(r *rpc.EmitEventsRequest) { r.Events[0].Type = 999 }, "type 999 is not a known event type"},
		{"empty entity", func(r *rpc.EmitEventsRequest) { r.Events[0].EntityId = "" }, "entity_id is empty"},
		{"long entity", func(r *rpc.EmitEventsRequest) { r.Events[0].EntityId = strings.Repeat("n", 129) }, "entity_id is 129 bytes"},
		{"control char entity", func(r *rpc.EmitEventsRequest) { r.Events[0].EntityId = "node\x00" }, "control character"},
		{"zero timestamp", func(r *rpc.EmitEventsRequest) { r.Events[0].Timestamp = 0 }, "timestamp 0"},
		{"too many details", func(r *rpc.EmitEventsRequest) { r.Events[0].Details = bigDetails }, "details has 65 keys"},
		{"big details", func(r *rpc.EmitEventsRequest) {
			r.Events[0].Details = map[string]string{"error": strings.Repeat("e", 5000)}
		}, "details are 5005 bytes"},
		{"second event bad", func(r *rpc.EmitEventsRequest) {
			e := validEvent()
			e.Timestamp = -1
			r.Events = append(r.Events, e)
		}, "events[1]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := &rpc.EmitEventsRequest{Events: []*rpc.Event{validEvent()}, Source: "agent-1"}
			tc.mutate(req)
			err := validateEmitRequest(req)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want ErrInvalid containing %q", err, tc.want)
			}
		})
	}
}

func TestValidateEventFilter(t *testing.T) {
	cases := []struct {
		name string
		f    *rpc.EventFilter
		want string
	}{
		{"nil", nil, ""},
		{"empty", &rpc.EventFilter{}, ""},
		{"full", &rpc.EventFilter{Types: []rpc.EventType{rpc.EventType_NODE_CRASHED}, EntityIds: []string{"agent-001"},
			Since: 10, Until: 20, After: 5, Limit: 10000, Ascending: true}, ""},
		{"since after until", &rpc.EventFilter{Since: 20, Until: 10}, "since 20 is after until 10"},
		{"limit", &rpc.EventFilter{Limit: 10001}, "limit 10001"},
		{"bad type", &rpc.EventFilter{Types: []rpc.EventType{0}}, "types[0] is unspecified"},
		{"bad entity", &rpc.EventFilter{EntityIds: []string{""}}, "entity_ids[0] is empty"},
		{"negative since", &rpc.EventFilter{Since: -1}, "since -1 is negative"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := validateEventFilter(tc.f)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want ErrInvalid containing %q", err, tc.want)
			}
		})
	}
}
