package events

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gridctl/grid/eventstore"
	"github.com/gridctl/grid/fsm"
	"github.com/gridctl/grid/rpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// fakeRaft stands in for Raft and the FSM of every fake master: one real
// event store in a temp dir that commands are applied to (as if replication
// were instant), and the id of the master that leads.
type fakeRaft struct {
	mu       sync.Mutex
	store    *eventstore.Store
	leader   string
	applies  map[fsm.MessageType]int
	failNext int // the next failNext applies fail UNAVAILABLE without applying
	agents   []*rpc.AgentRecord
	nodes    []*rpc.NodeStatus
	masters  map[string]*fakeMaster
}

func newFakeRaft(t *testing.T) *fakeRaft {
	t.Helper()
	store, err := eventstore.Open(filepath.Join(t.TempDir(), "events.db"), eventstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	return &fakeRaft{store: store, applies: make(map[fsm.MessageType]int), masters: make(map[string]*fakeMaster)}
}

func (r *fakeRaft) setLeader(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.leader = id
}

func (r *fakeRaft) leaderID() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.leader
}

func (r *fakeRaft) applyCount(t fsm.MessageType) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.applies[t]
}

// apply applies msg the way the FSM does: append events (deduplicated by
// id, answered with the stored ids) or prune.
func (r *fakeRaft) apply(from string, t fsm.MessageType, msg proto.Message) (any, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.leader != from {
		return nil, fmt.Errorf("apply %s: %w", t, errNotLeader)
	}
	if r.failNext > 0 {
		r.failNext--
		return nil, status.Error(codes.Unavailable, "leadership lost")
	}
	r.applies[t]++
	switch t {
	case fsm.AppendEventsType:
		stored, err := r.store.AppendEvents(msg.(*rpc.EmitEventsRequest).Events)
		if err != nil {
			return nil, err
		}
		resp := &rpc.EmitEventsResponse{Accepted: uint32(len(stored)), LastSeq: r.store.LastSeq()}
		for _, e := range stored {
			resp.StoredIds = append(resp.StoredIds, e.Id)
		}
		return resp, nil
	case fsm.PruneEventsType:
		cmd := msg.(*rpc.PruneEventsCommand)
		return r.store.Prune(cmd.Before, cmd.KeepMax)
	case fsm.WebhookAckType:
		cmd := msg.(*rpc.WebhookAckCommand)
		return nil, r.store.SetWebhookAck(cmd.Name, cmd.Seq)
	}
	return nil, fmt.Errorf("fake raft: unexpected command %s", t)
}

// fakeMaster gives one pipeline its dependencies over the shared fakeRaft.
type fakeMaster struct {
	id       string
	raft     *fakeRaft
	pipeline *Pipeline
}

func (m *fakeMaster) Apply(t fsm.MessageType, msg proto.Message) (any, error) {
	return m.raft.apply(m.id, t, msg)
}

func (m *fakeMaster) VerifyLeader() error {
	if m.raft.leaderID() != m.id {
		return errNotLeader
	}
	return nil
}

// Forward runs local on the leader and otherwise calls the leader's
// pipeline handlers directly, as the master's forwarding does over gRPC.
func (m *fakeMaster) Forward(ctx context.Context, local func(context.Context) (any, error),
	remote func(context.Context, rpc.GridMasterClient) (any, error)) (any, error) {
	leader := m.raft.leaderID()
	if leader == m.id {
		return local(ctx)
	}
	m.raft.mu.Lock()
	target := m.raft.masters[leader]
	m.raft.mu.Unlock()
	if target == nil {
		return nil, status.Error(codes.Unavailable, "no leader")
	}
	return remote(ctx, pipelineClient{p: target.pipeline})
}

func (m *fakeMaster) AllowStale(ctx context.Context) bool {
	md, _ := metadata.FromIncomingContext(ctx)
	return len(md.Get(rpc.StaleMetadataKey)) > 0
}

func (m *fakeMaster) Events() *eventstore.Store { return m.raft.store }

func (m *fakeMaster) Agents() []*rpc.AgentRecord {
	m.raft.mu.Lock()
	defer m.raft.mu.Unlock()
	return m.raft.agents
}

func (m *fakeMaster) Nodes() []*rpc.NodeStatus {
	m.raft.mu.Lock()
	defer m.raft.mu.Unlock()
	return m.raft.nodes
}

// pipelineClient is a GridMasterClient answered by a pipeline in-process.
type pipelineClient struct {
	rpc.GridMasterClient // the RPCs below only
	p                    *Pipeline
}

func (c pipelineClient) EmitEvents(ctx context.Context, in *rpc.EmitEventsRequest, _ ...grpc.CallOption) (*rpc.EmitEventsResponse, error) {
	return c.p.EmitEvents(ctx, proto.Clone(in).(*rpc.EmitEventsRequest))
}

func (c pipelineClient) QueryEvents(ctx context.Context, in *rpc.EventFilter, _ ...grpc.CallOption) (*rpc.EventList, error) {
	return c.p.QueryEvents(ctx, in)
}

func (c pipelineClient) AskQuery(ctx context.Context, in *rpc.NaturalQueryRequest, _ ...grpc.CallOption) (*rpc.NaturalQueryResponse, error) {
	return c.p.AskQuery(ctx, in)
}

// testConfig is a pipeline config with short waits for tests.
func testConfig(t *testing.T, id string) Config {
	cfg := DefaultConfig()
	cfg.MasterID = id
	cfg.CommitTimeout = 5 * time.Second
	cfg.Logger = eventTestLogger(t).Named(id)
	cfg.Retention, cfg.MaxEvents = 0, 0
	return cfg
}

// newFakeMaster builds (not starts) a pipeline for master id on r; it is
// stopped at cleanup.
func newFakeMaster(t *testing.T, r *fakeRaft, id string, tweak func(*Config)) *fakeMaster {
	t.Helper()
	cfg := testConfig(t, id)
	if tweak != nil {
		tweak(&cfg)
	}
	m := &fakeMaster{id: id, raft: r}
	p, err := New(cfg, Deps{Applier: m, Leadership: m, Forwarder: m, Store: m,
		MasterIDs: func() []string { return []string{"master-1", "master-2"} }})
	if err != nil {
		t.Fatal(err)
	}
	m.pipeline = p
	r.mu.Lock()
	r.masters[id] = m
	r.mu.Unlock()
	t.Cleanup(p.Stop)
	return m
}

// storedEvents lists every event in the store, in seq order.
func storedEvents(t *testing.T, store *eventstore.Store) []*rpc.Event {
	t.Helper()
	list, err := store.Events(eventstore.Filter{Ascending: true, Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	return list
}

// newEvent is a valid event of typ about entity at ts (unix micros).
func newEvent(source string, typ rpc.EventType, entity string, ts int64) *rpc.Event {
	e := rpc.NewEvent(source, typ, entity, nil)
	if ts != 0 {
		e.Timestamp = ts
	}
	return e
}
