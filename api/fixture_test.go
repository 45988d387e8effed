package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// fakeMaster is an in-test Backend: it records each call (and whether it
// allowed a stale read) and answers canned data or a configured error.
type fakeMaster struct {
	mu        sync.Mutex
	calls     map[string]int
	lastStale map[string]bool
	spawnReq  *rpc.SpawnRequest
	queryReq  *rpc.NaturalQueryRequest
	filter    *rpc.EventFilter
	streamReq *rpc.StreamEventsRequest
	errs      map[string]error // method -> error to return
	ready     *rpc.ReadyResponse
	events    []*rpc.Event // what StreamEvents sends, then it ends with streamEnd
	streamEnd error        // nil: block until the client goes away
	firstSeq  uint64
	// requestIDs is the request id each method last saw on its context.
	requestIDs map[string]string
}

var _ Backend = (*fakeMaster)(nil)

func newFakeMaster() *fakeMaster {
	return &fakeMaster{calls: map[string]int{}, lastStale: map[string]bool{}, errs: map[string]error{}, requestIDs: map[string]string{},
		ready: &rpc.ReadyResponse{Ready: true, LeaderId: "m1", AppliedIndex: 10, CommitIndex: 10}}
}

func (f *fakeMaster) record(method string, stale bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[method]++
	f.lastStale[method] = stale
	return f.errs[method]
}

// lastQuery is the last AskQuery request.
func (f *fakeMaster) lastQuery() *rpc.NaturalQueryRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.queryReq
}

func (f *fakeMaster) setErr(method string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs[method] = err
}

func (f *fakeMaster) callCount(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[method]
}

// stale reports whether the last call of method allowed a stale read.
func (f *fakeMaster) stale(method string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastStale[method]
}

var testMasters = []*rpc.MasterInfo{
	{Id: "m1", RaftAddr: "127.0.0.1:7001", GrpcAddr: "127.0.0.1:7000", HttpAddr: "127.0.0.1:9000", Suffrage: "voter", State: "leader", Healthy: true, LastContactMs: 0},
	{Id: "m2", RaftAddr: "127.0.0.1:7011", GrpcAddr: "127.0.0.1:7010", HttpAddr: "127.0.0.1:9010", Suffrage: "voter", State: "follower", Healthy: true, LastContactMs: 12},
}

var testNode = &rpc.NodeStatus{NodeId: "node-1", Status: "running", Pid: 4242, Endpoint: "127.0.0.1:50051", AgentId: "agent-001",
	Port: 50051, StoragePath: "/data/node-1", MemoryLimitMb: 512, RestartCount: 1, LastExitCode: -1, DesiredState: "running",
	CreatedAt: 1_700_000_000_000_000, LastSignal: "killed"}

func (f *fakeMaster) GetClusterStatus(_ context.Context, stale bool) (*rpc.ClusterStatus, error) {
	if err := f.record("GetClusterStatus", stale); err != nil {
		return nil, err
	}
	return &rpc.ClusterStatus{TotalAgents: 2, HealthyAgents: 1, TotalStorageNodes: 3, RunningStorageNodes: 2,
		Status: "degraded", Reason: "agent-002 is offline", Leader: testMasters[0], Masters: testMasters,
		FailureTolerance: 0, Timestamp: 1_700_000_000, CommitIndex: 99, LastEventSeq: 42}, nil
}

func (f *fakeMaster) ListAgents(_ context.Context, stale bool) (*rpc.AgentList, error) {
	if err := f.record("ListAgents", stale); err != nil {
		return nil, err
	}
	return &rpc.AgentList{Agents: []*rpc.AgentRecord{{AgentId: "agent-001", Hostname: "h1", Platform: "linux-x86_64",
		Status: "healthy", MaxStorageNodes: 5, CurrentStorageNodes: 1, LastHeartbeat: 1_700_000_000,
		StorageNodes: []*rpc.NodeStatus{testNode}}}}, nil
}

func (f *fakeMaster) ListStorageNodes(_ context.Context, stale bool) (*rpc.NodeList, error) {
	if err := f.record("ListStorageNodes", stale); err != nil {
		return nil, err
	}
	return &rpc.NodeList{Nodes: []*rpc.NodeStatus{testNode}}, nil
}

func (f *fakeMaster) GetStorageNodeStatus(_ context.Context, in *rpc.NodeId, stale bool) (*rpc.NodeStatus, error) {
	if err := f.record("GetStorageNodeStatus", stale); err != nil {
		return nil, err
	}
	if in.GetNodeId() != testNode.GetNodeId() {
		return nil, status.Errorf(codes.NotFound, "node_id %q: no such storage node", in.GetNodeId())
	}
	return testNode, nil
}

func (f *fakeMaster) SpawnStorageNode(ctx context.Context, in *rpc.SpawnRequest) (*rpc.SpawnResponse, error) {
	if err := f.record("SpawnStorageNode", false); err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.requestIDs["SpawnStorageNode"] = rpc.RequestIDFromContext(ctx)
	f.spawnReq = in
	f.mu.Unlock()
	return &rpc.SpawnResponse{Success: true, NodeId: "node-2", Endpoint: "127.0.0.1:50052", AgentId: "agent-001", Pid: 77}, nil
}

func (f *fakeMaster) StopStorageNode(_ context.Context, in *rpc.StopRequest) (*rpc.StopResponse, error) {
	if err := f.record("StopStorageNode", false); err != nil {
		return nil, err
	}
	if in.GetNodeId() != testNode.GetNodeId() {
		return nil, status.Errorf(codes.NotFound, "node_id %q: no such storage node", in.GetNodeId())
	}
	return &rpc.StopResponse{Success: true}, nil
}

func (f *fakeMaster) QueryEvents(_ context.Context, in *rpc.EventFilter) (*rpc.EventList, error) {
	if err := f.record("QueryEvents", in.GetStale()); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.filter = in
	return &rpc.EventList{Events: f.events, LastSeq: 42, FirstSeq: max(f.firstSeq, 1)}, nil
}

func (f *fakeMaster) StreamEvents(ctx context.Context, in *rpc.StreamEventsRequest, send func(*rpc.Event) error) error {
	if err := f.record("StreamEvents", false); err != nil {
		return err
	}
	f.mu.Lock()
	f.streamReq = in
	events, end := f.events, f.streamEnd
	f.mu.Unlock()
	for _, e := range events {
		if e.GetSeq() <= in.GetAfter() {
			continue
		}
		if err := send(e); err != nil {
			return err
		}
	}
	if end != nil {
		return end
	}
	<-ctx.Done()
	return nil
}

func (f *fakeMaster) AskQuery(_ context.Context, in *rpc.NaturalQueryRequest, stale bool) (*rpc.NaturalQueryResponse, error) {
	if err := f.record("AskQuery", stale); err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.queryReq = in
	f.mu.Unlock()
	ev := &rpc.Event{Id: "e1", Seq: 7, Type: rpc.EventType_SPAWN_FAILED, EntityId: "node-9", Timestamp: 1_700_000_000_123_456,
		Details: map[string]string{"error": "port in use"}}
	return &rpc.NaturalQueryResponse{Success: true, Query: in.GetQuery(),
		Interpretation: &rpc.QueryInterpretation{Intent: "list", EventTypes: []string{"12"}, Since: 1_700_000_000_000_000},
		Explanation:    "spawn_failed events since midnight", Count: 1, Results: []*rpc.Event{ev}}, nil
}

func (f *fakeMaster) ListMasters(_ context.Context, stale bool) (*rpc.MasterList, error) {
	if err := f.record("ListMasters", stale); err != nil {
		return nil, err
	}
	return &rpc.MasterList{Masters: testMasters, LeaderId: "m1", Term: 3, FailureTolerance: 0}, nil
}

func (f *fakeMaster) RemovePeer(ctx context.Context, in *rpc.RemovePeerRequest) error {
	if err := f.record("RemovePeer", false); err != nil {
		return err
	}
	f.mu.Lock()
	f.requestIDs["RemovePeer"] = rpc.RequestIDFromContext(ctx)
	f.mu.Unlock()
	if in.GetId() != "m2" {
		return status.Errorf(codes.NotFound, "master %q: not a raft peer", in.GetId())
	}
	return nil
}

func (f *fakeMaster) TransferLeadership(_ context.Context, in *rpc.TransferLeadershipRequest) (*rpc.TransferLeadershipResponse, error) {
	if err := f.record("TransferLeadership", false); err != nil {
		return nil, err
	}
	id := in.GetId()
	if id == "" {
		id = "m2"
	}
	return &rpc.TransferLeadershipResponse{NewLeaderId: id}, nil
}

func (f *fakeMaster) GetAgent(_ context.Context, in *rpc.AgentId, stale bool) (*rpc.AgentRecord, error) {
	if err := f.record("GetAgent", stale); err != nil {
		return nil, err
	}
	return &rpc.AgentRecord{AgentId: in.AgentId, Status: "healthy", Ineligible: true, Drain: &rpc.AgentDrain{Status: "draining", MigrateData: true}}, nil
}

func (f *fakeMaster) RemoveAgent(_ context.Context, in *rpc.RemoveAgentRequest) error {
	return f.record("RemoveAgent", false)
}

func (f *fakeMaster) SetAgentEligibility(_ context.Context, in *rpc.AgentEligibilityRequest) (*rpc.AgentRecord, error) {
	if err := f.record("SetAgentEligibility", false); err != nil {
		return nil, err
	}
	return &rpc.AgentRecord{AgentId: in.AgentId, Ineligible: !in.Eligible}, nil
}

func (f *fakeMaster) DrainAgent(_ context.Context, in *rpc.DrainAgentRequest) (*rpc.AgentRecord, error) {
	if err := f.record("DrainAgent", false); err != nil {
		return nil, err
	}
	return &rpc.AgentRecord{AgentId: in.AgentId, Ineligible: true, Drain: &rpc.AgentDrain{Status: "draining", MigrateData: in.MigrateData}}, nil
}

func (f *fakeMaster) AutopilotHealth(_ context.Context) (*rpc.AutopilotHealthResponse, error) {
	if err := f.record("AutopilotHealth", false); err != nil {
		return nil, err
	}
	return &rpc.AutopilotHealthResponse{Healthy: true, FailureTolerance: 1, LeaderId: "m1", FailureToleranceHolds: true,
		Servers: []*rpc.AutopilotServerHealth{{Id: "m1", Healthy: true, RaftState: "leader"}}}, nil
}

func (f *fakeMaster) ListAlerts(_ context.Context, in *rpc.ListAlertsRequest, stale bool) (*rpc.AlertList, error) {
	if err := f.record("ListAlerts", stale); err != nil {
		return nil, err
	}
	out := &rpc.AlertList{Alerts: []*rpc.Alert{{Rule: "crash_loop", Key: "node-9", State: "firing", FiredAt: 1_700_000_000_000_000,
		FiredEventId: "alert-crash_loop-node-9-7", FiredSeq: 8, TriggerEventIds: []string{"c1", "c2", "c3"}}}}
	if in.GetAll() {
		out.Alerts = append(out.Alerts, &rpc.Alert{Rule: "failover_storm", Key: "cluster", State: "resolved"})
	}
	return out, nil
}

func (f *fakeMaster) VerifyReplicas(_ context.Context) (*rpc.VerifyResponse, error) {
	if err := f.record("VerifyReplicas", false); err != nil {
		return nil, err
	}
	h := &rpc.StateHash{AppliedIndex: 41, Digest: "abc", Events: 7, Agents: 1}
	return &rpc.VerifyResponse{Index: 41, Match: false, LeaderId: "m1", Replicas: []*rpc.ReplicaDigest{
		{Id: "m1", Reachable: true, Hash: h},
		{Id: "m2", Error: "127.0.0.1:7010: connection refused"},
	}}, nil
}

// requestID is the request id method last saw.
func (f *fakeMaster) requestID(method string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requestIDs[method]
}

func (f *fakeMaster) Ready(_ context.Context) (*rpc.ReadyResponse, error) {
	if err := f.record("Ready", false); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ready, nil
}

// testLogger sends hclog output to t.Log.
func testLogger(t *testing.T) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: "test", Level: hclog.Debug, Output: tWriter{t}})
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// apiFixture is an httptest server running the API over a fakeMaster.
type apiFixture struct {
	t      *testing.T
	master *fakeMaster
	srv    *httptest.Server
}

func newFixture(t *testing.T, mutate func(*Config)) *apiFixture {
	t.Helper()
	fm := newFakeMaster()
	cfg := DefaultConfig()
	cfg.Logger = testLogger(t)
	cfg.RequestTimeout = 10 * time.Second
	if mutate != nil {
		mutate(&cfg)
	}
	srv := httptest.NewServer(New(fm, cfg).Handler())
	t.Cleanup(srv.Close)
	return &apiFixture{t: t, master: fm, srv: srv}
}

// do sends a request and returns the status and the decoded JSON object.
func (f *apiFixture) do(method, path, body string, headers ...string) (int, map[string]any) {
	f.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.srv.URL+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	var out map[string]any
	if len(raw) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &out); err != nil {
			f.t.Fatalf("%s %s: body is not a JSON object: %v: %s", method, path, err, raw)
		}
	}
	return resp.StatusCode, out
}

// expectError asserts an error response: the status and an error message
// containing want.
func (f *apiFixture) expectError(code int, out map[string]any, gotCode int, want string) {
	f.t.Helper()
	if gotCode != code {
		f.t.Fatalf("status = %d, want %d (body %v)", gotCode, code, out)
	}
	if out["success"] != false {
		f.t.Fatalf("success = %v, want false (body %v)", out["success"], out)
	}
	msg, _ := out["error"].(string)
	if !strings.Contains(msg, want) {
		f.t.Fatalf("error = %q, want it to mention %q", msg, want)
	}
}
