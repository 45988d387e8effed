package test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/harness"
	"github.com/gridctl/grid/test/waitfor"
)

// hookReceiver is the test's webhook endpoint: it checks each signature
// and records deliveries in arrival order. delay makes it slow, so the
// leader is always mid-delivery with a backlog.
type hookReceiver struct {
	secret string
	delay  time.Duration

	mu      sync.Mutex
	arrived []hookDelivery
	badSig  int
}

type hookDelivery struct {
	id   string
	seq  uint64
	typ  string
	body string
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	mac := hmac.New(sha256.New, []byte(h.secret))
	mac.Write(body)
	var b struct {
		DeliveryID string `json:"delivery_id"`
		Seq        uint64 `json:"seq"`
		Event      struct {
			Seq       uint64 `json:"seq"`
			EventType string `json:"event_type"`
		} `json:"event"`
	}
	err := json.Unmarshal(body, &b)
	h.mu.Lock()
	if r.Header.Get("X-Grid-Signature") != "sha256="+hex.EncodeToString(mac.Sum(nil)) || err != nil || b.Seq != b.Event.Seq ||
		r.Header.Get("X-Grid-Delivery") != b.DeliveryID {
		h.badSig++
		h.mu.Unlock()
		http.Error(w, "bad signature or body", http.StatusUnauthorized)
		return
	}
	h.arrived = append(h.arrived, hookDelivery{id: b.DeliveryID, seq: b.Seq, typ: b.Event.EventType, body: string(body)})
	h.mu.Unlock()
	time.Sleep(h.delay) // a slow receiver: the ack comes after this
}

func (h *hookReceiver) maxSeq() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	var m uint64
	for _, d := range h.arrived {
		m = max(m, d.seq)
	}
	return m
}

// TestWebhookSurvivesLeaderKills: a receiver gets every event, in seq
// order and signed, while the leader is SIGKILLed three times mid-delivery;
// none is missing, and a redelivery carries the same delivery id.
func TestWebhookSurvivesLeaderKills(t *testing.T) {
	recv := &hookReceiver{secret: "hook-key", delay: 15 * time.Millisecond}
	srv := httptest.NewServer(recv)
	defer srv.Close()
	c := harness.NewCluster(t, harness.Options{MasterArgs: []string{
		"--webhook", srv.URL + "/grid", "--webhook-secret", "hook-key", "--webhook-events", "all"}})
	emit := func(round int) {
		t.Helper()
		var evs []*rpc.Event
		for i := range 40 {
			typ := rpc.EventType_AGENT_DEGRADED
			if i%10 == 0 {
				typ = rpc.EventType_NODE_CRASHED // three per round: crash_loop fires, and its alert is delivered too
			}
			e := rpc.NewEvent("webhook-test", typ, fmt.Sprintf("node-wh%d", round), nil)
			e.Id = fmt.Sprintf("wh-%d-%d", round, i)
			evs = append(evs, e)
		}
		waitfor.Until(t, 30*time.Second, "events emitted", func() (bool, string) {
			ctx, cancel := harness.Ctx(10 * time.Second)
			defer cancel()
			_, err := c.Live()[0].Client().EmitEvents(ctx, &rpc.EmitEventsRequest{Events: evs, Source: "webhook-test"})
			return err == nil, fmt.Sprint(err)
		})
	}
	for kill := 1; kill <= 3; kill++ {
		emit(kill)
		leader := c.WaitLeader(30 * time.Second)
		// Kill it while it delivers: some of this round arrived, not all.
		before := recv.maxSeq()
		waitfor.Until(t, 30*time.Second, "deliveries in progress", func() (bool, string) {
			return recv.maxSeq() > before, fmt.Sprintf("max seq %d", recv.maxSeq())
		})
		if err := leader.Kill(); err != nil {
			t.Fatal(err)
		}
		t.Logf("kill %d: %s at delivered seq %d", kill, leader.ID, recv.maxSeq())
		if err := leader.Start(); err != nil {
			t.Fatal(err)
		}
	}
	emit(4)
	leader := c.WaitLeader(30 * time.Second)
	var last uint64
	waitfor.Until(t, 90*time.Second, "every event delivered", func() (bool, string) {
		ctx, cancel := harness.Ctx(10 * time.Second)
		defer cancel()
		st, err := leader.Client().GetClusterStatus(ctx, &rpc.Empty{})
		if err != nil {
			return false, err.Error()
		}
		last = st.GetLastEventSeq()
		return last > 0 && recv.maxSeq() >= last, fmt.Sprintf("delivered up to %d of %d", recv.maxSeq(), last)
	})

	recv.mu.Lock()
	defer recv.mu.Unlock()
	if recv.badSig != 0 {
		t.Errorf("%d deliveries had a bad signature or body", recv.badSig)
	}
	first := map[uint64]hookDelivery{}
	var high uint64
	dups, alerts := 0, 0
	for _, d := range recv.arrived {
		if d.seq > high+1 {
			t.Fatalf("delivery of seq %d after seq %d: out of order or a gap", d.seq, high)
		}
		high = max(high, d.seq)
		if f, seen := first[d.seq]; seen {
			dups++
			if f.id != d.id || f.body != d.body {
				t.Errorf("seq %d redelivered as %s, first as %s (bodies equal: %v)", d.seq, d.id, f.id, f.body == d.body)
			}
			continue
		}
		first[d.seq] = d
		if d.typ == "alert_fired" {
			alerts++
		}
	}
	for seq := uint64(1); seq <= last; seq++ {
		if _, ok := first[seq]; !ok {
			t.Errorf("seq %d was never delivered", seq)
		}
	}
	if alerts == 0 {
		t.Error("no alert_fired was delivered")
	}
	t.Logf("%d events, %d deliveries, %d duplicates, %d alerts", last, len(recv.arrived), dups, alerts)
	out := grid(t, c, "webhooks", "status")
	if want := fmt.Sprint(last); !strings.Contains(out, "wh-") && strings.Contains(out, want) {
		t.Errorf("grid webhooks status:\n%s", out)
	}
}
