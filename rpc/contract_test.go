package rpc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestValidateID(t *testing.T) {
	for _, ok := range []string{"a", "node-1", "agent_001", "n.1", strings.Repeat("x", MaxIDLen)} {
		if err := ValidateID("id", ok); err != nil {
			t.Errorf("ValidateID(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "a:b", "a/b", "a b", "n\x00", "é", strings.Repeat("x", MaxIDLen+1)} {
		if err := ValidateID("id", bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("ValidateID(%q) = %v, want ErrInvalid", bad, err)
		}
	}
	id, err := NewNodeID()
	if err != nil || !strings.HasPrefix(id, "node-") || len(id) != len("node-")+12 || ValidateID("node_id", id) != nil {
		t.Fatalf("NewNodeID = %q, %v", id, err)
	}
}

func TestErrorKindsToCodesAndHTTP(t *testing.T) {
	errExists := NewSentinel("thing exists", ErrExists)
	cases := []struct {
		err  error
		code codes.Code
		http int
	}{
		{fmt.Errorf("ctx: %w", ErrInvalid), codes.InvalidArgument, http.StatusBadRequest},
		{fmt.Errorf("node x: %w", ErrNotFound), codes.NotFound, http.StatusNotFound},
		{fmt.Errorf("node x: %w", errExists), codes.AlreadyExists, http.StatusConflict},
		{NewSentinel("busy", ErrAborted), codes.Aborted, http.StatusConflict},
		{NewSentinel("full", ErrExhausted), codes.ResourceExhausted, http.StatusTooManyRequests},
		{NewSentinel("later", ErrUnavailable), codes.Unavailable, http.StatusServiceUnavailable},
		{NewSentinel("state", ErrPrecondition), codes.FailedPrecondition, http.StatusConflict},
		{context.DeadlineExceeded, codes.DeadlineExceeded, http.StatusGatewayTimeout},
		{context.Canceled, codes.Canceled, StatusClientClosedRequest},
		{status.Error(codes.PermissionDenied, "no"), codes.PermissionDenied, http.StatusForbidden},
		{errors.New("boom"), codes.Internal, http.StatusInternalServerError},
	}
	for _, c := range cases {
		if got := StatusCode(c.err); got != c.code {
			t.Errorf("StatusCode(%v) = %s, want %s", c.err, got, c.code)
		}
		if got := HTTPStatus(StatusCode(c.err)); got != c.http {
			t.Errorf("HTTPStatus(%v) = %d, want %d", c.err, got, c.http)
		}
	}
	// The sentinel keeps its own message and identity.
	wrapped := fmt.Errorf("node n1: %w", errExists)
	if !errors.Is(wrapped, errExists) || status.Convert(ToStatus(wrapped)).Message() != "node n1: thing exists" {
		t.Fatalf("ToStatus(%v) = %v", wrapped, ToStatus(wrapped))
	}
}

func TestPortRangeAndTags(t *testing.T) {
	for _, ok := range [][2]uint32{{0, 0}, {50051, 50150}, {1024, 1024}, {1024, 65535}} {
		if err := ValidatePortRange(ok[0], ok[1]); err != nil {
			t.Errorf("ValidatePortRange(%d, %d) = %v", ok[0], ok[1], err)
		}
	}
	for _, bad := range [][2]uint32{{0, 10}, {10, 5}, {80, 90}, {2000, 1000}, {1024, 65536}} {
		if err := ValidatePortRange(bad[0], bad[1]); !errors.Is(err, ErrInvalid) {
			t.Errorf("ValidatePortRange(%d, %d) = %v", bad[0], bad[1], err)
		}
	}
	if err := CheckPortInRange("a1", 50200, 50051, 50150); !errors.Is(err, ErrInvalid) {
		t.Errorf("out-of-range port passed: %v", err)
	}
	for _, port := range []uint32{0, 50051, 50150} {
		if err := CheckPortInRange("a1", port, 50051, 50150); err != nil {
			t.Errorf("port %d refused: %v", port, err)
		}
	}
	if err := CheckPortInRange("a1", 2000, 0, 0); err != nil {
		t.Errorf("unannounced range refused: %v", err)
	}
	if err := CheckPortInRange("a1", 60000, 50051, 50150); !errors.Is(err, ErrInvalid) {
		t.Errorf("out of range: %v", err)
	}
	if err := CheckPortInRange("a1", 0, 50051, 50150); err != nil {
		t.Errorf("port 0: %v", err)
	}
	meta, err := EncodeTags(map[string]string{TagRole: RoleAgent, TagID: "a1"})
	if err != nil {
		t.Fatal(err)
	}
	if tags := DecodeTags(meta); tags[TagRole] != RoleAgent || tags[TagID] != "a1" {
		t.Fatalf("tags = %v", tags)
	}
	if tags := DecodeTags([]byte("not json")); len(tags) != 0 {
		t.Fatalf("garbage meta gave %v", tags)
	}
}
