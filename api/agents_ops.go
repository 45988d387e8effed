package api

import (
	"context"
	"net/http"
	"strconv"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/rpc/security"
)

// eligibilityBody is POST /api/grid/agents/{id}/eligibility.
type eligibilityBody struct {
	Eligible  *bool  `json:"eligible"`
	RequestID string `json:"request_id"`
}

func (b *eligibilityBody) validate() error {
	if b.Eligible == nil {
		return invalidf(`eligible is required: {"eligible": false} takes the agent out of placement, true puts it back`)
	}
	return nil
}

// drainBody is POST /api/grid/agents/{id}/drain.
type drainBody struct {
	Enable      *bool  `json:"enable"`
	DeadlineS   *int64 `json:"deadline_s"`
	MigrateData *bool  `json:"migrate_data"`
	RequestID   string `json:"request_id"`
}

func (b *drainBody) validate() error {
	if b.Enable == nil {
		return invalidf(`enable is required: {"enable": true, "deadline_s": 600, "migrate_data": true} starts a drain, {"enable": false} cancels it`)
	}
	if b.DeadlineS != nil && *b.DeadlineS <= 0 {
		return invalidf("deadline_s must be a positive number of seconds (got %d); leave it out for the default (1h)", *b.DeadlineS)
	}
	return nil
}

// agentID reads and checks the {id} path value.
func agentID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if err := rpc.ValidateID("agent_id", id); err != nil {
		return "", err
	}
	return id, nil
}

// agentResource serves GET (read token) and DELETE (full token) on
// /api/grid/agents/{id}.
func (s *Server) agentResource(w http.ResponseWriter, r *http.Request) error {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return s.guard(security.CapRead, s.getAgent)(w, r)
	case http.MethodDelete:
		return s.guard(security.CapAgentWrite, s.deleteAgent)(w, r)
	}
	w.Header().Set("Allow", "GET, DELETE")
	return routeError(http.StatusMethodNotAllowed, "method %s not allowed on %s; use GET or DELETE", r.Method, r.URL.Path)
}

func (s *Server) getAgent(w http.ResponseWriter, r *http.Request) error {
	id, err := agentID(r)
	if err != nil {
		return err
	}
	return serveRead(s, w, r, func(ctx context.Context, stale bool) (*rpc.AgentRecord, error) {
		return s.backend.GetAgent(ctx, &rpc.AgentId{AgentId: id}, stale)
	}, func(a *rpc.AgentRecord) any { return toAgentView(a) })
}

// deleteAgent unregisters an agent; ?force=true also removes a healthy one
// or one with running nodes.
func (s *Server) deleteAgent(w http.ResponseWriter, r *http.Request) error {
	id, err := agentID(r)
	if err != nil {
		return err
	}
	force := false
	if v := r.URL.Query().Get("force"); v != "" {
		if force, err = strconv.ParseBool(v); err != nil {
			return invalidf("force=%q: use true or false", v)
		}
	}
	ctx, cancel, err := s.mutationContext(r, "")
	if err != nil {
		return err
	}
	defer cancel()
	if err := s.backend.RemoveAgent(ctx, &rpc.RemoveAgentRequest{AgentId: id, Force: force}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "agent_id": id})
	return nil
}

func (s *Server) setEligibility(w http.ResponseWriter, r *http.Request) error {
	id, err := agentID(r)
	if err != nil {
		return err
	}
	var body eligibilityBody
	if err := s.decodeValid(w, r, &body, false); err != nil {
		return err
	}
	ctx, cancel, err := s.mutationContext(r, body.RequestID)
	if err != nil {
		return err
	}
	defer cancel()
	a, err := s.backend.SetAgentEligibility(ctx, &rpc.AgentEligibilityRequest{AgentId: id, Eligible: *body.Eligible})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "agent": toAgentView(a)})
	return nil
}

func (s *Server) drainAgent(w http.ResponseWriter, r *http.Request) error {
	id, err := agentID(r)
	if err != nil {
		return err
	}
	var body drainBody
	if err := s.decodeValid(w, r, &body, false); err != nil {
		return err
	}
	req := &rpc.DrainAgentRequest{AgentId: id, Enable: *body.Enable, MigrateData: true}
	if body.DeadlineS != nil {
		req.DeadlineS = *body.DeadlineS
	}
	if body.MigrateData != nil {
		req.MigrateData = *body.MigrateData
	}
	ctx, cancel, err := s.mutationContext(r, body.RequestID)
	if err != nil {
		return err
	}
	defer cancel()
	a, err := s.backend.DrainAgent(ctx, req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "agent": toAgentView(a)})
	return nil
}
