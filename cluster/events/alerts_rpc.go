package events

import (
	"context"
	"net/http"
	"slices"
	"sort"
	"sync"

	"github.com/gridctl/grid/eventstore"
	"github.com/gridctl/grid/rpc"
)

// runAlerts runs the alert engine for this term of leadership.
func (p *Pipeline) runAlerts(ctx context.Context) error {
	eng := newAlertEngine(p.cfg.AlertRules, p.deps.Store.Events, p.Emit, p.deps.FailureTolerance, p.logger.Named("alerts"))
	return eng.run(ctx)
}

// runWebhook delivers one webhook for this term of leadership.
func (p *Pipeline) runWebhook(ctx context.Context, cfg WebhookConfig) error {
	r := &webhookRunner{
		cfg: cfg, name: cfg.WebhookName(), store: p.deps.Store.Events, applier: p.deps.Applier, emit: p.Emit,
		client: &http.Client{Timeout: p.cfg.WebhookTimeout},
		maxLag: p.cfg.WebhookMaxLag, backoff: p.cfg.WebhookBackoff, maxBack: p.cfg.WebhookMaxBackoff,
		state:  p.webhookState(cfg.WebhookName()),
		logger: p.logger.Named("webhooks"),
	}
	return r.run(ctx)
}

// webhookStates is the leader's delivery view per webhook name.
type webhookStates struct {
	mu sync.Mutex
	m  map[string]*webhookState
}

func (p *Pipeline) webhookState(name string) *webhookState {
	p.hooks.mu.Lock()
	defer p.hooks.mu.Unlock()
	if p.hooks.m == nil {
		p.hooks.m = map[string]*webhookState{}
	}
	st := p.hooks.m[name]
	if st == nil {
		st = &webhookState{}
		p.hooks.m[name] = st
	}
	return st
}

// ListAlerts lists alert episodes from the event graph (firing only unless
// req.All), newest first. Consistent by default; stale when asked.
func (p *Pipeline) ListAlerts(ctx context.Context, req *rpc.ListAlertsRequest) (*rpc.AlertList, error) {
	if req.GetStale() || p.deps.Forwarder.AllowStale(ctx) {
		out, err := p.alertsLocal(req.GetAll())
		return out, toStatus(err)
	}
	return forward(ctx, p.deps.Forwarder,
		func(ctx context.Context) (*rpc.AlertList, error) {
			if err := p.deps.Leadership.VerifyLeader(); err != nil {
				return nil, err
			}
			out, err := p.alertsLocal(req.GetAll())
			return out, ownStatus(err)
		},
		func(ctx context.Context, c rpc.GridMasterClient) (*rpc.AlertList, error) {
			return c.ListAlerts(ctx, req)
		})
}

func (p *Pipeline) alertsLocal(all bool) (*rpc.AlertList, error) {
	out := &rpc.AlertList{}
	err := p.withEventStore(func(store *eventstore.Store) error {
		events, err := recentAlertEvents(store)
		if err != nil {
			return err
		}
		byID := map[string]*rpc.Alert{}
		var order []*rpc.Alert
		for _, e := range events {
			d := e.GetDetails()
			if e.GetType() == rpc.EventType_ALERT_FIRED {
				a := &rpc.Alert{Rule: d[detailRule], Key: d[detailKey], State: "firing", FiredAt: e.GetTimestamp(),
					FiredEventId: e.GetId(), FiredSeq: e.GetSeq(), TriggerEventIds: eventstore.CausedBy(e), Summary: d[detailSummary]}
				byID[e.GetId()] = a
				order = append(order, a)
				continue
			}
			if a := byID[d[detailFiredID]]; a != nil {
				a.State, a.ResolvedAt = "resolved", e.GetTimestamp()
			}
		}
		for i := len(order) - 1; i >= 0; i-- {
			if all || order[i].State == "firing" {
				out.Alerts = append(out.Alerts, order[i])
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// WebhookStatus reports each configured webhook's replicated position and,
// from the leader, its delivery state. Always answered by the leader.
func (p *Pipeline) WebhookStatus(ctx context.Context, _ *rpc.Empty) (*rpc.WebhookStatusList, error) {
	return forward(ctx, p.deps.Forwarder,
		func(ctx context.Context) (*rpc.WebhookStatusList, error) {
			out, err := p.webhooksLocal()
			return out, ownStatus(err)
		},
		func(ctx context.Context, c rpc.GridMasterClient) (*rpc.WebhookStatusList, error) {
			return c.WebhookStatus(ctx, &rpc.Empty{})
		})
}

func (p *Pipeline) webhooksLocal() (*rpc.WebhookStatusList, error) {
	out := &rpc.WebhookStatusList{}
	err := p.withEventStore(func(store *eventstore.Store) error {
		acks, err := store.WebhookAcks()
		if err != nil {
			return err
		}
		last := store.LastSeq()
		for _, w := range p.cfg.Webhooks {
			name := w.WebhookName()
			ws := &rpc.WebhookState{Name: name, Url: redactedURL(w.URL), AckedSeq: acks[name], LastSeq: last,
				EventTypes: slices.Clone(w.EventTypes)}
			if last > ws.AckedSeq {
				ws.Lag = last - ws.AckedSeq
			}
			st := p.webhookState(name)
			st.mu.Lock()
			if !st.failingSince.IsZero() {
				ws.FailingSince = st.failingSince.UnixMicro()
			}
			ws.LastError, ws.Delivered = st.lastError, st.delivered
			st.mu.Unlock()
			out.Webhooks = append(out.Webhooks, ws)
		}
		sort.Slice(out.Webhooks, func(i, j int) bool { return out.Webhooks[i].Name < out.Webhooks[j].Name })
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
