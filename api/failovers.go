package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gridctl/grid/rpc"
)

// Failover is one change of leader as GET /api/grid/operator/failovers and
// `grid operator failovers` show it, read from a leader_elected event.
type Failover struct {
	Term             uint64 `json:"term"`
	LeaderID         string `json:"leader_id"`
	PreviousLeaderID string `json:"previous_leader_id"`
	// LeaderlessMS is how long the new leader heard from no leader before it
	// took over; -1 when unknown (the cluster's first leader).
	LeaderlessMS int64  `json:"leaderless_ms"`
	At           string `json:"at"` // RFC 3339, when the new leader took over
}

// Failovers turns leader_elected events (newest first) into Failovers in
// the same order. The cluster's first election (no previous leader) is not
// a failover and is left out.
func Failovers(events []*rpc.Event) []Failover {
	out := make([]Failover, 0, len(events))
	for _, e := range events {
		if e.GetType() != rpc.EventType_LEADER_ELECTED {
			continue
		}
		d := e.GetDetails()
		f := Failover{LeaderID: d["leader_id"], PreviousLeaderID: d["previous_leader_id"], LeaderlessMS: -1,
			At: time.UnixMicro(e.GetTimestamp()).UTC().Format(time.RFC3339Nano)}
		if f.PreviousLeaderID == "" {
			continue
		}
		if f.LeaderID == "" {
			f.LeaderID = e.GetEntityId()
		}
		f.Term, _ = strconv.ParseUint(d["term"], 10, 64)
		if ms, err := strconv.ParseInt(d["leaderless_ms"], 10, 64); err == nil {
			f.LeaderlessMS = ms
		}
		out = append(out, f)
	}
	return out
}

// FailoverLimit is how many leader changes the listing shows at most.
const FailoverLimit = 1000

// listFailovers answers GET /api/grid/operator/failovers: each change of
// leader, newest first, from the replicated leader_elected events.
func (s *Server) listFailovers(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := s.backendContext(r)
	defer cancel()
	list, err := s.backend.QueryEvents(ctx, &rpc.EventFilter{Types: []rpc.EventType{rpc.EventType_LEADER_ELECTED}, Limit: FailoverLimit,
		Stale: r.URL.Query().Get("stale") == "true"})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "failovers": Failovers(list.GetEvents())})
	return nil
}
