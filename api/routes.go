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
	ctx, cancel := s.backendContext(r, false)
	defer cancel()
	resp, err := s.backend.Ready(ctx, &rpc.Empty{})
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

// readContext validates ?stale and returns the context for a read.
func (s *Server) readContext(r *http.Request) (ctxCancel, error) {
	stale, err := staleParam(r)
	if err != nil {
		return ctxCancel{}, err
	}
	ctx, cancel := s.backendContext(r, stale)
	return ctxCancel{ctx: ctx, cancel: cancel, stale: stale}, nil
}

func (s *Server) getStatus(w http.ResponseWriter, r *http.Request) error {
	cc, err := s.readContext(r)
	if err != nil {
		return err
	}
	defer cc.cancel()
	st, err := s.backend.GetClusterStatus(cc.ctx, &rpc.Empty{})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toStatusView(st))
	return nil
}

func (s *Server) listAgents(w http.ResponseWriter, r *http.Request) error {
	cc, err := s.readContext(r)
	if err != nil {
		return err
	}
	defer cc.cancel()
	list, err := s.backend.ListAgents(cc.ctx, &rpc.Empty{})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"agents": toAgentViews(list.GetAgents())})
	return nil
}

func (s *Server) listNodes(w http.ResponseWriter, r *http.Request) error {
	cc, err := s.readContext(r)
	if err != nil {
		return err
	}
	defer cc.cancel()
	list, err := s.backend.ListStorageNodes(cc.ctx, &rpc.Empty{})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"nodes": toNodeViews(list.GetNodes())})
	return nil
}

func (s *Server) getNode(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("node_id")
	if err := validateID("node_id", id); err != nil {
		return err
	}
	cc, err := s.readContext(r)
	if err != nil {
		return err
	}
	defer cc.cancel()
	n, err := s.backend.GetStorageNodeStatus(cc.ctx, &rpc.NodeId{NodeId: id})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toNodeView(n))
	return nil
}

func (s *Server) listMasters(w http.ResponseWriter, r *http.Request) error {
	cc, err := s.readContext(r)
	if err != nil {
		return err
	}
	defer cc.cancel()
	list, err := s.backend.ListMasters(cc.ctx, &rpc.Empty{})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"masters":           toMasterViews(list.GetMasters()),
		"leader_id":         list.GetLeaderId(),
		"term":              list.GetTerm(),
		"failure_tolerance": list.GetFailureTolerance(),
	})
	return nil
}

func (s *Server) spawn(w http.ResponseWriter, r *http.Request) error {
	var body spawnBody
	if err := s.decodeJSON(w, r, &body, true); err != nil {
		return err
	}
	if err := body.validate(); err != nil {
		return err
	}
	ctx, cancel := s.backendContext(r, false)
	defer cancel()
	resp, err := s.backend.SpawnStorageNode(ctx, &rpc.SpawnRequest{
		AgentId: body.AgentID, NodeId: body.NodeID, Port: body.Port,
		StoragePath: body.StoragePath, MemoryLimitMb: body.MemoryLimitMB,
	})
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
	if err := s.decodeJSON(w, r, &body, false); err != nil {
		return err
	}
	if err := body.validate(); err != nil {
		return err
	}
	ctx, cancel := s.backendContext(r, false)
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
	if err := s.decodeJSON(w, r, &body, false); err != nil {
		return err
	}
	if err := body.validate(); err != nil {
		return err
	}
	stale, err := staleParam(r)
	if err != nil {
		return err
	}
	ctx, cancel := s.backendContext(r, stale)
	defer cancel()
	resp, err := s.backend.AskQuery(ctx, &rpc.NaturalQueryRequest{Query: body.Query})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toQueryView(resp))
	return nil
}

func (s *Server) removePeer(w http.ResponseWriter, r *http.Request) error {
	var body removePeerBody
	if err := s.decodeJSON(w, r, &body, false); err != nil {
		return err
	}
	if err := body.validate(); err != nil {
		return err
	}
	ctx, cancel := s.backendContext(r, false)
	defer cancel()
	if _, err := s.backend.RemovePeer(ctx, &rpc.RemovePeerRequest{Id: body.ID, Force: body.Force}); err != nil {
		return err
	}
	s.logger.Info("removed peer", "id", body.ID, "force", body.Force)
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "id": body.ID, "error": ""})
	return nil
}

func (s *Server) transferLeadership(w http.ResponseWriter, r *http.Request) error {
	var body transferLeadershipBody
	if err := s.decodeJSON(w, r, &body, true); err != nil {
		return err
	}
	if err := body.validate(); err != nil {
		return err
	}
	ctx, cancel := s.backendContext(r, false)
	defer cancel()
	resp, err := s.backend.TransferLeadership(ctx, &rpc.TransferLeadershipRequest{Id: body.ID})
	if err != nil {
		return err
	}
	s.logger.Info("transferred leadership", "requested_id", body.ID, "new_leader_id", resp.GetNewLeaderId())
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "new_leader_id": resp.GetNewLeaderId(), "error": ""})
	return nil
}

// ctxCancel is a backend call context with its cancel function.
type ctxCancel struct {
	ctx    context.Context
	cancel context.CancelFunc
	stale  bool
}
