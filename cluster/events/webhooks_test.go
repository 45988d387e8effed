package events

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/gridctl/grid/eventstore"
	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/waitfor"
)

// receiver records deliveries; fail makes it answer 500.
type receiver struct {
	mu    sync.Mutex
	fail  bool
	got   []delivery
	srv   *httptest.Server
	order []uint64
}

type delivery struct {
	ID, Sig string
	Seq     uint64
	Body    []byte
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if rc.fail {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		var b struct {
			DeliveryID string `json:"delivery_id"`
			Seq        uint64 `json:"seq"`
		}
		if err := json.Unmarshal(body, &b); err != nil || b.DeliveryID != r.Header.Get(HeaderDelivery) {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		rc.got = append(rc.got, delivery{ID: b.DeliveryID, Sig: r.Header.Get(HeaderSignature), Seq: b.Seq, Body: body})
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) deliveries() []delivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]delivery(nil), rc.got...)
}

func TestWebhookDeliversInOrderSignedAndResumes(t *testing.T) {
	r := newFakeRaft(t)
	rc := newReceiver(t)
	hook := WebhookConfig{URL: rc.srv.URL + "/hook", Secret: "k", EventTypes: []string{"alert_fired", "node_crashed"}}
	m := newFakeMaster(t, r, "master-1", func(c *Config) {
		c.Webhooks = []WebhookConfig{hook}
		c.AlertRules = nil
		c.WebhookBackoff, c.WebhookMaxBackoff, c.WebhookMaxLag = 5*time.Millisecond, 20*time.Millisecond, 50*time.Millisecond
	})
	r.setLeader("master-1")
	m.pipeline.Start()
	add := func(typ rpc.EventType, entity string) {
		if _, err := r.store.AppendEvents([]*rpc.Event{newEvent("agent-001", typ, entity, 0)}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- m.pipeline.RunLeader(ctx) }()
	add(rpc.EventType_NODE_CRASHED, "node-a")
	add(rpc.EventType_SPAWN_SUCCEEDED, "node-a") // not wanted
	add(rpc.EventType_NODE_CRASHED, "node-b")
	waitfor.True(t, 5*time.Second, "two deliveries", func() bool { return len(rc.deliveries()) == 2 })
	name := hook.WebhookName()
	waitfor.True(t, 5*time.Second, "ack of seq 3", func() bool { acks, _ := r.store.WebhookAcks(); return acks[name] == 3 })
	// The receiver fails: deliveries retry, and webhook_failing is raised once.
	rc.mu.Lock()
	rc.fail = true
	rc.mu.Unlock()
	add(rpc.EventType_NODE_CRASHED, "node-c")
	waitfor.True(t, 5*time.Second, "webhook_failing", func() bool {
		n, _ := r.store.CountEvents(eventstore.Filter{Types: []rpc.EventType{rpc.EventType_WEBHOOK_FAILING}})
		return n >= 1
	})
	// Leadership ends; the next term resumes after the replicated ack.
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	rc.mu.Lock()
	rc.fail = false
	rc.mu.Unlock()
	ctx2, cancel2 := context.WithCancel(t.Context())
	defer cancel2()
	go func() { _ = m.pipeline.RunLeader(ctx2) }()
	waitfor.True(t, 5*time.Second, "third delivery", func() bool { return len(rc.deliveries()) >= 3 })
	got := rc.deliveries()
	var seqs []uint64
	for _, d := range got {
		seqs = append(seqs, d.Seq)
		if d.Sig != Sign("k", d.Body) {
			t.Errorf("delivery %s: bad signature %q", d.ID, d.Sig)
		}
	}
	if len(got) != 3 || seqs[0] != 1 || seqs[1] != 3 || seqs[2] != 4 || got[0].ID != name+"-1" {
		t.Fatalf("deliveries = %v", seqs)
	}
	st, err := m.pipeline.WebhookStatus(t.Context(), &rpc.Empty{})
	if err != nil || len(st.GetWebhooks()) != 1 || st.Webhooks[0].GetName() != name {
		t.Fatalf("status = %v, %v", st, err)
	}
}

func TestWebhookConfigValidate(t *testing.T) {
	for _, u := range []string{"ftp://x/y", "file:///etc/passwd", "http//x", "", "javascript:alert(1)"} {
		if err := (WebhookConfig{URL: u}).Validate(); err == nil {
			t.Errorf("%q accepted", u)
		}
	}
	if err := (WebhookConfig{URL: "https://h.example/x", EventTypes: []string{"bogus"}}).Validate(); err == nil {
		t.Error("unknown event type accepted")
	}
	w := WebhookConfig{URL: "https://user:pw@h.example/x?token=1"}
	if err := w.Validate(); err != nil || redactedURL(w.URL) != "https://h.example/x" || !w.wants(rpc.EventType_ALERT_FIRED) || w.wants(rpc.EventType_NODE_CRASHED) {
		t.Errorf("defaults: %v %s", err, redactedURL(w.URL))
	}
}
