package test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gridctl/grid/cluster"
	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/rpc/security"
	"github.com/gridctl/grid/test/harness"
	"github.com/gridctl/grid/test/waitfor"
	"github.com/hashicorp/raft"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// aclWorld is a 3-master TLS cluster with --acl, two agents and tokens of
// every kind.
type aclWorld struct {
	*secFixture
	mgmt, agentTok, readTok, revoked, expired string
	agentCert, clientCert                     security.TLSFiles
}

// snapshotOf is what must not change under a hostile call: the registry,
// the Raft configuration, the ACL tokens and the agents' running processes.
func (w *aclWorld) snapshotOf(t *testing.T) string {
	t.Helper()
	leader := w.c.WaitLeader(10 * time.Second)
	ctx, cancel := harness.Ctx(5 * time.Second)
	defer cancel()
	ml, err := leader.Client().ListMasters(ctx, &rpc.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range ml.GetMasters() {
		ids = append(ids, m.GetId()+"@"+m.GetRaftAddr())
	}
	sort.Strings(ids)
	toks, err := leader.Client().ACLTokenList(ctx, &rpc.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	procs := 0
	for _, a := range w.c.Agents {
		procs += len(a.NodeProcs())
	}
	return fmt.Sprintf("registry=%s raft=%v tokens=%d procs=%d", w.registryHash(t), ids, len(toks.GetTokens()), procs)
}

func TestACLHostileMatrix(t *testing.T) {
	f := newACLFixture(t)
	w := &aclWorld{secFixture: f}
	c := f.c
	leader := c.WaitLeader(30 * time.Second)
	a1 := c.AddAgent("agent-1", harness.AgentOptions{})
	c.AddAgent("agent-2", harness.AgentOptions{})
	waitfor.Until(t, 30*time.Second, "both agents registered", func() (bool, string) {
		ids, err := agentIDs(leader)
		if err != nil {
			return false, err.Error()
		}
		return ids["agent-1"] && ids["agent-2"], fmt.Sprint(ids)
	})
	ctx, cancel := harness.Ctx(20 * time.Second)
	defer cancel()
	mc := leader.Client()
	boot, err := mc.ACLBootstrap(ctx, &rpc.Empty{})
	if err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	w.mgmt = boot.GetSecretId()
	mk := func(req *rpc.ACLTokenCreateRequest) string {
		out, err := mc.ACLTokenCreate(ctx, req)
		if err != nil {
			t.Fatalf("create %v: %v", req, err)
		}
		return out.GetSecretId()
	}
	w.agentTok = mk(&rpc.ACLTokenCreateRequest{Policies: []string{"agent"}, AgentId: "agent-1", Name: "agent-1"})
	w.readTok = mk(&rpc.ACLTokenCreateRequest{Policies: []string{"read"}, Name: "reader"})
	w.revoked = mk(&rpc.ACLTokenCreateRequest{Policies: []string{"operator"}, Name: "to revoke"})
	w.expired = mk(&rpc.ACLTokenCreateRequest{Policies: []string{"operator"}, Name: "short", TtlSeconds: 1})
	list, err := mc.ACLTokenList(ctx, &rpc.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range list.GetTokens() {
		if tk.GetName() == "to revoke" {
			if _, err := mc.ACLTokenRevoke(ctx, &rpc.ACLAccessor{AccessorId: tk.GetAccessorId()}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The ACL token the operator holds works: a positive control.
	{
		conn := dial(t, leader.GRPC, mustCreds(t, f.sec.TLS), w.mgmt)
		if _, err := rpc.NewGridMasterClient(conn).ListAgents(ctx, &rpc.Empty{}); err != nil {
			t.Fatalf("management token refused: %v", err)
		}
		conn = dial(t, leader.GRPC, mustCreds(t, f.sec.TLS), w.agentTok)
		if _, err := rpc.NewGridMasterClient(conn).Heartbeat(ctx, &rpc.HeartbeatRequest{AgentId: "agent-1"}); err != nil {
			t.Fatalf("agent token refused for its own agent: %v", err)
		}
	}
	caDir := f.caDir
	if w.agentCert, err = harness.MakeRoleCert(caDir, "agent-x", filepath.Join(f.certDir, "agent"), security.RoleAgent); err != nil {
		t.Fatal(err)
	}
	if w.clientCert, err = harness.MakeRoleCert(caDir, "client-x", filepath.Join(f.certDir, "client"), security.RoleClient); err != nil {
		t.Fatal(err)
	}
	waitfor.Until(t, 10*time.Second, "the 1s token expired", func() (bool, string) {
		conn := dial(t, leader.GRPC, mustCreds(t, f.sec.TLS), w.expired)
		cctx, ccancel := harness.Ctx(3 * time.Second)
		defer ccancel()
		_, err := rpc.NewGridMasterClient(conn).ListAgents(cctx, &rpc.Empty{})
		return status.Code(err) == codes.Unauthenticated, fmt.Sprint(err)
	})

	follower := c.Followers(leader)[0]
	grpcCase := func(name string, files security.TLSFiles, token string, want codes.Code, call func(ctx context.Context, c rpc.GridMasterClient) error) {
		t.Run(name, func(t *testing.T) {
			before := w.snapshotOf(t)
			for _, m := range []*harness.Master{leader, follower} {
				conn := dial(t, m.GRPC, mustCreds(t, files), token)
				cctx, ccancel := harness.Ctx(10 * time.Second)
				err := call(cctx, rpc.NewGridMasterClient(conn))
				ccancel()
				if status.Code(err) != want {
					t.Fatalf("on %s: got %v, want %v", m.ID, err, want)
				}
				if want == codes.PermissionDenied && !strings.Contains(status.Convert(err).Message(), "capability") &&
					!strings.Contains(status.Convert(err).Message(), "bound to agent") && !strings.Contains(status.Convert(err).Message(), "certificate") {
					t.Fatalf("refusal does not name what is missing: %v", err)
				}
			}
			if after := w.snapshotOf(t); after != before {
				t.Fatalf("state changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
	tls := f.sec.TLS
	ops := map[string]func(ctx context.Context, c rpc.GridMasterClient) error{
		"spawn": func(ctx context.Context, c rpc.GridMasterClient) error {
			_, err := c.SpawnStorageNode(ctx, &rpc.SpawnRequest{AgentId: "agent-1"})
			return err
		},
		"stop": func(ctx context.Context, c rpc.GridMasterClient) error {
			_, err := c.StopStorageNode(ctx, &rpc.StopRequest{NodeId: "node-x"})
			return err
		},
		"unregister": func(ctx context.Context, c rpc.GridMasterClient) error {
			_, err := c.UnregisterAgent(ctx, &rpc.AgentId{AgentId: "agent-2"})
			return err
		},
		"remove-peer": func(ctx context.Context, c rpc.GridMasterClient) error {
			_, err := c.RemovePeer(ctx, &rpc.RemovePeerRequest{Id: follower.ID, Force: true})
			return err
		},
		"transfer-leadership": func(ctx context.Context, c rpc.GridMasterClient) error {
			_, err := c.TransferLeadership(ctx, &rpc.TransferLeadershipRequest{})
			return err
		},
		"restore-snapshot": func(ctx context.Context, c rpc.GridMasterClient) error {
			s, err := c.RestoreSnapshot(ctx)
			if err != nil {
				return err
			}
			_ = s.Send(&rpc.SnapshotChunk{Data: []byte("GRIDSNAP2\n")})
			_, err = s.CloseAndRecv()
			return err
		},
		"acl-token-create": func(ctx context.Context, c rpc.GridMasterClient) error {
			_, err := c.ACLTokenCreate(ctx, &rpc.ACLTokenCreateRequest{Policies: []string{"management"}})
			return err
		},
		"acl-policy-upsert": func(ctx context.Context, c rpc.GridMasterClient) error {
			_, err := c.ACLPolicyUpsert(ctx, &rpc.ACLPolicy{Name: "evil", Capabilities: []string{"node:spawn"}})
			return err
		},
	}
	names := []string{"spawn", "stop", "unregister", "remove-peer", "transfer-leadership", "restore-snapshot", "acl-token-create", "acl-policy-upsert"}
	for _, n := range names {
		grpcCase("agent token "+n, tls, w.agentTok, codes.PermissionDenied, ops[n])
		grpcCase("read token "+n, tls, w.readTok, codes.PermissionDenied, ops[n])
	}
	for _, n := range []string{"spawn", "remove-peer", "acl-token-create"} {
		grpcCase("revoked token "+n, tls, w.revoked, codes.Unauthenticated, ops[n])
		grpcCase("expired token "+n, tls, w.expired, codes.Unauthenticated, ops[n])
	}
	grpcCase("agent token heartbeats as another agent", tls, w.agentTok, codes.PermissionDenied, func(ctx context.Context, c rpc.GridMasterClient) error {
		_, err := c.Heartbeat(ctx, &rpc.HeartbeatRequest{AgentId: "agent-2"})
		return err
	})
	grpcCase("agent token registers as another agent", tls, w.agentTok, codes.PermissionDenied, func(ctx context.Context, c rpc.GridMasterClient) error {
		_, err := c.RegisterAgent(ctx, &rpc.AgentInfo{AgentId: "agent-2", Hostname: "evil"})
		return err
	})
	grpcCase("agent token reports status as another agent", tls, w.agentTok, codes.PermissionDenied, func(ctx context.Context, c rpc.GridMasterClient) error {
		_, err := c.ReportNodeStatus(ctx, &rpc.NodeStatus{NodeId: "node-y", AgentId: "agent-2", Status: "crashed"})
		return err
	})
	grpcCase("agent token emits events as another agent", tls, w.agentTok, codes.PermissionDenied, func(ctx context.Context, c rpc.GridMasterClient) error {
		_, err := c.EmitEvents(ctx, &rpc.EmitEventsRequest{Source: "agent-2", Events: []*rpc.Event{
			rpc.NewEvent("agent-2", rpc.EventType_NODE_CRASHED, "agent-2", map[string]string{"agent_id": "agent-2"})}})
		return err
	})
	grpcCase("bootstrap twice", tls, "", codes.FailedPrecondition, func(ctx context.Context, c rpc.GridMasterClient) error {
		_, err := c.ACLBootstrap(ctx, &rpc.Empty{})
		return err
	})
	forwarded := func(ctx context.Context, c rpc.GridMasterClient) error {
		ctx = metadata.AppendToOutgoingContext(ctx, rpc.ForwardedMetadataKey, "master-x")
		_, err := c.ListAgents(ctx, &rpc.Empty{})
		return err
	}
	grpcCase("agent certificate calls a master-to-master RPC", w.agentCert, w.mgmt, codes.PermissionDenied, forwarded)
	grpcCase("client certificate calls a master-to-master RPC", w.clientCert, w.mgmt, codes.PermissionDenied, forwarded)

	for _, cert := range []struct {
		name  string
		files security.TLSFiles
	}{{"agent", w.agentCert}, {"client", w.clientCert}} {
		t.Run(cert.name+" certificate speaks Raft", func(t *testing.T) {
			before := w.snapshotOf(t)
			trans := raftTransportWith(t, cert.files)
			target := raft.ServerAddress(leader.Raft)
			var ae raft.AppendEntriesResponse
			if err := trans.AppendEntries("master-1", target, &raft.AppendEntriesRequest{RPCHeader: raft.RPCHeader{ID: []byte("evil"), Addr: []byte("127.0.0.1:1")}, Term: 1 << 40}, &ae); err == nil {
				t.Fatalf("AppendEntries with a %s certificate succeeded", cert.name)
			}
			var rv raft.RequestVoteResponse
			if err := trans.RequestVote("master-1", target, &raft.RequestVoteRequest{RPCHeader: raft.RPCHeader{ID: []byte("evil"), Addr: []byte("127.0.0.1:1")}, Term: 1 << 40}, &rv); err == nil {
				t.Fatalf("RequestVote with a %s certificate succeeded", cert.name)
			}
			if after := w.snapshotOf(t); after != before {
				t.Fatalf("state changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}

	restCase := func(name, method, path, body, token, contentType, origin string, want int) {
		t.Run(name, func(t *testing.T) {
			before := w.snapshotOf(t)
			code := w.restRaw(t, leader, method, path, body, token, contentType, origin)
			if code != want {
				t.Fatalf("%s %s = %d, want %d", method, path, code, want)
			}
			if after := w.snapshotOf(t); after != before {
				t.Fatalf("state changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
	j := "application/json"
	restCase("REST agent token spawn", "POST", "/api/grid/spawn", `{"agent_id":"agent-1"}`, w.agentTok, j, "", 403)
	restCase("REST agent token stop", "POST", "/api/grid/stop", `{"node_id":"node-x"}`, w.agentTok, j, "", 403)
	restCase("REST agent token remove-peer", "POST", "/api/grid/operator/remove-peer", `{"id":"`+follower.ID+`"}`, w.agentTok, j, "", 403)
	restCase("REST agent token transfer-leadership", "POST", "/api/grid/operator/transfer-leadership", `{}`, w.agentTok, j, "", 403)
	restCase("REST agent token creates a token", "POST", "/api/grid/acl/tokens", `{"policies":["management"]}`, w.agentTok, j, "", 403)
	restCase("REST read token spawn", "POST", "/api/grid/spawn", `{"agent_id":"agent-1"}`, w.readTok, j, "", 403)
	restCase("REST revoked token spawn", "POST", "/api/grid/spawn", `{}`, w.revoked, j, "", 401)
	restCase("REST bootstrap twice", "POST", "/api/grid/acl/bootstrap", `{}`, "", j, "", 409)
	evil := "http://evil.example"
	restCase("cross-origin text/plain spawn", "POST", "/api/grid/spawn", `{"agent_id":"agent-1"}`, "", "text/plain", evil, 403)
	restCase("cross-origin text/plain stop", "POST", "/api/grid/stop", `{"node_id":"node-x"}`, "", "text/plain", evil, 403)
	restCase("cross-origin text/plain remove-peer", "POST", "/api/grid/operator/remove-peer", `{"id":"`+follower.ID+`"}`, "", "text/plain", evil, 403)
	restCase("cross-origin text/plain transfer-leadership", "POST", "/api/grid/operator/transfer-leadership", `{}`, "", "text/plain", evil, 403)
	restCase("same-origin text/plain spawn", "POST", "/api/grid/spawn", `{"agent_id":"agent-1"}`, w.mgmt, "text/plain", "", 415)
	restCase("preflight from an unlisted origin", "OPTIONS", "/api/grid/spawn", "", "", "", evil, 403)

	t.Run("gossip member claims a voter's id with another raft address", func(t *testing.T) {
		w.testGossipImpostor(t, leader, follower)
	})

	t.Run("65 event streams from one client", func(t *testing.T) {
		var conns []*http.Response
		defer func() {
			for _, r := range conns {
				r.Body.Close()
			}
		}()
		for i := 0; i < security.DefaultMaxStreams; i++ {
			resp := w.openStream(t, leader)
			if resp.StatusCode != 200 {
				t.Fatalf("stream %d: %d", i+1, resp.StatusCode)
			}
			conns = append(conns, resp)
		}
		resp := w.openStream(t, leader)
		resp.Body.Close()
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("stream 65: %d, want 429", resp.StatusCode)
		}
	})

	t.Run("snapshot upload over the cap", func(t *testing.T) {
		before := w.snapshotOf(t)
		conn := dial(t, leader.GRPC, mustCreds(t, tls), w.mgmt)
		cctx, ccancel := harness.Ctx(20 * time.Second)
		defer ccancel()
		s, err := rpc.NewGridMasterClient(conn).RestoreSnapshot(cctx)
		if err != nil {
			t.Fatal(err)
		}
		chunk := bytes.Repeat([]byte{'x'}, 256<<10)
		for i := 0; i < 8; i++ { // 2 MiB against a 1 MiB cap
			if s.Send(&rpc.SnapshotChunk{Data: chunk}) != nil {
				break
			}
		}
		_, err = s.CloseAndRecv()
		if status.Code(err) != codes.ResourceExhausted {
			t.Fatalf("oversized upload: %v, want RESOURCE_EXHAUSTED", err)
		}
		if after := w.snapshotOf(t); after != before {
			t.Fatalf("state changed:\nbefore %s\nafter  %s", before, after)
		}
	})

	t.Run("slow-loris HTTP client is cut off", func(t *testing.T) {
		conn, err := net.Dial("tcp", leader.HTTP)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_, _ = io.WriteString(conn, "\x16") // the first byte of a TLS hello, then nothing
		_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		start := time.Now()
		_, err = bufio.NewReader(conn).ReadByte()
		if err == nil || time.Since(start) >= 29*time.Second {
			t.Fatalf("server kept a silent connection open (err %v after %s)", err, time.Since(start))
		}
	})
	_ = a1
}

// newACLFixture is newSecFixture with --acl, a 1 MiB snapshot cap.
func newACLFixture(t *testing.T) *secFixture {
	t.Helper()
	return newSecFixtureWith(t, []string{"--acl", "--max-snapshot-size", "1048576"})
}

// mustCreds are transport credentials for files.
func mustCreds(t *testing.T, files security.TLSFiles) credentialsT {
	t.Helper()
	creds, err := security.DialCredentials(files, "")
	if err != nil {
		t.Fatal(err)
	}
	return creds
}

// raftTransportWith is a Raft transport dialing with files' certificate.
func raftTransportWith(t *testing.T, files security.TLSFiles) *raft.NetworkTransport {
	t.Helper()
	server, err := security.ServerTLSConfig(files)
	if err != nil {
		t.Fatal(err)
	}
	client, err := security.ClientTLSConfig(files, "")
	if err != nil {
		t.Fatal(err)
	}
	layer, err := cluster.NewTLSStreamLayer("127.0.0.1:0", nil, server, client)
	if err != nil {
		t.Fatal(err)
	}
	trans := raft.NewNetworkTransport(layer, 1, 3*time.Second, io.Discard)
	t.Cleanup(func() { trans.Close() })
	return trans
}

// restRaw makes one HTTPS call with full control of the headers.
func (w *aclWorld) restRaw(t *testing.T, m *harness.Master, method, path, body, token, contentType, origin string) int {
	t.Helper()
	req, err := http.NewRequest(method, "https://"+m.HTTP+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
	}
	resp, err := w.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// openStream opens one SSE event stream with the read token.
func (w *aclWorld) openStream(t *testing.T, m *harness.Master) *http.Response {
	t.Helper()
	req, err := http.NewRequest("GET", "https://"+m.HTTP+"/api/grid/events/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+w.readTok)
	resp, err := w.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

var _ = grpc.NewClient
