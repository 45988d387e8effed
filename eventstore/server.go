package eventstore

import (
	"context"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// maxServerNeighbors caps GetNeighbors limit.
const maxServerNeighbors = 10 * DefaultNeighborLimit

// StorageServer serves the StorageService over a Store.
type StorageServer struct {
	rpc.UnimplementedStorageServiceServer
	get      func() *Store
	nodeID   string
	readOnly bool
	started  time.Time
	logger   hclog.Logger
}

// NewStorageServer serves the StorageService over the store get returns
// (called per request: the FSM swaps stores on restore). With readOnly set,
// LearnConcept, LearnAssociation and Flush answer PERMISSION_DENIED.
func NewStorageServer(get func() *Store, nodeID string, readOnly bool, logger hclog.Logger) rpc.StorageServiceServer {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	return &StorageServer{get: get, nodeID: nodeID, readOnly: readOnly, started: time.Now(), logger: logger.Named("storage_server")}
}

// store returns the current store or UNAVAILABLE.
func (s *StorageServer) store() (*Store, error) {
	st := s.get()
	if st == nil {
		return nil, status.Error(codes.Unavailable, "storage is not open")
	}
	return st, nil
}

func (s *StorageServer) refuseWrite(what string) error {
	if s.readOnly {
		return status.Errorf(codes.PermissionDenied, "%s: this graph is read-only (a master's replicated event graph)", what)
	}
	return nil
}

// toStatus converts a store error at the edge with rpc's one error table
// (each store sentinel is declared with its kind), adding what was asked.
func toStatus(err error, format string, args ...any) error {
	return status.Errorf(rpc.StatusCode(err), format+": %v", append(args, err)...)
}

// LearnConcept stores a concept (embeddings are ignored).
func (s *StorageServer) LearnConcept(_ context.Context, req *rpc.LearnConceptRequest) (*rpc.LearnConceptResponse, error) {
	if err := s.refuseWrite("learn concept"); err != nil {
		return nil, err
	}
	st, err := s.store()
	if err != nil {
		return nil, err
	}
	c := Concept{ID: req.GetConceptId(), Content: req.GetContent(), Strength: req.GetStrength(), Confidence: req.GetConfidence()}
	seq, err := st.LearnConceptSeq(c)
	if err != nil {
		return nil, toStatus(err, "concept_id %q", truncate(req.GetConceptId()))
	}
	return &rpc.LearnConceptResponse{Sequence: seq, ConceptId: c.ID, Success: true}, nil
}

// LearnAssociation stores an association between two existing concepts.
func (s *StorageServer) LearnAssociation(_ context.Context, req *rpc.LearnAssociationRequest) (*rpc.LearnAssociationResponse, error) {
	if err := s.refuseWrite("learn association"); err != nil {
		return nil, err
	}
	st, err := s.store()
	if err != nil {
		return nil, err
	}
	seq, err := st.LearnAssociationSeq(req.GetSourceId(), req.GetTargetId(), req.GetAssocType(), req.GetConfidence())
	if err != nil {
		return nil, toStatus(err, "association %q -> %q", truncate(req.GetSourceId()), truncate(req.GetTargetId()))
	}
	return &rpc.LearnAssociationResponse{Sequence: seq, Success: true}, nil
}

// QueryConcept returns a concept; found=false when absent.
func (s *StorageServer) QueryConcept(_ context.Context, req *rpc.QueryConceptRequest) (*rpc.QueryConceptResponse, error) {
	st, err := s.store()
	if err != nil {
		return nil, err
	}
	c, found, err := st.QueryConcept(req.GetConceptId())
	if err != nil {
		return nil, toStatus(err, "concept_id %q", truncate(req.GetConceptId()))
	}
	if !found {
		return &rpc.QueryConceptResponse{ConceptId: req.GetConceptId()}, nil
	}
	return &rpc.QueryConceptResponse{ConceptId: c.ID, Content: c.Content, Strength: c.Strength,
		Confidence: c.Confidence, Found: true, CreatedAt: c.CreatedAt}, nil
}

// GetNeighbors lists a concept's outgoing associations, newest first.
func (s *StorageServer) GetNeighbors(_ context.Context, req *rpc.GetNeighborsRequest) (*rpc.GetNeighborsResponse, error) {
	if req.GetLimit() > maxServerNeighbors {
		return nil, status.Errorf(codes.InvalidArgument, "limit %d: the maximum is %d", req.GetLimit(), maxServerNeighbors)
	}
	st, err := s.store()
	if err != nil {
		return nil, err
	}
	ns, err := st.Neighbors(req.GetConceptId(), req.GetAssocType(), int(req.GetLimit()))
	if err != nil {
		return nil, toStatus(err, "concept_id %q", truncate(req.GetConceptId()))
	}
	resp := &rpc.GetNeighborsResponse{}
	for _, n := range ns {
		resp.NeighborIds = append(resp.NeighborIds, n.ID)
		resp.Neighbors = append(resp.Neighbors, &rpc.Neighbor{ConceptId: n.ID, AssocType: n.Type, Confidence: n.Confidence})
	}
	return resp, nil
}

// FindPath finds the shortest path between two concepts.
func (s *StorageServer) FindPath(_ context.Context, req *rpc.FindPathRequest) (*rpc.FindPathResponse, error) {
	if req.GetMaxDepth() > maxPathDepth {
		return nil, status.Errorf(codes.InvalidArgument, "max_depth %d: the maximum is %d", req.GetMaxDepth(), maxPathDepth)
	}
	st, err := s.store()
	if err != nil {
		return nil, err
	}
	path, err := st.FindPath(req.GetStartId(), req.GetEndId(), int(req.GetMaxDepth()))
	if err != nil {
		return nil, toStatus(err, "path %q -> %q", truncate(req.GetStartId()), truncate(req.GetEndId()))
	}
	return &rpc.FindPathResponse{Found: path != nil, Path: path}, nil
}

// GetStats reports the store's counters with the seeds' meaning: written is
// the write sequence; dropped, pending and reconciliations stay 0 (every
// write is synchronous and durable when answered).
func (s *StorageServer) GetStats(_ context.Context, _ *rpc.StatsRequest) (*rpc.StatsResponse, error) {
	st, err := s.store()
	if err != nil {
		return nil, err
	}
	stats, err := st.Stats()
	if err != nil {
		return nil, toStatus(err, "stats")
	}
	return &rpc.StatsResponse{Concepts: stats.Concepts, Edges: stats.Associations, Written: stats.Written,
		UptimeSeconds: s.uptime(), Events: stats.Events, LastSeq: stats.LastSeq, SizeBytes: stats.SizeBytes}, nil
}

// Flush syncs the store to disk.
func (s *StorageServer) Flush(_ context.Context, _ *rpc.FlushRequest) (*rpc.FlushResponse, error) {
	if err := s.refuseWrite("flush"); err != nil {
		return nil, err
	}
	st, err := s.store()
	if err != nil {
		return nil, err
	}
	if err := st.Flush(); err != nil {
		return nil, toStatus(err, "flush")
	}
	return &rpc.FlushResponse{Success: true}, nil
}

// HealthCheck reports whether the store answers.
func (s *StorageServer) HealthCheck(_ context.Context, _ *rpc.HealthCheckRequest) (*rpc.HealthCheckResponse, error) {
	resp := &rpc.HealthCheckResponse{NodeId: s.nodeID, UptimeSeconds: s.uptime()}
	st := s.get()
	if st == nil {
		resp.Status = "storage is not open"
		return resp, nil
	}
	if _, err := st.Stats(); err != nil {
		resp.Status = "unhealthy: " + err.Error()
		return resp, nil
	}
	resp.Healthy, resp.Status = true, "healthy"
	return resp, nil
}

// uptime is the whole seconds since this server started.
func (s *StorageServer) uptime() uint64 { return uint64(time.Since(s.started).Seconds()) }

// VectorSearch is not supported: Grid's graph stores no embeddings.
func (s *StorageServer) VectorSearch(_ context.Context, _ *rpc.VectorSearchRequest) (*rpc.VectorSearchResponse, error) {
	return nil, status.Error(codes.Unimplemented, "vector search is not supported: this store keeps no embeddings")
}

// truncate shortens an id quoted in an error message.
func truncate(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
