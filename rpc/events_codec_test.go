package rpc

import (
	"bytes"
	"math"
	"testing"

	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
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

// The direct decoder reads what protobuf-go reads: replies from either
// encoder decode to the same message, and the direct path is the one taken.
func TestEventCodecDecodes(t *testing.T) {
	c := encoding.GetCodecV2(grpcproto.Name)
	l := &EventList{Events: codecEvents(), LastSeq: 1 << 40, FirstSeq: 7}
	std, err := proto.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	fast, err := c.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range [][]byte{std, fast.Materialize(), nil} {
		want := &EventList{}
		if err := proto.Unmarshal(b, want); err != nil {
			t.Fatal(err)
		}
		direct := &EventList{}
		if err := decodeEventList(b, direct); err != nil {
			t.Fatalf("direct decode: %v", err)
		}
		if !proto.Equal(direct, want) {
			t.Fatalf("direct decode %v, want %v", direct, want)
		}
		got := &EventList{LastSeq: 99, Events: []*Event{{Id: "stale"}}}
		if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(b)}, got); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(got, want) {
			t.Fatalf("codec decode %v, want %v", got, want)
		}
	}
}

// Replies the direct decoder does not handle go to protobuf-go: unknown
// fields are kept, malformed or non-UTF-8 replies are refused as before.
func TestEventCodecDecodeFallsBack(t *testing.T) {
	c := encoding.GetCodecV2(grpcproto.Name)
	base, _ := proto.Marshal(&EventList{Events: []*Event{{Id: "a", Details: map[string]string{"k": "v"}}}, LastSeq: 3})
	unknown := protowire.AppendTag(append([]byte(nil), base...), 99, protowire.VarintType)
	unknown = protowire.AppendVarint(unknown, 5)
	badUTF8 := protowire.AppendTag(nil, 1, protowire.BytesType)
	badUTF8 = protowire.AppendBytes(badUTF8, protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "\xff"))
	for name, b := range map[string][]byte{"unknown field": unknown, "invalid utf-8": badUTF8, "truncated": base[:len(base)-1]} {
		want := &EventList{}
		wantErr := proto.Unmarshal(b, want)
		got := &EventList{}
		err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(b)}, got)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("%s: error %v, protobuf-go %v", name, err, wantErr)
		}
		if err == nil && !proto.Equal(got, want) {
			t.Fatalf("%s: decoded %v, want %v", name, got, want)
		}
	}
}
