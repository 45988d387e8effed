package api

import (
	"context"
	"net/http"
	"strconv"

	"github.com/gridctl/grid/rpc"
)

// GraphBackend is what the entity page needs besides Backend: a concept's
// neighbours in the event graph (StorageService.GetNeighbors semantics). A
// Backend that does not implement it answers the route with 501.
type GraphBackend interface {
	GetNeighbors(ctx context.Context, in *rpc.GetNeighborsRequest) (*rpc.GetNeighborsResponse, error)
}

// maxGraphNeighbors bounds ?limit of the neighbours route.
const maxGraphNeighbors = 500

// neighborView is one neighbour in the REST shape.
type neighborView struct {
	ID         string  `json:"id"`
	AssocType  uint32  `json:"assoc_type"`
	Confidence float32 `json:"confidence"`
}

// getNeighbors is GET /api/grid/graph/{id}/neighbors?limit=N -> {"id",
// "neighbors": [{"id", "assoc_type", "confidence"}]}: the concepts id links
// to (an entity's events; an event's time concept).
func (s *Server) getNeighbors(w http.ResponseWriter, r *http.Request) error {
	gb, ok := s.backend.(GraphBackend)
	if !ok {
		return routeError(http.StatusNotImplemented, "this server has no event graph")
	}
	id := r.PathValue("id")
	if err := rpc.ValidateID("id", id); err != nil {
		return routeError(http.StatusBadRequest, "%v", err)
	}
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxGraphNeighbors {
			return routeError(http.StatusBadRequest, "limit %q: want 1-%d", v, maxGraphNeighbors)
		}
		limit = n
	}
	ctx, cancel := s.backendContext(r)
	defer cancel()
	resp, err := gb.GetNeighbors(ctx, &rpc.GetNeighborsRequest{ConceptId: id, Limit: uint32(limit)})
	if err != nil {
		return err
	}
	out := struct {
		ID        string         `json:"id"`
		Neighbors []neighborView `json:"neighbors"`
	}{ID: id, Neighbors: []neighborView{}}
	for _, n := range resp.GetNeighbors() {
		out.Neighbors = append(out.Neighbors, neighborView{ID: n.GetConceptId(), AssocType: n.GetAssocType(), Confidence: n.GetConfidence()})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
