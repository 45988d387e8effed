package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/waitfor"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestTermFencePersistsAndRefusesOlderTerms(t *testing.T) {
	dir := t.TempDir()
	f, err := OpenTermFence(dir)
	if err != nil {
		t.Fatal(err)
	}
	if h := f.Highest(); h != 0 {
		t.Fatalf("new fence at %d, want 0", h)
	}
	admit := func(f *TermFence, term uint64) error {
		release, _, err := f.Admit(term)
		if err == nil {
			release()
		}
		return err
	}
	if err := admit(f, 5); err != nil {
		t.Fatalf("term 5 on a new fence: %v", err)
	}
	if err := admit(f, 5); err != nil {
		t.Fatalf("term 5 again: %v", err)
	}
	if err := admit(f, 3); !errors.Is(err, ErrStaleLeaderTerm) || rpc.StatusCode(err) != codes.FailedPrecondition {
		t.Fatalf("term 3 after 5 = %v, want ErrStaleLeaderTerm (FAILED_PRECONDITION)", err)
	}
	if err := admit(f, 0); err != nil {
		t.Fatalf("term 0 (a seed master or a direct client) = %v, want admitted", err)
	}
	if err := f.Observe(7); err != nil {
		t.Fatal(err)
	}

	// A restarted agent keeps the fence.
	again, err := OpenTermFence(dir)
	if err != nil {
		t.Fatal(err)
	}
	if h := again.Highest(); h != 7 {
		t.Fatalf("reopened fence at %d, want 7", h)
	}
	if err := admit(again, 6); !errors.Is(err, ErrStaleLeaderTerm) {
		t.Fatalf("term 6 after a restart at 7 = %v, want refused", err)
	}

	// A damaged file is an error, not a silent reset to 0.
	if err := os.WriteFile(filepath.Join(dir, termFileName), []byte("seven"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenTermFence(dir); err == nil {
		t.Fatal("a fence file without a number opened")
	}
}

// An order of a newer term starts only after the older-term orders in
// progress finished; an older order arriving after it is refused.
func TestTermFenceNewerTermWaitsForOlderOrders(t *testing.T) {
	f, err := OpenTermFence(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	release, _, err := f.Admit(3)
	if err != nil {
		t.Fatal(err)
	}
	var finished atomic.Bool
	admitted := make(chan error, 1)
	go func() {
		rel, _, err := f.Admit(4)
		if err == nil && !finished.Load() {
			err = errors.New("term 4 admitted while a term 3 order was still running")
		}
		if err == nil {
			rel()
		}
		admitted <- err
	}()
	waitfor.True(t, 5*time.Second, "the term 4 order waiting", func() bool { return f.waiting() })
	finished.Store(true)
	release()
	if err := <-admitted; err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.Admit(3); !errors.Is(err, ErrStaleLeaderTerm) {
		t.Fatalf("term 3 after 4 = %v, want refused", err)
	}
}

// The agent's gRPC service fences SpawnNode and StopNode, answers a stale
// order FAILED_PRECONDITION, records it as a request_refused event, and
// learns a newer term from ListNodes.
func TestAgentRefusesOrdersOfDeposedLeader(t *testing.T) {
	m := startStubMaster(t)
	cfg := testConfig(t)
	cfg.Masters = []string{m.addr}
	cfg.HeartbeatInterval = 50 * time.Millisecond
	cfg.StopNodesOnShutdown = true
	a, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	c := agentClient(t, a.Addr())

	resp, err := c.SpawnNode(ctx, &rpc.SpawnNodeRequest{NodeId: "n1", MemoryLimitMb: 32, LeaderTerm: 4})
	if err != nil || !resp.Success {
		t.Fatalf("SpawnNode of term 4: %+v, %v", resp, err)
	}
	_, err = c.StopNode(ctx, &rpc.StopNodeRequest{NodeId: "n1", LeaderTerm: 3})
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("StopNode of term 3 after term 4 = %v, want FAILED_PRECONDITION", err)
	}
	st, err := c.GetNodeStatus(ctx, &rpc.NodeStatusRequest{NodeId: "n1"})
	if err != nil || st.Status != rpc.NodeRunning {
		t.Fatalf("node after the refused stop: %+v, %v (want running)", st, err)
	}
	waitfor.True(t, 10*time.Second, "request_refused event for n1 at the master", func() bool {
		return m.get(func(m *stubMaster) bool {
			for _, e := range m.events {
				if e.Type == rpc.EventType_REQUEST_REFUSED && e.EntityId == "n1" &&
					e.Details["leader_term"] == "3" && e.Details["highest_term"] == "4" &&
					e.Details["method"] == rpc.GridAgent_StopNode_FullMethodName {
					return true
				}
			}
			return false
		})
	})

	// ListNodes is a read: answered at any term, and a newer one raises the fence.
	if _, err := c.ListNodes(ctx, &rpc.ListNodesRequest{LeaderTerm: 2}); err != nil {
		t.Fatalf("ListNodes of an old term: %v", err)
	}
	if _, err := c.ListNodes(ctx, &rpc.ListNodesRequest{LeaderTerm: 9}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SpawnNode(ctx, &rpc.SpawnNodeRequest{NodeId: "n2", MemoryLimitMb: 32, LeaderTerm: 8}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("SpawnNode of term 8 after ListNodes of term 9 = %v, want FAILED_PRECONDITION", err)
	}
	// Term 0: a seed master or a client calling the agent directly.
	if _, err := c.StopNode(ctx, &rpc.StopNodeRequest{NodeId: "n1"}); err != nil {
		t.Fatalf("StopNode without a term: %v", err)
	}
}
