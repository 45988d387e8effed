package events

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gridctl/grid/eventstore"
	"github.com/gridctl/grid/rpc"
	"github.com/hashicorp/go-hclog"
)

// Alert event details.
const (
	detailRule        = "rule"
	detailKey         = "key"
	detailLastTrigger = "last_trigger_seq" // the newest event counted into the episode
	detailFiredID     = "fired_id"         // alert_resolved: the alert_fired it ends
	detailCount       = "count"
	detailSummary     = "summary"
)

// alertTick is how often windows are aged and quorum checked.
const alertTick = time.Second

// maxAlertTriggers bounds the events one alert_fired names as its causes.
const maxAlertTriggers = 20

// episodeKey is one rule's group.
type episodeKey struct{ rule, key string }

// trigger is one counted event.
type trigger struct {
	seq uint64
	ts  int64
	id  string
}

// episode is the leader's view of one open episode.
type episode struct {
	firedID string
	pending bool // emitted, not yet seen committed
}

// alertEngine evaluates the rules on events as they commit. It runs only on
// the leader (one per term) and keeps nothing the store does not: episode
// state is the committed alert_fired/alert_resolved events, so a new
// leader rebuilds it and never fires twice for one episode.
type alertEngine struct {
	rules     []AlertRule
	store     func() *eventstore.Store
	emit      func(*rpc.Event)
	tolerance func() (int32, error)
	now       func() time.Time
	ticker    func() (<-chan time.Time, func()) // the aging ticks and their stop
	logger    hclog.Logger

	windows     map[episodeKey][]trigger
	open        map[episodeKey]*episode
	lastTrigger map[episodeKey]uint64 // last_trigger_seq of the newest episode
	cursor      uint64
	zeroSince   time.Time // quorum: when tolerance 0 was first seen
}

func newAlertEngine(rules []AlertRule, store func() *eventstore.Store, emit func(*rpc.Event),
	tolerance func() (int32, error), logger hclog.Logger) *alertEngine {
	return &alertEngine{rules: rules, store: store, emit: emit, tolerance: tolerance, now: time.Now, ticker: newAlertTicker, logger: logger,
		windows: map[episodeKey][]trigger{}, open: map[episodeKey]*episode{}, lastTrigger: map[episodeKey]uint64{}}
}

// run evaluates until ctx ends.
func (a *alertEngine) run(ctx context.Context) error {
	if len(a.rules) == 0 {
		return nil
	}
	if err := a.rebuild(); err != nil {
		return fmt.Errorf("alerts: rebuild: %w", err)
	}
	ticks, stopTicks := a.ticker()
	defer stopTicks()
	aging := true // age on the first pass, then on each tick
	for {
		store := a.store()
		notify := store.Notify()
		if err := a.consume(store); err != nil {
			a.logger.Warn("read committed events", "error", err)
		}
		// Aging walks every open episode: once per tick, not after every
		// commit (with a thousand open episodes it took a third of the
		// leader's CPU under sequential registry writes).
		if aging {
			a.age()
			aging = false
		}
		select {
		case <-ctx.Done():
			return nil
		case <-notify:
		case <-ticks:
			aging = true
		}
	}
}

// newAlertTicker ticks every alertTick.
func newAlertTicker() (<-chan time.Time, func()) {
	t := time.NewTicker(alertTick)
	return t.C, t.Stop
}

// maxWindow is the longest window of any count rule.
func (a *alertEngine) maxWindow() time.Duration {
	var w time.Duration
	for _, r := range a.rules {
		w = max(w, r.Window)
	}
	return w
}

// rebuild reads open episodes and the events still inside the windows from
// the store, then consumes everything after them as new.
func (a *alertEngine) rebuild() error {
	store := a.store()
	a.cursor = store.LastSeq()
	alerts, err := recentAlertEvents(store)
	if err != nil {
		return err
	}
	for _, e := range alerts {
		a.observeAlert(e)
	}
	since := a.now().Add(-a.maxWindow()).UnixMicro()
	f := eventstore.Filter{Since: since, Ascending: true, Limit: eventstore.MaxEventLimit, Types: a.countedTypes()}
	for {
		page, err := store.Events(f)
		if err != nil {
			return err
		}
		for _, e := range page {
			if e.GetSeq() <= a.cursor {
				a.count(e, false)
			}
		}
		if len(page) < f.Limit {
			break
		}
		f.After = page[len(page)-1].GetSeq()
	}
	a.logger.Debug("alert state rebuilt", "open", len(a.open), "cursor", a.cursor)
	a.evaluateAll()
	return nil
}

func (a *alertEngine) countedTypes() []rpc.EventType {
	var out []rpc.EventType
	for _, r := range a.rules {
		out = append(out, r.EventTypes...)
	}
	if len(out) == 0 {
		out = []rpc.EventType{rpc.EventType_ALERT_FIRED}
	}
	return out
}

// consumePage is how many events consume reads per query.
const consumePage = 1000

// consume handles the events committed after the cursor. It reads only
// the types the rules count and the alert events (the store's type index
// skips the rest), then moves the cursor to the last seq seen before the
// read: every event up to it that a rule could match was handled.
func (a *alertEngine) consume(store *eventstore.Store) error {
	types := a.consumedTypes()
	for {
		last := store.LastSeq()
		page, err := store.Events(eventstore.Filter{After: a.cursor, Types: types, Ascending: true, Limit: consumePage})
		if err != nil {
			return err
		}
		for _, e := range page {
			a.cursor = e.GetSeq()
			switch e.GetType() {
			case rpc.EventType_ALERT_FIRED, rpc.EventType_ALERT_RESOLVED:
				a.observeAlert(e)
			default:
				a.count(e, true)
			}
		}
		if len(page) < consumePage {
			a.cursor = max(a.cursor, last)
			return nil
		}
	}
}

// consumedTypes are the types consume reads: the alert events and every
// type a count rule counts.
func (a *alertEngine) consumedTypes() []rpc.EventType {
	out := []rpc.EventType{rpc.EventType_ALERT_FIRED, rpc.EventType_ALERT_RESOLVED}
	for _, r := range a.rules {
		if r.Kind == RuleQuorum {
			continue
		}
		for _, t := range r.EventTypes {
			if !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
	}
	return out
}

// observeAlert updates episode state from a committed alert event.
func (a *alertEngine) observeAlert(e *rpc.Event) {
	k := episodeKey{e.GetDetails()[detailRule], e.GetDetails()[detailKey]}
	if e.GetType() == rpc.EventType_ALERT_FIRED {
		a.open[k] = &episode{firedID: e.GetId()}
		if s, err := strconv.ParseUint(e.GetDetails()[detailLastTrigger], 10, 64); err == nil {
			a.lastTrigger[k] = max(a.lastTrigger[k], s)
		}
		return
	}
	if ep := a.open[k]; ep != nil && ep.firedID == e.GetDetails()[detailFiredID] {
		delete(a.open, k)
	}
}

// count adds e to the windows of the rules that count it.
func (a *alertEngine) count(e *rpc.Event, evaluate bool) {
	for _, r := range a.rules {
		if r.Kind == RuleQuorum || !r.matches(e.GetType()) {
			continue
		}
		key := r.groupKey(e)
		if key == "" {
			continue
		}
		k := episodeKey{r.Name, key}
		a.windows[k] = append(a.windows[k], trigger{seq: e.GetSeq(), ts: e.GetTimestamp(), id: e.GetId()})
		if evaluate {
			a.evaluate(r, k)
		}
	}
}

func (a *alertEngine) evaluateAll() {
	for _, r := range a.rules {
		for k := range a.windows {
			if k.rule == r.Name {
				a.evaluate(r, k)
			}
		}
	}
}

// evaluate fires r for k when enough new events are in its window and no
// episode is open. Events an earlier episode already counted never count
// again.
func (a *alertEngine) evaluate(r AlertRule, k episodeKey) {
	a.trim(r, k)
	if a.open[k] != nil {
		return
	}
	var fresh []trigger
	for _, t := range a.windows[k] {
		if t.seq > a.lastTrigger[k] {
			fresh = append(fresh, t)
		}
	}
	if len(fresh) < r.Threshold {
		return
	}
	last := fresh[len(fresh)-1]
	if len(fresh) > maxAlertTriggers {
		fresh = fresh[len(fresh)-maxAlertTriggers:]
	}
	ids := make([]string, len(fresh))
	for i, t := range fresh {
		ids[i] = t.id
	}
	summary := fmt.Sprintf("%d %s events of %s within %s", len(fresh), typeNames(r.EventTypes), k.key, r.Window)
	a.fire(r, k, last.seq, ids, summary)
}

// fire emits alert_fired. Its id is made from the rule, key and the last
// triggering seq, so two leaders that saw the same events emit one event.
func (a *alertEngine) fire(r AlertRule, k episodeKey, lastSeq uint64, causes []string, summary string) {
	id := fmt.Sprintf("alert-%s-%s-%d", r.Name, k.key, lastSeq)
	entity := k.key
	if validateEntity("entity", entity) != nil {
		entity = "cluster"
	}
	e := rpc.NewEvent("", rpc.EventType_ALERT_FIRED, entity, map[string]string{
		detailRule: r.Name, detailKey: k.key, detailLastTrigger: strconv.FormatUint(lastSeq, 10),
		eventstore.CausedByDetail: strings.Join(causes, ","), detailCount: strconv.Itoa(len(causes)),
		detailSummary: summary,
	})
	e.Id = id
	a.open[k] = &episode{firedID: id, pending: true}
	a.lastTrigger[k] = lastSeq
	a.logger.Warn("alert fired", "rule", r.Name, "key", k.key, "summary", summary)
	a.emit(e)
}

// trim drops window entries older than the rule's window.
func (a *alertEngine) trim(r AlertRule, k episodeKey) {
	cut := a.now().Add(-r.Window).UnixMicro()
	w := a.windows[k]
	i := 0
	for i < len(w) && w[i].ts < cut {
		i++
	}
	if i == len(w) {
		delete(a.windows, k)
		return
	}
	a.windows[k] = w[i:]
}

// age resolves count episodes whose window fell below the threshold and
// evaluates the quorum rules.
func (a *alertEngine) age() {
	for _, r := range a.rules {
		if r.Kind == RuleQuorum {
			a.quorum(r)
			continue
		}
		for k, ep := range a.open {
			if k.rule != r.Name || ep.pending && !a.committed(ep.firedID) {
				continue
			}
			a.trim(r, k)
			if w := a.windows[k]; len(w) < r.Threshold {
				if len(w) > 0 {
					// Events of this episode never count toward the next.
					a.lastTrigger[k] = max(a.lastTrigger[k], w[len(w)-1].seq)
				}
				a.resolve(k, ep, fmt.Sprintf("fewer than %d %s events of %s within %s", r.Threshold, typeNames(r.EventTypes), k.key, r.Window))
			}
		}
	}
}

// committed reports whether the event id is in the store (a pending fire
// is resolved only once it committed).
func (a *alertEngine) committed(id string) bool {
	es, err := a.store().EventsByID([]string{id})
	return err == nil && len(es) == 1
}

func (a *alertEngine) resolve(k episodeKey, ep *episode, summary string) {
	entity := k.key
	if validateEntity("entity", entity) != nil {
		entity = "cluster"
	}
	e := rpc.NewEvent("", rpc.EventType_ALERT_RESOLVED, entity, map[string]string{
		detailRule: k.rule, detailKey: k.key, detailFiredID: ep.firedID,
		eventstore.CausedByDetail: ep.firedID, detailSummary: summary,
	})
	e.Id = "resolved-" + ep.firedID
	delete(a.open, k)
	a.logger.Info("alert resolved", "rule", k.rule, "key", k.key)
	a.emit(e)
}

// quorum fires r when the failure tolerance has been 0 for r.For.
func (a *alertEngine) quorum(r AlertRule) {
	if a.tolerance == nil {
		return
	}
	k := episodeKey{r.Name, "cluster"}
	tol, err := a.tolerance()
	if err != nil {
		return
	}
	now := a.now()
	if tol > 0 {
		a.zeroSince = time.Time{}
		if ep := a.open[k]; ep != nil && (!ep.pending || a.committed(ep.firedID)) {
			a.resolve(k, ep, fmt.Sprintf("failure tolerance is %d again", tol))
		}
		return
	}
	if a.zeroSince.IsZero() {
		a.zeroSince = now
	}
	if a.open[k] != nil || now.Sub(a.zeroSince) < r.For {
		return
	}
	e := rpc.NewEvent("", rpc.EventType_ALERT_FIRED, "cluster", map[string]string{
		detailRule: r.Name, detailKey: "cluster", detailSummary: fmt.Sprintf("failure tolerance 0 for %s", r.For),
	})
	e.Id = fmt.Sprintf("alert-%s-cluster-%d", r.Name, a.zeroSince.UnixMicro())
	a.open[k] = &episode{firedID: e.Id, pending: true}
	a.logger.Warn("alert fired", "rule", r.Name, "key", "cluster")
	a.emit(e)
}

func typeNames(ts []rpc.EventType) string {
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.Name()
	}
	return strings.Join(names, "/")
}

// recentAlertEvents is the newest alert_fired/alert_resolved events (at
// most MaxEventLimit), oldest first.
func recentAlertEvents(store *eventstore.Store) ([]*rpc.Event, error) {
	events, err := store.Events(eventstore.Filter{Types: []rpc.EventType{rpc.EventType_ALERT_FIRED, rpc.EventType_ALERT_RESOLVED},
		Limit: eventstore.MaxEventLimit})
	if err != nil {
		return nil, err
	}
	slices.Reverse(events)
	return events, nil
}
