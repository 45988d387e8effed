package rpc

import (
	"bytes"
	"math"
	"testing"

	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/protobuf/proto"
)

func codecEvents() []*Event {
	return []*Event{
		{},
		{Id: "e-1", Seq: 1, Type: EventType_NODE_CRASHED, EntityId: "node-1", Timestamp: 1_700_000_000_000_000, Source: "agent-1"},
		{Id: "é-ü-✓", Seq: math.MaxUint64, Type: EventType(-3), EntityId: "节点", Timestamp: -5, Details: map[string]string{"": ""}},
		{Id: "d", Type: EventType_SPAWN_SUCCEEDED, Timestamp: math.MinInt64, Details: map[string]string{"exit_code": "137"}},
		{Id: "many", Seq: 300, Details: map[string]string{"a": "1", "bb": "", "caused_by": "x,y,z", "k": string(make([]byte, 300))}},
	}
}

// The direct encoder writes what protobuf-go writes: the same bytes where
// map order cannot differ (at most one detail), and the same message back
// from any decoder everywhere.
func TestEventCodecMatchesProto(t *testing.T) {
	c := encoding.GetCodecV2(grpcproto.Name)
	if _, ok := c.(eventCodec); !ok {
		t.Fatalf("registered proto codec is %T, want eventCodec", c)
	}
	evs := codecEvents()
	msgs := []proto.Message{&EventList{}, &EventList{Events: evs, LastSeq: 1 << 40, FirstSeq: 7}}
	for _, e := range evs {
		msgs = append(msgs, e)
	}
	for _, m := range msgs {
		got, err := c.Marshal(m)
		if err != nil {
			t.Fatalf("%v: %v", m, err)
		}
		b := got.Materialize()
		got.Free()
		if want := proto.Size(m); len(b) != want {
			t.Fatalf("%v: %d bytes, protobuf-go %d", m, len(b), want)
		}
		back := m.ProtoReflect().New().Interface()
		if err := proto.Unmarshal(b, back); err != nil {
			t.Fatalf("%v: decode: %v", m, err)
		}
		if !proto.Equal(back, m) {
			t.Fatalf("decoded %v, want %v", back, m)
		}
		if e, ok := m.(*Event); ok && len(e.Details) <= 1 {
			want, _ := proto.MarshalOptions{Deterministic: true}.Marshal(m)
			if !bytes.Equal(b, want) {
				t.Fatalf("%v: bytes %x, protobuf-go %x", m, b, want)
			}
		}
	}
}

// What the direct encoder does not handle goes to protobuf-go: invalid
// UTF-8 is refused as before, other messages encode as before.
func TestEventCodecFallsBack(t *testing.T) {
	c := encoding.GetCodecV2(grpcproto.Name)
	bad := &EventList{Events: []*Event{{Id: "ok"}, {Id: "\xff"}}}
	if _, err := c.Marshal(bad); err == nil {
		t.Fatal("invalid UTF-8 in an event id encoded without error")
	}
	if _, err := c.Marshal(&Event{Details: map[string]string{"k": "\xfe"}}); err == nil {
		t.Fatal("invalid UTF-8 in a detail encoded without error")
	}
	f := &EventFilter{EntityIds: []string{"node-1"}, Limit: 100}
	got, err := c.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := proto.Marshal(f)
	if !bytes.Equal(got.Materialize(), want) {
		t.Fatal("EventFilter encoded differently")
	}
}
