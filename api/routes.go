package api

import (
	"context"
	"net/http"

	"github.com/gridctl/grid/rpc"
)

// healthz answers 200 while the process serves HTTP.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

// readyz answers 200 when the local master has a leader and has caught up,
// else 503 with the reason.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := s.backendContext(r)
	defer cancel()
	resp, err := s.backend.Ready(ctx)
	if err != nil {
		code, msg, _ := httpStatusFor(err)
		if code < 500 {
			code = http.StatusServiceUnavailable
		}
		writeJSON(w, code, map[string]any{"status": "not_ready", "ready": false, "reason": "backend: " + msg})
		return nil
	}
	body := map[string]any{
		"ready":         resp.GetReady(),
		"reason":        resp.GetReason(),
		"leader_id":     resp.GetLeaderId(),
		"applied_index": resp.GetAppliedIndex(),
		"commit_index":  resp.GetCommitIndex(),
	}
	if !resp.GetReady() {
		body["status"] = "not_ready"
		writeJSON(w, http.StatusServiceUnavailable, body)
		return nil
	}
	body["status"] = "ready"
	writeJSON(w, http.StatusOK, body)
	return nil
}

// staleParam reads ?stale=true|false; a read with stale=true may be answered
// from the local replica.
func staleParam(r *http.Request) (bool, error) {
	return staleValue(r.URL.Query().Get("stale"))
}

// serveRead answers a GET: it validates ?stale, calls the backend with it
// and writes view(answer) with 200.
func serveRead[T any](s *Server, w http.ResponseWriter, r *http.Request,
	call func(ctx context.Context, stale bool) (T, error), view func(T) any) error {
	stale, err := staleParam(r)
	if err != nil {
		return err
	}
	ctx, cancel := s.backendContext(r)
	defer cancel()
	resp, err := call(ctx, stale)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, view(resp))
	return nil
}

func (s *Server) getStatus(w http.ResponseWriter, r *http.Request) error {
	return serveRead(s, w, r, func(ctx context.Context, stale bool) (*rpc.ClusterStatus, error) {
		return s.backend.GetClusterStatus(ctx, stale)
	}, func(st *rpc.ClusterStatus) any { return toStatusView(st) })
}

func (s *Server) listAgents(w http.ResponseWriter, r *http.Request) error {
	return serveRead(s, w, r, func(ctx context.Context, stale bool) (*rpc.AgentList, error) {
		return s.backend.ListAgents(ctx, stale)
	}, func(l *rpc.AgentList) any { return map[string]any{"agents": toAgentViews(l.GetAgents())} })
}

func (s *Server) listNodes(w http.ResponseWriter, r *http.Request) error {
	return serveRead(s, w, r, func(ctx context.Context, stale bool) (*rpc.NodeList, error) {
		return s.backend.ListStorageNodes(ctx, stale)
	}, func(l *rpc.NodeList) any { return map[string]any{"nodes": toNodeViews(l.GetNodes())} })
}

func (s *Server) getNode(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("node_id")
	if err := rpc.ValidateID("node_id", id); err != nil {
		return err
	}
	return serveRead(s, w, r, func(ctx context.Context, stale bool) (*rpc.NodeStatus, error) {
		return s.backend.GetStorageNodeStatus(ctx, &rpc.NodeId{NodeId: id}, stale)
	}, func(n *rpc.NodeStatus) any { return toNodeView(n) })
}

func (s *Server) listMasters(w http.ResponseWriter, r *http.Request) error {
	return serveRead(s, w, r, func(ctx context.Context, stale bool) (*rpc.MasterList, error) {
		return s.backend.ListMasters(ctx, stale)
	}, func(l *rpc.MasterList) any {
		return map[string]any{
			"masters":           toMasterViews(l.GetMasters()),
			"leader_id":         l.GetLeaderId(),
			"term":              l.GetTerm(),
			"failure_tolerance": l.GetFailureTolerance(),
		}
	})
}

// validatedBody is a POST body that checks itself after decoding.
type validatedBody interface{ validate() error }

// decodeValid decodes the JSON body into body and validates it.
func (s *Server) decodeValid(w http.ResponseWriter, r *http.Request, body validatedBody, allowEmpty bool) error {
	if err := s.decodeJSON(w, r, body, allowEmpty); err != nil {
		return err
	}
	return body.validate()
}

func (s *Server) spawn(w http.ResponseWriter, r *http.Request) error {
	var body spawnBody
	if err := s.decodeValid(w, r, &body, true); err != nil {
		return err
	}
	ctx, cancel, err := s.mutationContext(r, body.RequestID)
	if err != nil {
		return err
	}
	defer cancel()
	resp, err := s.backend.SpawnStorageNode(ctx, body.request())
	if err != nil {
		return err
	}
	code := http.StatusOK
	if !resp.GetSuccess() {
		code = http.StatusInternalServerError
	}
	writeJSON(w, code, map[string]any{
		"success":  resp.GetSuccess(),
		"node_id":  resp.GetNodeId(),
		"endpoint": resp.GetEndpoint(),
		"agent_id": resp.GetAgentId(),
		"pid":      resp.GetPid(),
		"error":    resp.GetErrorMessage(),
	})
	return nil
}

func (s *Server) stop(w http.ResponseWriter, r *http.Request) error {
	var body stopBody
	if err := s.decodeValid(w, r, &body, false); err != nil {
		return err
	}
	ctx, cancel, err := s.mutationContext(r, body.RequestID)
	if err != nil {
		return err
	}
	defer cancel()
	resp, err := s.backend.StopStorageNode(ctx, &rpc.StopRequest{NodeId: body.NodeID, AgentId: body.AgentID})
	if err != nil {
		return err
	}
	code := http.StatusOK
	if !resp.GetSuccess() {
		code = http.StatusInternalServerError
	}
	writeJSON(w, code, map[string]any{"success": resp.GetSuccess(), "error": resp.GetErrorMessage()})
	return nil
}

func (s *Server) query(w http.ResponseWriter, r *http.Request) error {
	var body queryBody
	if err := s.decodeValid(w, r, &body, false); err != nil {
		return err
	}
	stale, err := staleParam(r)
	if err != nil {
		return err
	}
	ctx, cancel := s.backendContext(r)
	defer cancel()
	resp, err := s.backend.AskQuery(ctx, body.request(), stale)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toQueryView(resp))
	return nil
}

func (s *Server) removePeer(w http.ResponseWriter, r *http.Request) error {
	var body removePeerBody
	if err := s.decodeValid(w, r, &body, false); err != nil {
		return err
	}
	ctx, cancel, err := s.mutationContext(r, body.RequestID)
	if err != nil {
		return err
	}
	defer cancel()
	if err := s.backend.RemovePeer(ctx, &rpc.RemovePeerRequest{Id: body.ID, Force: body.Force, Undo: body.Undo}); err != nil {
		return err
	}
	s.logger.Info("removed peer", "id", body.ID, "force", body.Force, "undo", body.Undo)
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "id": body.ID, "undo": body.Undo, "error": ""})
	return nil
}

func (s *Server) transferLeadership(w http.ResponseWriter, r *http.Request) error {
	var body transferLeadershipBody
	if err := s.decodeValid(w, r, &body, true); err != nil {
		return err
	}
	ctx, cancel, err := s.mutationContext(r, body.RequestID)
	if err != nil {
		return err
	}
	defer cancel()
	resp, err := s.backend.TransferLeadership(ctx, &rpc.TransferLeadershipRequest{Id: body.ID})
	if err != nil {
		return err
	}
	s.logger.Info("transferred leadership", "requested_id", body.ID, "new_leader_id", resp.GetNewLeaderId())
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "new_leader_id": resp.GetNewLeaderId(), "error": ""})
	return nil
}

// mutationContext is backendContext carrying the request id of a mutating
// call: the X-Request-Id header or the body's request_id (they must agree
// when both are given).
func (s *Server) mutationContext(r *http.Request, bodyID string) (context.Context, context.CancelFunc, error) {
	id := r.Header.Get(rpc.RequestIDHeader)
	switch {
	case id == "":
		id = bodyID
	case bodyID != "" && bodyID != id:
		return nil, nil, invalidf("request_id %q and header %s %q differ", rpc.Truncate(bodyID, 64), rpc.RequestIDHeader, rpc.Truncate(id, 64))
	}
	if id != "" {
		if err := rpc.ValidateRequestID(id); err != nil {
			return nil, nil, invalidf("%v", err)
		}
	}
	ctx, cancel := s.backendContext(r)
	return rpc.WithRequestID(ctx, id), cancel, nil
}

// verify compares every master's digest at one index; 200 with match
// false when they differ (the answer is the verification, not an error).
func (s *Server) verify(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := s.backendContext(r)
	defer cancel()
	resp, err := s.backend.VerifyReplicas(ctx)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toVerifyView(resp))
	return nil
}
