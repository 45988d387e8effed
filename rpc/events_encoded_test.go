package rpc

import (
	"testing"

	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
)

// A list whose events were set pre-encoded is sent as the list with those
// events: by this package's codec and by protobuf-go alike, and decoded so
// by protobuf-go and by the direct decoder.
func TestEncodedEventsOnTheWire(t *testing.T) {
	c := encoding.GetCodecV2(grpcproto.Name)
	events := codecEvents()
	raw, err := proto.Marshal(&EventList{Events: events}) // field 1 entries only
	if err != nil {
		t.Fatal(err)
	}
	want := &EventList{Events: events, LastSeq: 1 << 40, FirstSeq: 7}
	l := &EventList{LastSeq: want.LastSeq, FirstSeq: want.FirstSeq}
	SetEncodedEvents(l, raw)
	fast, err := c.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	std, err := proto.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"codec": fast.Materialize(), "protobuf-go": std} {
		got := &EventList{}
		if err := proto.Unmarshal(b, got); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !proto.Equal(got, want) {
			t.Fatalf("%s: sent %v, want %v", name, got, want)
		}
		direct := &EventList{}
		if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(b)}, direct); err != nil {
			t.Fatalf("%s: direct decode: %v", name, err)
		}
		if !proto.Equal(direct, want) {
			t.Fatalf("%s: direct decode %v, want %v", name, direct, want)
		}
	}
	// No events: the list is its seqs alone, as before.
	empty := &EventList{LastSeq: 3}
	b, err := c.Marshal(empty)
	if err != nil {
		t.Fatal(err)
	}
	if std, _ := proto.Marshal(empty); string(b.Materialize()) != string(std) {
		t.Fatalf("empty list: %x, want %x", b.Materialize(), std)
	}
}
