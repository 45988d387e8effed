package fsm

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/gridctl/grid/rpc"
)

func TestWebhookAckMovesForwardAndSurvivesSnapshot(t *testing.T) {
	f := newTestFSM(t)
	out := applyAll(t, f, logOf(t, []entry{
		{WebhookAckType, &rpc.WebhookAckCommand{Name: "wh-a", Seq: 7}},
		{WebhookAckType, &rpc.WebhookAckCommand{Name: "wh-a", Seq: 5}}, // a deposed leader's late ack
		{WebhookAckType, &rpc.WebhookAckCommand{Name: "wh-b", Seq: 2}},
		{WebhookAckType, &rpc.WebhookAckCommand{Name: "", Seq: 9}},
	}))
	if out[0] != nil || out[1] != nil || out[2] != nil {
		t.Fatalf("responses = %v", out)
	}
	if err, _ := out[3].(error); !errors.Is(err, ErrInvalid) {
		t.Fatalf("empty name: %v", out[3])
	}
	acks, err := f.WebhookAcks()
	if err != nil || acks["wh-a"] != 7 || acks["wh-b"] != 2 || len(acks) != 2 {
		t.Fatalf("acks = %v, %v", acks, err)
	}
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	snap.Release()
	dst := newTestFSM(t)
	if err := dst.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	if got, _ := dst.WebhookAcks(); got["wh-a"] != 7 || got["wh-b"] != 2 {
		t.Fatalf("restored acks = %v", got)
	}
	if s := WebhookAckType.String(); s != "webhook_ack" {
		t.Fatalf("name %q", s)
	}
}
