package eventstore

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/gridctl/grid/rpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
)

// serveStorage starts a real gRPC server over bufconn and returns a client.
func serveStorage(t *testing.T, s *Store, readOnly bool) rpc.StorageServiceClient {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	rpc.RegisterStorageServiceServer(srv, NewStorageServer(func() *Store { return s }, "node-test", readOnly, testLogger(t)))
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return rpc.NewStorageServiceClient(conn)
}

func wantCode(t *testing.T, err error, code codes.Code, what string) {
	t.Helper()
	if status.Code(err) != code {
		t.Fatalf("%s: got %v, want %s", what, err, code)
	}
}

func TestStorageServerReadWrite(t *testing.T) {
	ctx := context.Background()
	c := serveStorage(t, openTestStore(t, false), false)

	// Every write takes the next write sequence (the seeds' `sequence`).
	for i, id := range []string{"a", "b", "c"} {
		r, err := c.LearnConcept(ctx, &rpc.LearnConceptRequest{ConceptId: id, Content: "content " + id, Strength: 1, Confidence: 0.5})
		if err != nil || r.GetSequence() != uint64(i+1) {
			t.Fatalf("learn %s: %v %v, want sequence %d", id, r, err, i+1)
		}
	}
	if r, err := c.LearnAssociation(ctx, &rpc.LearnAssociationRequest{SourceId: "a", TargetId: "b", AssocType: 7, Confidence: 1}); err != nil || r.GetSequence() != 4 {
		t.Fatalf("learn a->b: %v %v, want sequence 4", r, err)
	}
	if r, err := c.LearnAssociation(ctx, &rpc.LearnAssociationRequest{SourceId: "b", TargetId: "c", AssocType: 8, Confidence: 1}); err != nil || r.GetSequence() != 5 {
		t.Fatalf("learn b->c: %v %v, want sequence 5", r, err)
	}
	q, err := c.QueryConcept(ctx, &rpc.QueryConceptRequest{ConceptId: "a"})
	if err != nil || !q.GetFound() || q.GetContent() != "content a" || q.GetConfidence() != 0.5 {
		t.Fatalf("query: %v %v", q, err)
	}
	q, err = c.QueryConcept(ctx, &rpc.QueryConceptRequest{ConceptId: "nope"})
	if err != nil || q.GetFound() {
		t.Fatalf("query missing: %v %v", q, err)
	}
	n, err := c.GetNeighbors(ctx, &rpc.GetNeighborsRequest{ConceptId: "a"})
	if err != nil || len(n.GetNeighborIds()) != 1 || n.GetNeighbors()[0].GetAssocType() != 7 {
		t.Fatalf("neighbors: %v %v", n, err)
	}
	p, err := c.FindPath(ctx, &rpc.FindPathRequest{StartId: "a", EndId: "c"})
	if err != nil || !p.GetFound() || strings.Join(p.GetPath(), ",") != "a,b,c" {
		t.Fatalf("path: %v %v", p, err)
	}
	st, err := c.GetStats(ctx, &rpc.StatsRequest{})
	if err != nil || st.GetConcepts() != 3 || st.GetEdges() != 2 || st.GetWritten() != 5 || st.GetSizeBytes() == 0 ||
		st.GetDropped() != 0 || st.GetPending() != 0 || st.GetReconciliations() != 0 {
		t.Fatalf("stats: %v %v", st, err)
	}
	if _, err := c.Flush(ctx, &rpc.FlushRequest{}); err != nil {
		t.Fatal(err)
	}
	h, err := c.HealthCheck(ctx, &rpc.HealthCheckRequest{})
	if err != nil || !h.GetHealthy() || h.GetNodeId() != "node-test" {
		t.Fatalf("health: %v %v", h, err)
	}

	// Validation and errors at the edge.
	_, err = c.LearnConcept(ctx, &rpc.LearnConceptRequest{ConceptId: ""})
	wantCode(t, err, codes.InvalidArgument, "empty id")
	_, err = c.LearnConcept(ctx, &rpc.LearnConceptRequest{ConceptId: strings.Repeat("x", 300)})
	wantCode(t, err, codes.InvalidArgument, "long id")
	_, err = c.LearnAssociation(ctx, &rpc.LearnAssociationRequest{SourceId: "a", TargetId: "ghost"})
	wantCode(t, err, codes.NotFound, "association to a missing concept")
	_, err = c.QueryConcept(ctx, &rpc.QueryConceptRequest{ConceptId: ""})
	wantCode(t, err, codes.InvalidArgument, "query empty id")
	_, err = c.GetNeighbors(ctx, &rpc.GetNeighborsRequest{ConceptId: "a", Limit: 1 << 30})
	wantCode(t, err, codes.InvalidArgument, "huge limit")
	_, err = c.FindPath(ctx, &rpc.FindPathRequest{StartId: "a", EndId: "c", MaxDepth: 1000})
	wantCode(t, err, codes.InvalidArgument, "huge depth")
	_, err = c.VectorSearch(ctx, &rpc.VectorSearchRequest{})
	wantCode(t, err, codes.Unimplemented, "vector search")
}

func TestStorageServerReadOnly(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, true)
	fill(t, s, 3)
	c := serveStorage(t, s, true)
	_, err := c.LearnConcept(ctx, &rpc.LearnConceptRequest{ConceptId: "x"})
	wantCode(t, err, codes.PermissionDenied, "learn concept")
	_, err = c.LearnAssociation(ctx, &rpc.LearnAssociationRequest{SourceId: "agent-000", TargetId: "agent-001"})
	wantCode(t, err, codes.PermissionDenied, "learn association")
	_, err = c.Flush(ctx, &rpc.FlushRequest{})
	wantCode(t, err, codes.PermissionDenied, "flush")
	// Reads work: the event graph is visible.
	n, err := c.GetNeighbors(ctx, &rpc.GetNeighborsRequest{ConceptId: "agent-001"})
	if err != nil || len(n.GetNeighborIds()) != 1 || !strings.HasPrefix(n.GetNeighborIds()[0], "event-node_crashed-") {
		t.Fatalf("neighbors of agent-001: %v %v", n, err)
	}
	st, err := c.GetStats(ctx, &rpc.StatsRequest{})
	if err != nil || st.GetEvents() != 3 || st.GetLastSeq() != 3 || st.GetWritten() != st.GetConcepts()+st.GetEdges() {
		t.Fatalf("stats: %v %v", st, err)
	}
	// A closed store answers UNAVAILABLE, not a panic.
	s.Close()
	_, err = c.GetStats(ctx, &rpc.StatsRequest{})
	wantCode(t, err, codes.Unavailable, "closed store")
}
