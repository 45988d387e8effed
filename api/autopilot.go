package api

import "net/http"

// autopilotHealthView is GET /api/grid/operator/autopilot/health.
type autopilotHealthView struct {
	Success               bool                  `json:"success"`
	Healthy               bool                  `json:"healthy"`
	FailureTolerance      int32                 `json:"failure_tolerance"`
	FailureToleranceHolds bool                  `json:"failure_tolerance_holds"`
	LeaderID              string                `json:"leader_id"`
	Servers               []autopilotServerView `json:"servers"`
}

type autopilotServerView struct {
	ID            string  `json:"id"`
	Name          string  `json:"name"`
	Address       string  `json:"address"`
	Status        string  `json:"status"`
	RaftState     string  `json:"raft_state"`
	Healthy       bool    `json:"healthy"`
	LastContactMS int64   `json:"last_contact_ms"`
	LastIndex     uint64  `json:"last_index"`
	LastTerm      uint64  `json:"last_term"`
	StableSince   *string `json:"stable_since"`
}

// autopilotHealth answers each master's health as the leader's autopilot sees it.
func (s *Server) autopilotHealth(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := s.backendContext(r)
	defer cancel()
	h, err := s.backend.AutopilotHealth(ctx)
	if err != nil {
		return err
	}
	v := autopilotHealthView{Success: true, Healthy: h.GetHealthy(), FailureTolerance: h.GetFailureTolerance(),
		FailureToleranceHolds: h.GetFailureToleranceHolds(), LeaderID: h.GetLeaderId(), Servers: []autopilotServerView{}}
	for _, sv := range h.GetServers() {
		v.Servers = append(v.Servers, autopilotServerView{ID: sv.GetId(), Name: sv.GetName(), Address: sv.GetAddress(),
			Status: sv.GetStatus(), RaftState: sv.GetRaftState(), Healthy: sv.GetHealthy(), LastContactMS: sv.GetLastContactMs(),
			LastIndex: sv.GetLastIndex(), LastTerm: sv.GetLastTerm(), StableSince: microsTime(sv.GetStableSince())})
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}
