package fsm

import (
	"errors"
	"io"
	"testing"

	"github.com/gridctl/grid/rpc"
)

func TestACLBootstrapOnceRevokeAndSnapshot(t *testing.T) {
	f := newTestFSM(t)
	logs := logOf(t, []entry{
		{ACLBootstrapType, &rpc.ACLTokenRecord{AccessorId: "a1", SecretHash: []byte("h1"), Policies: []string{"management"}}},
		{ACLBootstrapType, &rpc.ACLTokenRecord{AccessorId: "a2", SecretHash: []byte("h2"), Policies: []string{"management"}}},
		{ACLTokenUpsertType, &rpc.ACLTokenRecord{AccessorId: "a3", SecretHash: []byte("h3"), Policies: []string{"agent"}, AgentId: "agent-001"}},
		{ACLPolicyUpsertType, &rpc.ACLPolicy{Name: "spawner", Capabilities: []string{"node:spawn"}}},
		{ACLTokenRevokeType, &rpc.ACLAccessor{AccessorId: "a3"}},
		{ACLTokenRevokeType, &rpc.ACLAccessor{AccessorId: "nope"}},
	})
	out := f.ApplyBatch(logs)
	if out[0] != nil {
		t.Fatalf("first bootstrap: %v", out[0])
	}
	if err, _ := out[1].(error); !errors.Is(err, ErrACLBootstrapped) {
		t.Fatalf("second bootstrap: got %v, want ErrACLBootstrapped", out[1])
	}
	if err, _ := out[5].(error); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoke unknown: got %v", out[5])
	}
	if _, ok := f.ACLTokenByHash([]byte("h2")); ok {
		t.Fatal("the refused bootstrap stored a token")
	}
	if _, ok := f.ACLTokenByHash([]byte("h3")); ok {
		t.Fatal("a revoked token still resolves")
	}
	if _, ok := f.ACLTokenByHash([]byte("h1")); !ok || !f.ACLBootstrapped() {
		t.Fatal("bootstrap token lost")
	}

	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	snap.Release()
	g := newTestFSM(t)
	if err := g.Restore(io.NopCloser(&sink)); err != nil {
		t.Fatal(err)
	}
	if !g.ACLBootstrapped() || len(g.ACLTokens()) != 1 || len(g.ACLPolicies()) != 1 {
		t.Fatalf("restored acl: bootstrapped=%v tokens=%d policies=%d", g.ACLBootstrapped(), len(g.ACLTokens()), len(g.ACLPolicies()))
	}
}
