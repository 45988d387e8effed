package rpc

import (
	"fmt"
	"strconv"
	"testing"

	"google.golang.org/protobuf/proto"
)

// benchReply is a QueryEvents reply of 100 events shaped like
// test/bench's (one entity, two details each).
func benchReply() *EventList {
	l := &EventList{LastSeq: 1_000_000, FirstSeq: 1}
	for i := range 100 {
		l.Events = append(l.Events, &Event{
			Id: fmt.Sprintf("bench-q-%d", 999_000+i), Seq: uint64(999_000 + i), Type: EventType_NODE_CRASHED,
			EntityId: "node-bench-0042", Timestamp: 1_700_000_000_000_000 + int64(i),
			Details: map[string]string{"restart_count": strconv.Itoa(i % 4), "exit_code": "137"}, Source: "bench",
		})
	}
	return l
}

// The client's side of a 100-event QueryEvents reply.
func BenchmarkDecodeEventList100(b *testing.B) {
	raw, err := proto.Marshal(benchReply())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		var l EventList
		if err := decodeEventList(raw, &l); err != nil {
			b.Fatal(err)
		}
	}
}
