package eventstore

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gridctl/grid/rpc"
	"google.golang.org/protobuf/proto"
)

// wireList decodes EventsWire's bytes as an EventList with protobuf-go.
func wireList(t *testing.T, raw []byte) *rpc.EventList {
	t.Helper()
	var l rpc.EventList
	if err := proto.Unmarshal(raw, &l); err != nil {
		t.Fatalf("decode EventsWire output: %v", err)
	}
	return &l
}

// EventsWire's bytes decode (protobuf-go) to exactly what Events returns,
// for every filter shape, with and without details, empty strings, any
// type and sign of timestamp; a stored string that is not UTF-8 is refused
// with ErrNotWire, so the caller answers through Events.
func TestEventsWireMatchesEvents(t *testing.T) {
	s := openTestStore(t, true)
	rng := rand.New(rand.NewPCG(11, 12))
	types := []rpc.EventType{crashed, restarted, offline, rpc.EventType_SPAWN_SUCCEEDED}
	var batch []*rpc.Event
	for i := range 3000 {
		e := ev(fmt.Sprintf("w-%d", i), types[rng.IntN(len(types))], fmt.Sprintf("node-%d", rng.IntN(9)), base+int64(i)*1000-int64(rng.IntN(30))*1000, nil)
		switch i % 5 {
		case 0:
			e.Details = map[string]string{"restart_count": fmt.Sprint(i % 4), "exit_code": "137"}
		case 1:
			e.Details = map[string]string{"reason": "", "agent_id": "agent-é✓", "b": "x", "a": "y"}
		case 2:
			e.Source = ""
		case 3:
			e.Timestamp = -e.Timestamp
		}
		batch = append(batch, e)
	}
	if _, err := s.AppendEvents(batch); err != nil {
		t.Fatal(err)
	}
	filters := []Filter{{}, {Limit: 10000}, {Ascending: true, Limit: 500}, {After: 2990}}
	for q := range 200 {
		f := Filter{Limit: 1 + rng.IntN(200), Ascending: q%2 == 0}
		if q%3 == 0 {
			f.Types = []rpc.EventType{types[q%len(types)]}
		}
		if q%4 == 0 {
			f.Entities = []string{fmt.Sprintf("node-%d", q%9), "agent-é✓"}
		}
		if q%5 == 0 {
			f.Since = base + int64(rng.IntN(3000))*1000
			f.Until = f.Since + int64(rng.IntN(800))*1000
		}
		filters = append(filters, f)
	}
	for _, f := range filters {
		want, err := s.Events(f)
		if err != nil {
			t.Fatal(err)
		}
		raw, n, err := s.EventsWire(f)
		if err != nil {
			t.Fatalf("%+v: %v", f, err)
		}
		got := wireList(t, raw)
		if n != len(want) || !proto.Equal(got, &rpc.EventList{Events: want}) {
			t.Fatalf("%+v: EventsWire gave %d events %v, Events %v", f, n, seqsOf(got.Events), seqsOf(want))
		}
	}

	// Not UTF-8: refused, as protobuf-go's encoder refuses it.
	bad := ev("bad-utf8", crashed, "node-bad", base, map[string]string{"k": "\xff\xfe"})
	if _, err := s.AppendEvents([]*rpc.Event{bad}); err != nil {
		t.Skipf("the store refuses non-UTF-8 details (%v): nothing for EventsWire to refuse", err)
	}
	if _, _, err := s.EventsWire(Filter{Entities: []string{"node-bad"}}); !errors.Is(err, ErrNotWire) {
		t.Fatalf("a non-UTF-8 detail: err %v, want ErrNotWire", err)
	}
	if _, err := proto.Marshal(&rpc.EventList{Events: []*rpc.Event{bad}}); err == nil {
		t.Fatal("protobuf-go encodes a non-UTF-8 string: ErrNotWire is not needed")
	}
}
