package api

import (
	"context"
	"net/http"
	"strconv"

	"github.com/gridctl/grid/rpc"
)

// Views of issue 18: query aggregations and why chains, alerts, webhooks.

type havingView struct {
	Op    string `json:"op"`
	Count uint32 `json:"count"`
}

type unknownEntityView struct {
	Entity      string   `json:"entity"`
	Suggestions []string `json:"suggestions"`
}

type anchorView struct {
	Text       string      `json:"text"`
	Relation   string      `json:"relation"`
	EventTypes []string    `json:"event_types"`
	Entity     string      `json:"entity"`
	Nth        uint32      `json:"nth"`
	Events     []eventView `json:"events"`
}

type groupView struct {
	Key   string `json:"key"`
	Count uint64 `json:"count"`
}

type stepView struct {
	Event eventView `json:"event"`
	Link  string    `json:"link"`
}

func toHavingView(h *rpc.QueryHaving) *havingView {
	if h == nil {
		return nil
	}
	return &havingView{Op: h.GetOp(), Count: h.GetCount()}
}

func toUnknownEntityView(u *rpc.UnknownEntity) unknownEntityView {
	return unknownEntityView{Entity: u.GetEntity(), Suggestions: nonNil(u.GetSuggestions())}
}

func toAnchorView(a *rpc.QueryAnchor) *anchorView {
	if a == nil {
		return nil
	}
	return &anchorView{Text: a.GetText(), Relation: a.GetRelation(), EventTypes: nonNil(a.GetEventTypes()),
		Entity: a.GetEntity(), Nth: a.GetNth(), Events: toEventViews(a.GetEvents())}
}

// alertView is one alert of GET /api/grid/alerts.
type alertView struct {
	Rule            string   `json:"rule"`
	Key             string   `json:"key"`
	State           string   `json:"state"`
	FiredAt         *string  `json:"fired_at"`
	ResolvedAt      *string  `json:"resolved_at"`
	FiredEventID    string   `json:"fired_event_id"`
	FiredSeq        uint64   `json:"fired_seq"`
	TriggerEventIDs []string `json:"trigger_event_ids"`
	Summary         string   `json:"summary"`
}

func toAlertView(a *rpc.Alert) alertView {
	return alertView{Rule: a.GetRule(), Key: a.GetKey(), State: a.GetState(), FiredAt: microsTime(a.GetFiredAt()),
		ResolvedAt: microsTime(a.GetResolvedAt()), FiredEventID: a.GetFiredEventId(), FiredSeq: a.GetFiredSeq(),
		TriggerEventIDs: nonNil(a.GetTriggerEventIds()), Summary: a.GetSummary()}
}

// listAlerts is GET /api/grid/alerts[?all=true][&stale=true]: firing alert
// episodes, or every episode with all=true.
func (s *Server) listAlerts(w http.ResponseWriter, r *http.Request) error {
	all := false
	if v := r.URL.Query().Get("all"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return routeError(http.StatusBadRequest, "all=%q: want true or false", v)
		}
		all = b
	}
	return serveRead(s, w, r, func(ctx context.Context, stale bool) (*rpc.AlertList, error) {
		return s.backend.ListAlerts(ctx, &rpc.ListAlertsRequest{All: all}, stale)
	}, func(l *rpc.AlertList) any { return map[string]any{"alerts": mapViews(l.GetAlerts(), toAlertView)} })
}
