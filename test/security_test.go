package test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/rpc/security"
	"github.com/gridctl/grid/test/harness"
	"github.com/gridctl/grid/test/waitfor"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

const (
	secAPIToken  = "sec-full-token-0123456789"
	secReadToken = "sec-read-token-0123456789"
)

// secFixture is a 3-master cluster with every protection on, one real
// agent, and TLS material from the cluster CA and from a foreign one.
type secFixture struct {
	c       *harness.Cluster
	sec     *harness.Security
	caDir   string
	certDir string
	foreign security.TLSFiles // a member cert from another CA
	agent   *harness.Agent
	http    *http.Client // HTTPS client trusting the cluster CA
}

// newSecFixture creates the CAs and certificates and starts the cluster.
func newSecFixture(t *testing.T) *secFixture {
	t.Helper()
	return newSecFixtureWith(t, nil)
}

// newSecFixtureWith is newSecFixture with extra master flags.
func newSecFixtureWith(t *testing.T, masterArgs []string) *secFixture {
	t.Helper()
	if _, err := harness.Binary(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	f := &secFixture{caDir: filepath.Join(dir, "ca"), certDir: filepath.Join(dir, "certs")}
	if _, err := harness.MakeCA(f.caDir); err != nil {
		t.Fatal(err)
	}
	member, err := harness.MakeCert(f.caDir, "member", f.certDir)
	if err != nil {
		t.Fatal(err)
	}
	foreignCA := filepath.Join(dir, "foreign-ca")
	if _, err := harness.MakeCA(foreignCA); err != nil {
		t.Fatal(err)
	}
	if f.foreign, err = harness.MakeCert(foreignCA, "intruder", filepath.Join(dir, "foreign-certs")); err != nil {
		t.Fatal(err)
	}
	f.sec = &harness.Security{TLS: member, GossipKey: gossipKey(1), APIToken: secAPIToken, ReadToken: secReadToken}
	f.c = harness.NewCluster(t, harness.Options{Security: f.sec, MasterArgs: masterArgs})

	caPEM, err := os.ReadFile(member.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	f.http = &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	return f
}

// gossipKey is a deterministic 32-byte key, base64.
func gossipKey(b byte) string {
	return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, 32))
}

// rest makes one HTTPS call with an optional bearer token; it returns the
// status and the decoded JSON object (nil when the body is not JSON).
func (f *secFixture) rest(t *testing.T, m *harness.Master, method, path string, body []byte, token string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, "https://"+m.HTTP+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := f.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

// dial opens a gRPC client to addr with the given transport credentials
// and token.
func dial(t *testing.T, addr string, creds credentials.TransportCredentials, token string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds), grpc.WithPerRPCCredentials(security.TokenCredentials(token)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// registryHash is the leader's registry hash (every master agrees).
func (f *secFixture) registryHash(t *testing.T) string {
	t.Helper()
	return f.c.WaitSameState(20 * time.Second).RegistryHash
}

// refusedEvents counts REQUEST_REFUSED events whose method detail contains method.
func (f *secFixture) refusedEvents(m *harness.Master, method string) (int, error) {
	ctx, cancel := harness.Ctx(3 * time.Second)
	defer cancel()
	l, err := m.Client().QueryEvents(ctx, &rpc.EventFilter{Types: []rpc.EventType{rpc.EventType_REQUEST_REFUSED}, Limit: 1000})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range l.GetEvents() {
		if strings.Contains(e.GetDetails()["method"], method) {
			n++
		}
	}
	return n, nil
}

// logContains polls a process log for want.
func logContains(t *testing.T, p *harness.Proc, what, want string) {
	t.Helper()
	waitfor.Until(t, 30*time.Second, what, func() (bool, string) {
		b, err := os.ReadFile(p.Log)
		if err != nil {
			return false, err.Error()
		}
		return bytes.Contains(b, []byte(want)), "log lacks " + want
	})
}

// withFlag replaces the value after flag in args (or appends flag value).
func withFlag(args []string, flag, value string) []string {
	out := slices.Clone(args)
	for i := 0; i+1 < len(out); i++ {
		if out[i] == flag {
			out[i+1] = value
			return out
		}
	}
	return append(out, flag, value)
}

func TestSecurity(t *testing.T) {
	f := newSecFixture(t)
	c := f.c
	leader := c.WaitLeader(30 * time.Second)
	f.agent = c.AddAgent("agent-sec", harness.AgentOptions{})
	waitfor.Until(t, 30*time.Second, "agent-sec registered over mutual TLS with the token", func() (bool, string) {
		ids, err := agentIDs(leader)
		if err != nil {
			return false, err.Error()
		}
		return ids["agent-sec"], fmt.Sprint(ids)
	})

	t.Run("tls refuses plaintext and foreign certificates", func(t *testing.T) { f.testTLS(t) })
	t.Run("tokens guard mutations and reads, refusals are audited", func(t *testing.T) { f.testTokens(t) })
	t.Run("hostile input gets clear errors and changes nothing", func(t *testing.T) { f.testHostileInput(t) })
	t.Run("foreign members cannot join", func(t *testing.T) { f.testForeignMembers(t) })
}

func (f *secFixture) testTLS(t *testing.T) {
	leader := f.c.WaitLeader(10 * time.Second)
	call := func(conn *grpc.ClientConn) error {
		ctx, cancel := harness.Ctx(3 * time.Second)
		defer cancel()
		_, err := rpc.NewGridMasterClient(conn).GetClusterStatus(ctx, &rpc.Empty{})
		return err
	}
	// Positive control: the cluster's own certificate works.
	ownCreds, err := security.DialCredentials(f.sec.TLS, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := call(dial(t, leader.GRPC, ownCreds, secReadToken)); err != nil {
		t.Fatalf("a client with a member certificate was refused: %v", err)
	}
	if err := call(dial(t, leader.GRPC, insecure.NewCredentials(), secAPIToken)); status.Code(err) != codes.Unavailable {
		t.Fatalf("plaintext gRPC against a TLS master: %v, want UNAVAILABLE (refused)", err)
	}
	foreignCreds, err := security.DialCredentials(f.foreign, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := call(dial(t, leader.GRPC, foreignCreds, secAPIToken)); err == nil {
		t.Fatal("a client with a certificate from another CA was served")
	}
	// A client that trusts the cluster CA but presents no certificate.
	pool := x509.NewCertPool()
	caPEM, _ := os.ReadFile(f.sec.TLS.CA)
	pool.AppendCertsFromPEM(caPEM)
	noCert := credentials.NewTLS(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
	if err := call(dial(t, leader.GRPC, noCert, secAPIToken)); err == nil {
		t.Fatal("a client without a certificate was served")
	}

	// The Raft port: plaintext gets no Raft answer (a TLS alert, then the
	// connection closes); a foreign certificate fails the handshake; the
	// member certificate completes it.
	conn, err := net.DialTimeout("tcp", leader.Raft, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
	_, _ = conn.Write([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
	got, err := io.ReadAll(conn)
	conn.Close()
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the raft port kept a plaintext connection open")
	}
	if len(got) > 0 && got[0] != 0x15 { // 0x15: TLS alert record
		t.Fatalf("the raft port answered plaintext with %x, want a TLS alert or nothing", got)
	}
	foreignTLS, err := security.ClientTLSConfig(f.foreign, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if err := raftHandshake(leader.Raft, foreignTLS); err == nil {
		t.Fatal("the raft port accepted a certificate from another CA")
	}
	ownTLS, err := security.ClientTLSConfig(f.sec.TLS, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if err := raftHandshake(leader.Raft, ownTLS); err != nil {
		t.Fatalf("the raft port refused the member certificate: %v", err)
	}

	// HTTPS with the member certificate; plain HTTP is not served.
	if code, out := f.rest(t, leader, "GET", "/healthz", nil, ""); code != 200 || out["status"] != "ok" {
		t.Fatalf("https /healthz = %d %v", code, out)
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + leader.HTTP + "/healthz")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("plain HTTP served /healthz on a TLS master")
		}
	}
}

// raftHandshake completes a TLS handshake with a Raft port; the server
// verifies the client certificate during the handshake, and a refusal
// shows on the first read.
func raftHandshake(addr string, cfg *tls.Config) error {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 3 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	_, err = conn.Read(make([]byte, 1))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return nil // accepted: the server waits for a Raft command
	}
	return err
}

func (f *secFixture) testTokens(t *testing.T) {
	c := f.c
	leader := c.WaitLeader(10 * time.Second)
	follower := c.Followers(leader)[0]
	before := f.registryHash(t)
	auditsBefore, err := f.refusedEvents(leader, "RegisterAgent")
	if err != nil {
		t.Fatal(err)
	}
	creds, err := security.DialCredentials(f.sec.TLS, "")
	if err != nil {
		t.Fatal(err)
	}
	reg := &rpc.AgentInfo{AgentId: "token-thief", Hostname: "h", Platform: "linux-x86_64", MaxStorageNodes: 1, AgentEndpoint: "127.0.0.1:1"}
	for _, tc := range []struct {
		name, token string
		want        codes.Code
	}{
		{"no token", "", codes.Unauthenticated},
		{"wrong token", "not-the-token", codes.Unauthenticated},
		{"read-only token", secReadToken, codes.PermissionDenied},
	} {
		for _, m := range []*harness.Master{leader, follower} {
			ctx, cancel := harness.Ctx(5 * time.Second)
			_, err := rpc.NewGridMasterClient(dial(t, m.GRPC, creds, tc.token)).RegisterAgent(ctx, reg)
			cancel()
			if status.Code(err) != tc.want {
				t.Fatalf("RegisterAgent with %s on %s: %v, want %s", tc.name, m.ID, err, tc.want)
			}
			if strings.Contains(fmt.Sprint(err), secReadToken) || strings.Contains(fmt.Sprint(err), "not-the-token") {
				t.Fatalf("the refusal echoes the token: %v", err)
			}
		}
	}
	// Reads need a token once --read-token is set; the read token works.
	ctx, cancel := harness.Ctx(5 * time.Second)
	_, err = rpc.NewGridMasterClient(dial(t, follower.GRPC, creds, "")).ListAgents(ctx, &rpc.Empty{})
	cancel()
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("ListAgents without a token: %v, want UNAUTHENTICATED", err)
	}
	ctx, cancel = harness.Ctx(5 * time.Second)
	_, err = rpc.NewGridMasterClient(dial(t, follower.GRPC, creds, secReadToken)).ListAgents(ctx, &rpc.Empty{})
	cancel()
	if err != nil {
		t.Fatalf("ListAgents with the read-only token: %v", err)
	}
	// The agent's own port demands the full token too.
	ctx, cancel = harness.Ctx(5 * time.Second)
	_, err = rpc.NewGridAgentClient(dial(t, f.agent.GRPC, creds, "")).SpawnNode(ctx, &rpc.SpawnNodeRequest{NodeId: "n-thief"})
	cancel()
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("agent SpawnNode without a token: %v, want UNAUTHENTICATED", err)
	}

	// REST: 401 without or with a wrong token, 403 with the read token.
	body := []byte(`{"agent_id":"agent-sec"}`)
	for _, tc := range []struct {
		token string
		want  int
	}{{"", 401}, {"wrong", 401}, {secReadToken, 403}} {
		code, out := f.rest(t, follower, "POST", "/api/grid/spawn", body, tc.token)
		if code != tc.want || out["success"] != false || out["error"] == "" {
			t.Fatalf("REST spawn with token %q: %d %v, want %d with a JSON error", tc.token, code, out, tc.want)
		}
	}
	if code, out := f.rest(t, follower, "GET", "/api/grid/agents", nil, ""); code != 401 {
		t.Fatalf("REST agents without a token under --read-token: %d %v, want 401", code, out)
	}
	if code, out := f.rest(t, follower, "GET", "/readyz", nil, ""); code != 200 {
		t.Fatalf("REST /readyz without a token (probes stay open): %d %v", code, out)
	}
	if code, out := f.rest(t, follower, "GET", "/api/grid/agents", nil, secReadToken); code != 200 {
		t.Fatalf("REST agents with the read token: %d %v", code, out)
	}

	if after := f.registryHash(t); after != before {
		t.Fatalf("refused calls changed the registry: %s -> %s", before, after)
	}
	waitfor.Until(t, 20*time.Second, "REQUEST_REFUSED audit events for gRPC and REST refusals", func() (bool, string) {
		n, err := f.refusedEvents(leader, "RegisterAgent")
		if err != nil {
			return false, err.Error()
		}
		r, err := f.refusedEvents(leader, "POST /api/grid/spawn")
		if err != nil {
			return false, err.Error()
		}
		return n > auditsBefore && r > 0, fmt.Sprintf("RegisterAgent refusals %d (before %d), REST %d", n, auditsBefore, r)
	})
	ctx, cancel = harness.Ctx(5 * time.Second)
	defer cancel()
	l, err := leader.Client().QueryEvents(ctx, &rpc.EventFilter{Types: []rpc.EventType{rpc.EventType_REQUEST_REFUSED}, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range l.GetEvents() {
		d := e.GetDetails()
		if d["reason"] == "" || d["method"] == "" {
			t.Fatalf("audit event lacks method or reason: %v", d)
		}
		for _, v := range d {
			if strings.Contains(v, secReadToken) || strings.Contains(v, "not-the-token") || strings.Contains(v, secAPIToken) {
				t.Fatalf("audit event carries a token: %v", d)
			}
		}
	}
}

// hostileCase is one hostile input and the refusal it must get.
type hostileCase struct {
	name string
	run  func() error // returns the refusal
	// code is the gRPC code (REST statuses are mapped to codes by restErr).
	code codes.Code
	// want is a fragment the error message must contain (lower case).
	want string
}

// restErr turns a REST answer into an error carrying an equivalent gRPC
// code, so REST and gRPC cases share one table; a non-JSON or
// success answer is a failure of its own.
func restErr(code int, out map[string]any) error {
	msg, _ := out["error"].(string)
	if code < 400 || out["success"] != false || msg == "" {
		return fmt.Errorf("REST answered %d %v; want a 4xx JSON error", code, out)
	}
	m := map[int]codes.Code{400: codes.InvalidArgument, 401: codes.Unauthenticated, 403: codes.PermissionDenied,
		404: codes.NotFound, 405: codes.Unimplemented, 413: codes.ResourceExhausted, 415: codes.InvalidArgument}
	c, ok := m[code]
	if !ok {
		c = codes.Unknown
	}
	return status.Errorf(c, "HTTP %d: %s", code, msg)
}

func (f *secFixture) testHostileInput(t *testing.T) {
	c := f.c
	leader := c.WaitLeader(10 * time.Second)
	follower := c.Followers(leader)[0]
	gm := leader.Client()
	if err := os.Symlink("/etc", filepath.Join(f.agent.DataDir, "escape")); err != nil {
		t.Fatal(err)
	}
	before := f.registryHash(t)

	post := func(m *harness.Master, path string, body []byte) func() error {
		return func() error { return restErr(f.rest(t, m, "POST", path, body, secAPIToken)) }
	}
	get := func(path string) func() error {
		return func() error { return restErr(f.rest(t, follower, "GET", path, nil, secAPIToken)) }
	}
	spawn := func(req *rpc.SpawnRequest) func() error {
		return func() error {
			ctx, cancel := harness.Ctx(30 * time.Second)
			defer cancel()
			resp, err := gm.SpawnStorageNode(ctx, req)
			if err == nil {
				return fmt.Errorf("spawn accepted: %v", resp)
			}
			return err
		}
	}
	agentSpawn := func(req *rpc.SpawnNodeRequest) func() error {
		return func() error {
			ctx, cancel := harness.Ctx(30 * time.Second)
			defer cancel()
			_, err := f.agent.Client().SpawnNode(ctx, req)
			return err
		}
	}
	register := func(info *rpc.AgentInfo) func() error {
		return func() error {
			ctx, cancel := harness.Ctx(10 * time.Second)
			defer cancel()
			_, err := gm.RegisterAgent(ctx, info)
			return err
		}
	}
	emit := func(req *rpc.EmitEventsRequest) func() error {
		return func() error {
			ctx, cancel := harness.Ctx(10 * time.Second)
			defer cancel()
			_, err := gm.EmitEvents(ctx, req)
			return err
		}
	}
	// flood repeats call until it is refused (or n calls pass).
	flood := func(n int, call func(ctx context.Context) error) func() error {
		return func() error {
			for i := 0; i < n; i++ {
				ctx, cancel := harness.Ctx(5 * time.Second)
				err := call(ctx)
				cancel()
				if err != nil {
					return err
				}
			}
			return fmt.Errorf("%d calls in a row were all accepted", n)
		}
	}
	agentInfo := func(id string) *rpc.AgentInfo {
		return &rpc.AgentInfo{AgentId: id, Hostname: "h", Platform: "linux-x86_64", MaxStorageNodes: 1, AgentEndpoint: "127.0.0.1:1"}
	}
	ev := func(typ rpc.EventType) *rpc.Event {
		return &rpc.Event{Id: rpc.NewEventID("hostile"), Type: typ, EntityId: "x", Timestamp: time.Now().UnixMicro(), Source: "hostile"}
	}
	manyEvents := make([]*rpc.Event, 10_001) // one over the limit
	for i := range manyEvents {
		manyEvents[i] = ev(rpc.EventType_AGENT_HEARTBEAT)
	}
	manyNodes := make([]*rpc.NodeStatus, 10_001)
	for i := range manyNodes {
		manyNodes[i] = &rpc.NodeStatus{NodeId: fmt.Sprintf("n%d", i), Status: "running"}
	}
	deep := []byte(`{"agent_id":` + strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000) + `}`)
	huge := bytes.Repeat([]byte("a"), 2<<20)
	oversized := []byte(`{"agent_id":"` + string(huge) + `"}`)

	cases := []hostileCase{
		// REST bodies and queries.
		{"rest oversized body", post(follower, "/api/grid/spawn", oversized), codes.ResourceExhausted, "large"},
		{"rest unknown field", post(follower, "/api/grid/spawn", []byte(`{"agent_id":"agent-sec","rm_rf":true}`)), codes.InvalidArgument, "rm_rf"},
		{"rest wrong type", post(follower, "/api/grid/spawn", []byte(`{"port":"eighty"}`)), codes.InvalidArgument, "port"},
		{"rest negative port", post(follower, "/api/grid/spawn", []byte(`{"port":-1}`)), codes.InvalidArgument, "port"},
		{"rest port 65536", post(follower, "/api/grid/spawn", []byte(`{"port":65536}`)), codes.InvalidArgument, "port"},
		{"rest memory -1", post(follower, "/api/grid/spawn", []byte(`{"memory_limit_mb":-1}`)), codes.InvalidArgument, "memory_limit_mb"},
		{"rest memory 1e18", post(follower, "/api/grid/spawn", []byte(`{"memory_limit_mb":1000000000000000000}`)), codes.InvalidArgument, "memory_limit_mb"},
		{"rest NUL in storage_path", post(follower, "/api/grid/spawn", []byte(`{"storage_path":"a\u0000b"}`)), codes.InvalidArgument, "storage_path"},
		{"rest path escape node id", post(follower, "/api/grid/spawn", []byte(`{"node_id":"../../etc"}`)), codes.InvalidArgument, "node_id"},
		{"rest deeply nested json", post(follower, "/api/grid/spawn", deep), codes.InvalidArgument, ""},
		{"rest truncated json", post(follower, "/api/grid/spawn", []byte(`{"agent_id":`)), codes.InvalidArgument, ""},
		{"rest invalid utf-8 node id", post(follower, "/api/grid/stop", []byte("{\"node_id\":\"n\xff\xfe\"}")), codes.InvalidArgument, "node_id"},
		{"rest stop without node", post(follower, "/api/grid/stop", []byte(`{}`)), codes.InvalidArgument, "node_id"},
		{"rest remove-peer path escape", post(follower, "/api/grid/operator/remove-peer", []byte(`{"id":"a/../../b"}`)), codes.InvalidArgument, "id"},
		{"rest transfer wrong type", post(follower, "/api/grid/operator/transfer-leadership", []byte(`{"id":12}`)), codes.InvalidArgument, "id"},
		{"rest huge query", post(follower, "/api/grid/query", []byte(`{"query":"`+strings.Repeat("q", 100_000)+`"}`)), codes.InvalidArgument, "query"},
		{"rest events negative limit", get("/api/grid/events?limit=-1"), codes.InvalidArgument, "limit"},
		{"rest events huge limit", get("/api/grid/events?limit=99999999999999"), codes.InvalidArgument, "limit"},
		{"rest events unknown type", get("/api/grid/events?event_type=rm_rf"), codes.InvalidArgument, "rm_rf"},
		{"rest node path escape", get("/api/grid/nodes/..%2F..%2Fetc"), codes.InvalidArgument, "node_id"},

		// gRPC fields.
		{"grpc empty agent id", register(agentInfo("")), codes.InvalidArgument, "agent_id"},
		{"grpc NUL in agent id", register(agentInfo("a\x00b")), codes.InvalidArgument, "agent_id"},
		{"grpc path escape agent id", register(agentInfo("../../etc")), codes.InvalidArgument, "agent_id"},
		{"grpc 10k-node registration", register(&rpc.AgentInfo{AgentId: "big", Hostname: "h", MaxStorageNodes: 1, AgentEndpoint: "127.0.0.1:1", Nodes: manyNodes}), codes.InvalidArgument, "nodes"},
		{"grpc oversized message", register(&rpc.AgentInfo{AgentId: "big", Hostname: strings.Repeat("h", 5<<20)}), codes.ResourceExhausted, "larger than max"},
		{"grpc spawn storage_path ../../etc", spawn(&rpc.SpawnRequest{AgentId: "agent-sec", StoragePath: "../../etc"}), codes.InvalidArgument, "storage_path"},
		{"grpc spawn storage_path /etc", spawn(&rpc.SpawnRequest{AgentId: "agent-sec", StoragePath: "/etc"}), codes.InvalidArgument, "storage_path"},
		{"grpc spawn storage_path a/../../b", spawn(&rpc.SpawnRequest{AgentId: "agent-sec", StoragePath: "a/../../b"}), codes.InvalidArgument, "storage_path"},
		{"grpc spawn storage_path symlink out", spawn(&rpc.SpawnRequest{AgentId: "agent-sec", StoragePath: filepath.Join(f.agent.DataDir, "escape", "x")}), codes.InvalidArgument, "storage_path"},
		{"grpc spawn port 65536", spawn(&rpc.SpawnRequest{AgentId: "agent-sec", Port: 65536}), codes.InvalidArgument, "port"},
		{"grpc spawn port outside range", spawn(&rpc.SpawnRequest{AgentId: "agent-sec", Port: 1}), codes.InvalidArgument, "port"},
		{"grpc spawn memory 1e18", spawn(&rpc.SpawnRequest{AgentId: "agent-sec", MemoryLimitMb: 1e18}), codes.InvalidArgument, "memory"},
		{"grpc spawn NUL node id", spawn(&rpc.SpawnRequest{AgentId: "agent-sec", NodeId: "n\x00"}), codes.InvalidArgument, "node_id"},
		{"agent spawn port 65536", agentSpawn(&rpc.SpawnNodeRequest{NodeId: "n-port", Port: 65536}), codes.InvalidArgument, "port"},
		{"agent spawn /etc", agentSpawn(&rpc.SpawnNodeRequest{NodeId: "n-etc", StoragePath: "/etc"}), codes.InvalidArgument, "storage_path"},
		{"agent spawn memory 1", agentSpawn(&rpc.SpawnNodeRequest{NodeId: "n-mem", MemoryLimitMb: 1}), codes.InvalidArgument, "memory"},
		{"grpc unknown event type", emit(&rpc.EmitEventsRequest{Source: "hostile", Events: []*rpc.Event{ev(rpc.EventType(9999))}}), codes.InvalidArgument, "type"},
		{"grpc 10k events in one call", emit(&rpc.EmitEventsRequest{Source: "hostile", Events: manyEvents}), codes.InvalidArgument, "events"},
		{"grpc heartbeat unknown agent", func() error {
			ctx, cancel := harness.Ctx(5 * time.Second)
			defer cancel()
			_, err := gm.Heartbeat(ctx, &rpc.HeartbeatRequest{AgentId: "never-registered"})
			return err
		}, codes.NotFound, "never-registered"},
		{"grpc heartbeat flood", flood(500, func(ctx context.Context) error {
			_, err := gm.Heartbeat(ctx, &rpc.HeartbeatRequest{AgentId: "agent-sec"})
			return err
		}), codes.ResourceExhausted, "heartbeats/s"},
		{"grpc event flood", flood(1000, func(ctx context.Context) error {
			_, err := gm.EmitEvents(ctx, &rpc.EmitEventsRequest{Source: "flood-source", Events: []*rpc.Event{ev(rpc.EventType_AGENT_HEARTBEAT)}})
			return err
		}), codes.ResourceExhausted, "emitevents calls/s"},

		// Config: each refused at start with exit code 2.
		{"config bad gossip key", gridExit2("master", "--encrypt", "not base64!"), codes.InvalidArgument, "gossip"},
		{"config short gossip key", gridExit2("agent", "--masters", "127.0.0.1:1", "--encrypt", base64.StdEncoding.EncodeToString([]byte("short"))), codes.InvalidArgument, "16, 24 or 32"},
		{"config partial tls", gridExit2("master", "--tls-ca", f.sec.TLS.CA), codes.InvalidArgument, "go together"},
		{"config foreign-signed cert", gridExit2("master", "--tls-ca", f.sec.TLS.CA, "--tls-cert", f.foreign.Cert, "--tls-key", f.foreign.Key), codes.InvalidArgument, "not a valid certificate"},
		{"config read token alone", gridExit2("master", "--read-token", "r"), codes.InvalidArgument, "read-token"},
		{"config token with space", gridExit2("master", "--api-token", "a b"), codes.InvalidArgument, "printable"},
		{"config port range 0", gridExit2("agent", "--masters", "127.0.0.1:1", "--port-range", "0-10"), codes.InvalidArgument, "port-range"},
		{"config port range 65536", gridExit2("agent", "--masters", "127.0.0.1:1", "--port-range", "1-65536"), codes.InvalidArgument, "port-range"},
		{"config port range -1", gridExit2("agent", "--masters", "127.0.0.1:1", "--port-range", "-1-5"), codes.InvalidArgument, "port-range"},
	}
	if len(cases) < 30 {
		t.Fatalf("only %d hostile cases", len(cases))
	}
	for _, tc := range cases {
		err := tc.run()
		st, _ := status.FromError(err)
		if err == nil || st.Code() != tc.code {
			t.Errorf("%s: got %v, want %s", tc.name, err, tc.code)
			continue
		}
		if msg := strings.ToLower(st.Message()); !strings.Contains(msg, tc.want) {
			t.Errorf("%s: message %q lacks %q", tc.name, st.Message(), tc.want)
		}
	}

	// Afterwards: a leader, every master agreeing, the registry unchanged,
	// and the cluster still taking writes.
	c.WaitLeader(20 * time.Second)
	if after := f.registryHash(t); after != before {
		t.Fatalf("hostile input changed the registry: %s -> %s", before, after)
	}
	if code, out := f.rest(t, follower, "GET", "/api/grid/status", nil, secReadToken); code != 200 {
		t.Fatalf("status after hostile input: %d %v", code, out)
	}
}

// gridExit2 runs `grid <args>` with a fresh data dir and expects exit code
// 2 (a refused setting) with an Error line; the line becomes the refusal.
func gridExit2(args ...string) func() error {
	return func() error {
		bin, err := harness.Binary()
		if err != nil {
			return err
		}
		dir, err := os.MkdirTemp("", "grid-cfg-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		full := append(slices.Clone(args), "--data-dir", filepath.Join(dir, "data"))
		cmd := exec.Command(bin, full...)
		cmd.Dir = dir
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		done := make(chan error, 1)
		if err := cmd.Start(); err != nil {
			return err
		}
		go func() { done <- cmd.Wait() }()
		select {
		case err = <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("grid %v did not exit: %s", args, out.String())
		}
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			return fmt.Errorf("grid %v: exit %v, want 2: %s", args, err, out.String())
		}
		return status.Error(codes.InvalidArgument, strings.TrimSpace(out.String()))
	}
}

func (f *secFixture) testForeignMembers(t *testing.T) {
	c := f.c
	leader := c.WaitLeader(10 * time.Second)

	// A master with the right gossip key but a certificate from another CA:
	// it is seen by gossip, but Raft and gRPC refuse it.
	intruder := c.AddMaster("intruder", false)
	intruder.Args = withFlag(withFlag(intruder.Args, "--tls-ca", f.foreign.CA), "--tls-cert", f.foreign.Cert)
	intruder.Args = withFlag(intruder.Args, "--tls-key", f.foreign.Key)
	// A master with the cluster's certificate but another gossip key.
	stranger := c.AddMaster("stranger", false)
	stranger.Args = withFlag(stranger.Args, "--encrypt", gossipKey(2))
	// An agent with a foreign certificate.
	for _, m := range []*harness.Master{intruder, stranger} {
		if err := m.Start(); err != nil {
			t.Fatal(err)
		}
	}
	foreignAgent := c.AddAgent("agent-foreign", harness.AgentOptions{Args: []string{
		"--tls-ca", f.foreign.CA, "--tls-cert", f.foreign.Cert, "--tls-key", f.foreign.Key}})

	members := func() (map[string]bool, error) {
		ctx, cancel := harness.Ctx(3 * time.Second)
		defer cancel()
		l, err := leader.Client().ListMembers(ctx, &rpc.Empty{})
		if err != nil {
			return nil, err
		}
		out := map[string]bool{}
		for _, m := range l.GetMembers() {
			out[m.GetName()] = true
		}
		return out, nil
	}
	waitfor.Until(t, 30*time.Second, "the intruder seen by gossip (it holds the key)", func() (bool, string) {
		ms, err := members()
		if err != nil {
			return false, err.Error()
		}
		return ms["intruder"], fmt.Sprint(ms)
	})
	// Each refusal is observed where it happens, then its effect asserted.
	logContains(t, stranger.Proc, "the stranger's gossip join refused", "gossip join failed")
	logContains(t, foreignAgent.Proc, "the foreign agent refused by the masters", "certificate")
	logContains(t, intruder.Proc, "the intruder refused for its certificate", "certificate")

	ms, err := members()
	if err != nil {
		t.Fatal(err)
	}
	if ms["stranger"] {
		t.Fatalf("a member with another gossip key is listed: %v", ms)
	}
	ids, err := agentIDs(leader)
	if err != nil {
		t.Fatal(err)
	}
	if ids["agent-foreign"] {
		t.Fatal("an agent with a foreign certificate registered")
	}
	ctx, cancel := harness.Ctx(5 * time.Second)
	defer cancel()
	ml, err := leader.Client().ListMasters(ctx, &rpc.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ml.GetMasters() {
		if (m.GetId() == "intruder" || m.GetId() == "stranger") && m.GetSuffrage() == "voter" {
			t.Fatalf("a foreign master became a voter: %v", m)
		}
	}
	// The three real masters still agree and take writes.
	register(t, leader, "after-intruders")
	for _, p := range []*harness.Proc{intruder.Proc, stranger.Proc, foreignAgent.Proc} {
		_ = p.Kill()
	}
	c.WaitLeader(20 * time.Second)
	c.WaitSameState(20 * time.Second)
}

// credentialsT is the gRPC transport credentials type.
type credentialsT = credentials.TransportCredentials
