package cluster

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/waitfor"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// backendGRPCClient is a plain gRPC client to m's port.
func backendGRPCClient(t *testing.T, m *Master) rpc.GridMasterClient {
	t.Helper()
	conn, err := grpc.NewClient(m.Addresses().GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial %s: %v", m.ID(), err)
	}
	t.Cleanup(func() { conn.Close() })
	return rpc.NewGridMasterClient(conn)
}

// The in-process Backend of a follower answers exactly what its gRPC port
// answers: the same code and message for bad input checked on the follower,
// and for refusals that only the leader can give (forwarded).
func TestBackendAnswersLikeGRPC(t *testing.T) {
	masters := newTestCluster(t, 3)
	leader := waitForLeader(t, masters)
	var follower *Master
	for _, m := range masters {
		if m != leader {
			follower = m
			break
		}
	}
	b, client := follower.Backend(), backendGRPCClient(t, follower)
	type pair struct {
		name          string
		local, remote func(ctx context.Context) error
	}
	spawn := func(req *rpc.SpawnRequest) pair {
		return pair{"spawn " + req.String(),
			func(ctx context.Context) error { _, err := b.SpawnStorageNode(ctx, req); return err },
			func(ctx context.Context) error { _, err := client.SpawnStorageNode(ctx, req); return err }}
	}
	cases := []struct {
		pair
		want codes.Code
	}{
		{spawn(&rpc.SpawnRequest{NodeId: "a:b"}), codes.InvalidArgument},
		{spawn(&rpc.SpawnRequest{NodeId: "../x"}), codes.InvalidArgument},
		{spawn(&rpc.SpawnRequest{MemoryLimitMb: 70_000_000}), codes.InvalidArgument},
		{spawn(&rpc.SpawnRequest{StoragePath: "/etc"}), codes.InvalidArgument},
		{spawn(&rpc.SpawnRequest{AgentId: "no-such-agent"}), codes.NotFound},    // on the leader
		{spawn(&rpc.SpawnRequest{MemoryLimitMb: 128}), codes.ResourceExhausted}, // no agent: on the leader
		{pair{"stop unknown node",
			func(ctx context.Context) error {
				_, err := b.StopStorageNode(ctx, &rpc.StopRequest{NodeId: "node-nope"})
				return err
			},
			func(ctx context.Context) error {
				_, err := client.StopStorageNode(ctx, &rpc.StopRequest{NodeId: "node-nope"})
				return err
			}}, codes.NotFound},
		{pair{"status of unknown node",
			func(ctx context.Context) error {
				_, err := b.GetStorageNodeStatus(ctx, &rpc.NodeId{NodeId: "node-nope"}, false)
				return err
			},
			func(ctx context.Context) error {
				_, err := client.GetStorageNodeStatus(ctx, &rpc.NodeId{NodeId: "node-nope"})
				return err
			}}, codes.NotFound},
		{pair{"remove unknown peer",
			func(ctx context.Context) error { return b.RemovePeer(ctx, &rpc.RemovePeerRequest{Id: "m-nope"}) },
			func(ctx context.Context) error {
				_, err := client.RemovePeer(ctx, &rpc.RemovePeerRequest{Id: "m-nope"})
				return err
			}}, codes.NotFound},
		{pair{"bad event filter",
			func(ctx context.Context) error {
				_, err := b.QueryEvents(ctx, &rpc.EventFilter{EntityIds: []string{"a b"}})
				return err
			},
			func(ctx context.Context) error {
				_, err := client.QueryEvents(ctx, &rpc.EventFilter{EntityIds: []string{"a b"}})
				return err
			}}, codes.InvalidArgument},
	}
	for _, tc := range cases {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		local, remote := tc.local(ctx), tc.remote(ctx)
		cancel()
		ls, rs := status.Convert(local), status.Convert(remote)
		if ls.Code() != tc.want || rs.Code() != tc.want || ls.Message() != rs.Message() {
			t.Errorf("%s: in-process %v, gRPC %v; want both %s with one message", tc.name, local, remote, tc.want)
		}
	}

	// Reads the follower forwards to the leader answer as the leader does.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := b.GetClusterStatus(ctx, false)
	if err != nil || st.GetLeader().GetId() != leader.ID() || len(st.GetMasters()) != 3 {
		t.Fatalf("follower backend status = %v, %v; want leader %s and 3 masters", st, err, leader.ID())
	}
	ml, err := b.ListMasters(ctx, false)
	if err != nil || ml.GetLeaderId() != leader.ID() {
		t.Fatalf("follower backend masters = %v, %v", ml, err)
	}
	if r, err := b.Ready(ctx); err != nil || r.GetId() != follower.ID() {
		t.Fatalf("follower backend ready = %v, %v; want the follower's own view", r, err)
	}
}

// stale=true lets a master without a quorum answer from its replica; a
// consistent read waits for a leader and, once the caller's deadline
// passes, fails DEADLINE_EXCEEDED as a gRPC client's call would.
func TestBackendStaleReadsWithoutQuorum(t *testing.T) {
	masters := newTestCluster(t, 3)
	waitForLeader(t, masters)
	survivor := masters[0]
	for _, m := range masters[1:] {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := m.Shutdown(ctx); err != nil {
			t.Logf("shutdown %s: %v", m.ID(), err)
		}
		cancel()
	}
	waitfor.True(t, 10*time.Second, survivor.ID()+" to lose its leader", func() bool { return !survivor.isLeader() })
	b := survivor.Backend()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := b.ListAgents(ctx, true); err != nil {
		t.Fatalf("stale agents without quorum: %v", err)
	}
	if _, err := b.ListStorageNodes(ctx, true); err != nil {
		t.Fatalf("stale nodes without quorum: %v", err)
	}
	if _, err := b.QueryEvents(ctx, &rpc.EventFilter{Stale: true, Limit: 5}); err != nil {
		t.Fatalf("stale events without quorum: %v", err)
	}
	if _, err := b.AskQuery(ctx, &rpc.NaturalQueryRequest{Query: "spawn failures today"}, true); err != nil {
		t.Fatalf("stale question without quorum: %v", err)
	}

	short, cancelShort := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancelShort()
	_, err := b.ListAgents(short, false)
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("consistent read without quorum: %v, want DEADLINE_EXCEEDED", err)
	}
}

// StreamEvents hands the replica's events to send in seq order, ends with
// nil when the caller goes away, and with the error send returns.
func TestBackendStreamEvents(t *testing.T) {
	masters := newTestCluster(t, 3)
	leader := waitForLeader(t, masters)
	var follower *Master
	for _, m := range masters {
		if m != leader {
			follower = m
			break
		}
	}
	b := follower.Backend()

	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan *rpc.Event, 1000)
	done := make(chan error, 1)
	go func() {
		done <- b.StreamEvents(ctx, &rpc.StreamEventsRequest{}, func(e *rpc.Event) error {
			got <- e
			return nil
		})
	}()
	var first *rpc.Event
	select {
	case first = <-got:
	case err := <-done:
		t.Fatalf("stream ended before any event: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("no event on the follower's stream within 15 s")
	}
	if first.GetSeq() == 0 {
		t.Fatalf("first event has no seq: %v", first)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil && status.Code(err) != codes.Canceled {
			t.Fatalf("stream after cancel: %v, want nil or CANCELED", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("stream did not end after its context was cancelled")
	}

	errStop := errors.New("client went away")
	err := b.StreamEvents(context.Background(), &rpc.StreamEventsRequest{}, func(*rpc.Event) error { return errStop })
	if err == nil || !strings.Contains(status.Convert(err).Message(), errStop.Error()) {
		t.Fatalf("stream whose send fails: %v, want that error", err)
	}

	err = b.StreamEvents(context.Background(), &rpc.StreamEventsRequest{Filter: &rpc.EventFilter{EntityIds: []string{"a b"}}},
		func(*rpc.Event) error { return nil })
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("stream with a bad filter: %v, want INVALID_ARGUMENT", err)
	}
}
