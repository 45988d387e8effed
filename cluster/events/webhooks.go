package events

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/gridctl/grid/eventstore"
	"github.com/gridctl/grid/fsm"
	"github.com/gridctl/grid/rpc"
	"github.com/hashicorp/go-hclog"
)

// Webhook delivery headers.
const (
	HeaderSignature = "X-Grid-Signature" // "sha256=" + hex HMAC-SHA256 of the body
	HeaderDelivery  = "X-Grid-Delivery"  // the delivery id: the same on every retry
	HeaderSeq       = "X-Grid-Seq"
)

// alertTypes are what a webhook receives by default.
var alertTypes = []rpc.EventType{rpc.EventType_ALERT_FIRED, rpc.EventType_ALERT_RESOLVED, rpc.EventType_WEBHOOK_FAILING}

// webhookPage is how many events one read after the position takes.
const webhookPage = 256

// WebhookName is the name a webhook's position is kept under: its own
// name, or "wh-" and 8 bytes of the URL's SHA-256.
func (w WebhookConfig) WebhookName() string {
	if w.Name != "" {
		return w.Name
	}
	sum := sha256.Sum256([]byte(w.URL))
	return "wh-" + hex.EncodeToString(sum[:8])
}

// wants reports whether the webhook receives events of type t.
func (w WebhookConfig) wants(t rpc.EventType) bool {
	if len(w.EventTypes) == 0 {
		return slices.Contains(alertTypes, t)
	}
	for _, s := range w.EventTypes {
		if s == "*" || s == t.Name() {
			return true
		}
		if pt, err := rpc.ParseEventType(s); err == nil && pt == t {
			return true
		}
	}
	return false
}

// redactedURL is the URL without user info and query (which may hold secrets).
func redactedURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "?"
	}
	u.User, u.RawQuery = nil, ""
	return u.String()
}

// webhookState is the leader's view of one webhook's delivery.
type webhookState struct {
	mu           sync.Mutex
	failingSince time.Time
	lastError    string
	delivered    uint64
	reported     bool // webhook_failing emitted for this failing spell
}

// webhookRunner delivers one webhook's events in seq order, at least once:
// each event is POSTed until a 2xx answer, then its seq is committed as the
// webhook's acknowledged position, which a new leader resumes after.
type webhookRunner struct {
	cfg     WebhookConfig
	name    string
	client  *http.Client
	store   func() *eventstore.Store
	applier Applier
	emit    func(*rpc.Event)
	maxLag  time.Duration
	backoff time.Duration // first retry delay; doubles up to maxBackoff
	maxBack time.Duration
	state   *webhookState
	logger  hclog.Logger
}

// Body is the JSON a webhook receives for one event.
func webhookBody(name string, e *rpc.Event) ([]byte, error) {
	ev, err := eventstore.MarshalEventJSON(e)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"delivery_id":%q,"webhook":%q,"seq":%d,"event":%s}`, deliveryID(name, e.GetSeq()), name, e.GetSeq(), ev)
	return b.Bytes(), nil
}

func deliveryID(name string, seq uint64) string { return name + "-" + strconv.FormatUint(seq, 10) }

// Sign is the X-Grid-Signature of body under secret.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func (w *webhookRunner) run(ctx context.Context) error {
	acks, err := w.store().WebhookAcks()
	if err != nil {
		return fmt.Errorf("webhook %s: read position: %w", w.name, err)
	}
	pos := acks[w.name] // delivered (or skipped) up to here
	committed := pos
	w.logger.Info("webhook delivery resumes", "webhook", w.name, "after_seq", pos)
	for {
		store := w.store()
		notify := store.Notify()
		page, err := store.Events(eventstore.Filter{After: pos, Ascending: true, Limit: webhookPage})
		if err != nil {
			return fmt.Errorf("webhook %s: read events: %w", w.name, err)
		}
		for _, e := range page {
			if w.cfg.wants(e.GetType()) {
				if err := w.deliver(ctx, e); err != nil {
					return nil // ctx ended
				}
				if err := w.ack(e.GetSeq()); err != nil {
					return nil // no longer the leader: the next one resumes from the last ack
				}
				committed = e.GetSeq()
			}
			pos = e.GetSeq()
		}
		if len(page) == webhookPage {
			continue
		}
		// Caught up: record a long skipped tail so a new leader need not
		// re-read it (a short one is cheaper to re-read than to commit).
		if pos >= committed+webhookPage {
			if err := w.ack(pos); err == nil {
				committed = pos
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-notify:
		}
	}
}

func (w *webhookRunner) ack(seq uint64) error {
	_, err := w.applier.Apply(fsm.WebhookAckType, &rpc.WebhookAckCommand{Name: w.name, Seq: seq})
	if err != nil {
		w.logger.Debug("commit webhook position failed", "webhook", w.name, "seq", seq, "error", err)
	}
	return err
}

// deliver POSTs e until a 2xx answer, backing off between tries; it fails
// only when ctx ends.
func (w *webhookRunner) deliver(ctx context.Context, e *rpc.Event) error {
	body, err := webhookBody(w.name, e)
	if err != nil {
		return err
	}
	delay := w.backoff
	for {
		err := w.post(ctx, e.GetSeq(), body)
		if err == nil {
			w.state.mu.Lock()
			w.state.failingSince, w.state.lastError, w.state.reported = time.Time{}, "", false
			w.state.delivered++
			w.state.mu.Unlock()
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		w.failed(err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*2, w.maxBack)
	}
}

func (w *webhookRunner) post(ctx context.Context, seq uint64, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderDelivery, deliveryID(w.name, seq))
	req.Header.Set(HeaderSeq, strconv.FormatUint(seq, 10))
	if w.cfg.Secret != "" {
		req.Header.Set(HeaderSignature, Sign(w.cfg.Secret, body))
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("answered %s", resp.Status)
	}
	return nil
}

// failed records a failed try; past maxLag it emits webhook_failing once
// per failing spell.
func (w *webhookRunner) failed(err error) {
	w.state.mu.Lock()
	defer w.state.mu.Unlock()
	now := time.Now()
	if w.state.failingSince.IsZero() {
		w.state.failingSince = now
		w.logger.Warn("webhook delivery failing", "webhook", w.name, "error", err)
	}
	w.state.lastError = err.Error()
	if !w.state.reported && now.Sub(w.state.failingSince) >= w.maxLag {
		w.state.reported = true
		w.emit(rpc.NewEvent("", rpc.EventType_WEBHOOK_FAILING, w.name, map[string]string{
			"webhook": w.name, "url": redactedURL(w.cfg.URL), "error": truncate(err.Error(), 512),
			"failing_since": w.state.failingSince.UTC().Format(time.RFC3339),
		}))
	}
}
