package security

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/gridctl/grid/rpc"
)

func TestGossipKey(t *testing.T) {
	key, err := NewGossipKey()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := ParseGossipKey(key)
	if err != nil || len(raw) != GossipKeySize {
		t.Fatalf("ParseGossipKey(NewGossipKey()) = %d bytes, %v", len(raw), err)
	}
	if other, _ := NewGossipKey(); other == key {
		t.Fatal("two fresh keys are equal")
	}
	for _, n := range []int{16, 24, 32} {
		if _, err := ParseGossipKey(" " + base64.StdEncoding.EncodeToString(make([]byte, n)) + "\n"); err != nil {
			t.Errorf("%d-byte key refused: %v", n, err)
		}
	}
	bad := map[string]string{
		"empty":       "",
		"not base64":  "s3cr3t!!-not-base64",
		"short":       base64.StdEncoding.EncodeToString(make([]byte, 8)),
		"33 bytes":    base64.StdEncoding.EncodeToString(make([]byte, 33)),
		"url base64":  strings.NewReplacer("+", "-", "/", "_").Replace(base64.StdEncoding.EncodeToString([]byte{0xfb, 0xff, 0xfe, 0xfb, 0xff, 0xfe, 0xfb, 0xff, 0xfe, 0xfb, 0xff, 0xfe, 0xfb, 0xff, 0xfe, 0xff})),
		"NUL":         "AAAA\x00AAAAAAAAAAAAAAAAAAAAAAA=",
		"huge":        strings.Repeat("QUFB", 4096),
		"stray chars": key + "#",
	}
	for name, s := range bad {
		_, err := ParseGossipKey(s)
		if !errors.Is(err, ErrInvalidGossipKey) {
			t.Errorf("%s: err = %v, want ErrInvalidGossipKey", name, err)
			continue
		}
		if len(s) > 4 && strings.Contains(err.Error(), s) {
			t.Errorf("%s: the error echoes the key: %v", name, err)
		}
	}
}

func TestValidateTokens(t *testing.T) {
	ok := [][2]string{{"", ""}, {"s3cret", ""}, {"s3cret", "r3ad"}}
	for _, c := range ok {
		if err := ValidateTokens(c[0], c[1]); err != nil {
			t.Errorf("ValidateTokens(%q, %q) = %v", c[0], c[1], err)
		}
	}
	bad := [][2]string{
		{"", "r3ad"},                          // read token alone
		{"same", "same"},                      // equal tokens
		{"has space", ""},                     // whitespace
		{"nul\x00byte", ""},                   // NUL
		{"tab\t", ""},                         // control
		{"caf\u00e9", ""},                     // non-ASCII
		{strings.Repeat("x", 1025), ""},       // too long
		{"s3cret", "new\nline"},               // bad read token
		{"s3cret", strings.Repeat("y", 2000)}, // read token too long
	}
	for _, c := range bad {
		if err := ValidateTokens(c[0], c[1]); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("ValidateTokens(%.20q, %.20q) = %v, want ErrInvalidToken", c[0], c[1], err)
		}
	}
}

func TestCheckBearer(t *testing.T) {
	const token = "s3cret-token"
	cases := []struct {
		name string
		md   metadata.MD
		tok  string
		ok   bool
	}{
		{"tokens off", nil, "", true},
		{"right token", metadata.Pairs("authorization", "Bearer "+token), token, true},
		{"scheme case", metadata.Pairs("authorization", "bearer "+token), token, true},
		{"missing", metadata.MD{}, token, false},
		{"nil md", nil, token, false},
		{"wrong token", metadata.Pairs("authorization", "Bearer nope"), token, false},
		{"prefix of token", metadata.Pairs("authorization", "Bearer s3cret"), token, false},
		{"token plus suffix", metadata.Pairs("authorization", "Bearer "+token+"x"), token, false},
		{"no scheme", metadata.Pairs("authorization", token), token, false},
		{"basic scheme", metadata.Pairs("authorization", "Basic "+token), token, false},
		{"empty bearer", metadata.Pairs("authorization", "Bearer "), token, false},
		{"two values", metadata.Pairs("authorization", "Bearer "+token, "authorization", "Bearer x"), token, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckBearer(tc.md, tc.tok)
			if tc.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if status.Code(err) != codes.Unauthenticated {
				t.Fatalf("err = %v, want UNAUTHENTICATED", err)
			}
			if strings.Contains(err.Error(), token) || status.Convert(err).Message() != unauthenticatedMsg {
				t.Fatalf("message %q", err)
			}
		})
	}
}

func TestMutatingMethodSets(t *testing.T) {
	var gotGrid, gotAgent []string
	for _, m := range rpc.GridMaster_ServiceDesc.Methods {
		if full := "/" + rpc.GridMaster_ServiceDesc.ServiceName + "/" + m.MethodName; IsMutatingGridMethod(full) {
			gotGrid = append(gotGrid, m.MethodName)
		}
	}
	for _, s := range rpc.GridMaster_ServiceDesc.Streams {
		if full := "/" + rpc.GridMaster_ServiceDesc.ServiceName + "/" + s.StreamName; IsMutatingGridMethod(full) {
			gotGrid = append(gotGrid, s.StreamName)
		}
	}
	for _, m := range rpc.GridAgent_ServiceDesc.Methods {
		if full := "/" + rpc.GridAgent_ServiceDesc.ServiceName + "/" + m.MethodName; IsMutatingAgentMethod(full) {
			gotAgent = append(gotAgent, m.MethodName)
		}
	}
	var gotStorage []string
	for _, m := range rpc.StorageService_ServiceDesc.Methods {
		if full := "/" + rpc.StorageService_ServiceDesc.ServiceName + "/" + m.MethodName; IsMutatingGridMethod(full) {
			gotStorage = append(gotStorage, m.MethodName)
		}
	}
	slices.Sort(gotStorage)
	if want := []string{"Flush", "LearnAssociation", "LearnConcept"}; !slices.Equal(gotStorage, want) {
		t.Errorf("mutating StorageService methods = %v, want %v", gotStorage, want)
	}
	slices.Sort(gotGrid)
	slices.Sort(gotAgent)
	// SaveSnapshot exports everything and Monitor streams logs: both need the full token.
	wantGrid := []string{"ACLBootstrap", "ACLPolicyDelete", "ACLPolicyList", "ACLPolicyUpsert", "ACLTokenCreate",
		"ACLTokenList", "ACLTokenRevoke", "DrainAgent", "EmitEvents", "Heartbeat", "HeartbeatStream", "Keyring", "Monitor", "RegisterAgent", "RemoveAgent",
		"RemovePeer", "ReportNodeStatus", "RestoreSnapshot", "SaveSnapshot", "SetAgentEligibility", "SetAutopilotConfig",
		"SpawnStorageNode", "StopStorageNode", "TransferLeadership", "UnregisterAgent"}
	if !slices.Equal(gotGrid, wantGrid) {
		t.Errorf("mutating GridMaster methods = %v, want %v", gotGrid, wantGrid)
	}
	if want := []string{"Keyring", "SpawnNode", "StopNode"}; !slices.Equal(gotAgent, want) {
		t.Errorf("mutating GridAgent methods = %v, want %v", gotAgent, want)
	}
	// FetchNodeData (a stream) hands a node's data to another agent: full token.
	if !IsMutatingAgentMethod(rpc.GridAgent_FetchNodeData_FullMethodName) {
		t.Error("FetchNodeData must need the full token")
	}
	if !IsMutatingGridMethod("/grid.GridMaster/SomethingNew") {
		t.Error("an unknown method must count as mutating")
	}
}

func TestAuthInterceptorsTable(t *testing.T) {
	const (
		full  = "full-token"
		read  = "read-token"
		write = rpc.GridMaster_SpawnStorageNode_FullMethodName
		query = rpc.GridMaster_ListAgents_FullMethodName
	)
	bearer := func(tok string) metadata.MD { return metadata.Pairs("authorization", "Bearer "+tok) }
	cases := []struct {
		name        string
		token, read string
		method      string
		md          metadata.MD
		want        codes.Code
		reason      string
	}{
		{"off: write without token", "", "", write, nil, codes.OK, ""},
		{"off: write with junk token", "", "", write, bearer("junk"), codes.OK, ""},
		{"write with full token", full, "", write, bearer(full), codes.OK, ""},
		{"write without token", full, "", write, nil, codes.Unauthenticated, RefusedMissingToken},
		{"write with wrong token", full, "", write, bearer("nope"), codes.Unauthenticated, RefusedInvalidToken},
		{"write with malformed header", full, "", write, metadata.Pairs("authorization", full), codes.Unauthenticated, RefusedMissingToken},
		{"write with two tokens", full, "", write, metadata.Pairs("authorization", "Bearer "+full, "authorization", "Bearer "+full), codes.Unauthenticated, RefusedInvalidToken},
		{"read open without read token", full, "", query, nil, codes.OK, ""},
		{"read with wrong token, reads open", full, "", query, bearer("nope"), codes.OK, ""},
		{"read with read token", full, read, query, bearer(read), codes.OK, ""},
		{"read with full token", full, read, query, bearer(full), codes.OK, ""},
		{"read without token, read token set", full, read, query, nil, codes.Unauthenticated, RefusedMissingToken},
		{"read with wrong token, read token set", full, read, query, bearer("nope"), codes.Unauthenticated, RefusedInvalidToken},
		{"write with read token", full, read, write, bearer(read), codes.PermissionDenied, RefusedReadOnlyToken},
		{"snapshot save with read token", full, read, rpc.GridMaster_SaveSnapshot_FullMethodName, bearer(read), codes.PermissionDenied, RefusedReadOnlyToken},
		{"snapshot save with full token", full, read, rpc.GridMaster_SaveSnapshot_FullMethodName, bearer(full), codes.OK, ""},
		{"unknown method with read token", full, read, "/grid.GridMaster/New", bearer(read), codes.PermissionDenied, RefusedReadOnlyToken},
		{"read token only: write refused", "", read, write, bearer("x"), codes.Unauthenticated, RefusedNoWriteToken},
		{"read token only: read allowed", "", read, query, bearer(read), codes.OK, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var gotReason, gotMethod string
			refusals := 0
			unary, _ := AuthInterceptors(tc.token, tc.read, IsMutatingGridMethod, func(_ context.Context, m, r string) {
				refusals++
				gotMethod, gotReason = m, r
			})
			ctx := context.Background()
			if tc.md != nil {
				ctx = metadata.NewIncomingContext(ctx, tc.md)
			}
			ran := false
			_, err := unary(ctx, nil, &grpc.UnaryServerInfo{FullMethod: tc.method}, func(context.Context, any) (any, error) {
				ran = true
				return "ok", nil
			})
			if got := status.Code(err); got != tc.want {
				t.Fatalf("code = %v (%v), want %v", got, err, tc.want)
			}
			if ran != (tc.want == codes.OK) {
				t.Fatalf("handler ran = %v", ran)
			}
			if tc.want == codes.OK {
				if refusals != 0 {
					t.Fatalf("onRefused called for an allowed call")
				}
				return
			}
			if refusals != 1 || gotMethod != tc.method || gotReason != tc.reason {
				t.Fatalf("onRefused: %d calls, method %q, reason %q; want 1, %q, %q", refusals, gotMethod, gotReason, tc.method, tc.reason)
			}
			for _, secret := range []string{full, read} {
				if strings.Contains(err.Error(), secret) || strings.Contains(gotReason, secret) {
					t.Fatalf("a token leaked into %q / %q", err, gotReason)
				}
			}
		})
	}
	// A nil isMutating guards every method with the full token.
	unary, _ := AuthInterceptors(full, read, nil, nil)
	ctx := metadata.NewIncomingContext(context.Background(), bearer(read))
	_, err := unary(ctx, nil, &grpc.UnaryServerInfo{FullMethod: query}, func(context.Context, any) (any, error) { return nil, nil })
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("nil isMutating: err = %v, want PERMISSION_DENIED", err)
	}
}

// guardedServer counts the handlers that ran.
type guardedServer struct {
	rpc.UnimplementedGridMasterServer
	registered atomic.Int64
	streamed   atomic.Int64
}

func (s *guardedServer) RegisterAgent(context.Context, *rpc.AgentInfo) (*rpc.RegistrationResponse, error) {
	s.registered.Add(1)
	return &rpc.RegistrationResponse{}, nil
}

func (s *guardedServer) StreamEvents(_ *rpc.StreamEventsRequest, stream grpc.ServerStreamingServer[rpc.Event]) error {
	s.streamed.Add(1)
	return stream.Send(&rpc.Event{})
}

func TestAuthOverTLSGRPC(t *testing.T) {
	caDir := testCA(t)
	serverFiles, clientFiles := testMember(t, caDir, "master-1"), testMember(t, caDir, "agent-1")
	const full, read = "full-token", "read-token"

	var mu sync.Mutex
	var refused []string
	unary, stream := AuthInterceptors(full, read, IsMutatingGridMethod, func(_ context.Context, m, r string) {
		mu.Lock()
		defer mu.Unlock()
		refused = append(refused, m+": "+r)
	})
	creds, err := ServerCredentials(serverFiles)
	if err != nil {
		t.Fatal(err)
	}
	srv := &guardedServer{}
	addr := startGRPC(t, srv, grpc.Creds(creds), grpc.ChainUnaryInterceptor(unary), grpc.ChainStreamInterceptor(stream))
	dial, err := DialCredentials(clientFiles, "")
	if err != nil {
		t.Fatal(err)
	}
	client := func(token string) rpc.GridMasterClient {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(dial), grpc.WithPerRPCCredentials(TokenCredentials(token)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return rpc.NewGridMasterClient(conn)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	for _, tok := range []string{"", "wrong", read} {
		_, err := client(tok).RegisterAgent(ctx, &rpc.AgentInfo{AgentId: "agent-1"})
		if c := status.Code(err); c != codes.Unauthenticated && c != codes.PermissionDenied {
			t.Fatalf("RegisterAgent with token %q: %v", tok, err)
		}
	}
	if n := srv.registered.Load(); n != 0 {
		t.Fatalf("refused RegisterAgent ran %d times", n)
	}
	if _, err := client(full).RegisterAgent(ctx, &rpc.AgentInfo{AgentId: "agent-1"}); err != nil {
		t.Fatalf("RegisterAgent with the full token: %v", err)
	}

	recv := func(c rpc.GridMasterClient) error {
		s, err := c.StreamEvents(ctx, &rpc.StreamEventsRequest{})
		if err != nil {
			return err
		}
		_, err = s.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		return err
	}
	if err := recv(client("")); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("StreamEvents without a token: %v", err)
	}
	if err := recv(client(read)); err != nil {
		t.Fatalf("StreamEvents with the read token: %v", err)
	}
	if n := srv.streamed.Load(); n != 1 {
		t.Fatalf("StreamEvents handler ran %d times, want 1", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(refused) != 4 {
		t.Fatalf("audit hook saw %v, want 4 refusals", refused)
	}
}
