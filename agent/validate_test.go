package agent

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestResolveStoragePath(t *testing.T) {
	base := t.TempDir()
	data := filepath.Join(base, "data")
	outside := filepath.Join(base, "outside")
	for _, d := range []string{data, outside, filepath.Join(data, "real")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, filepath.Join(data, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(data, "real"), filepath.Join(data, "inner")); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, requested, want string
		bad                   bool
	}{
		{name: "empty is nodes/<id>", requested: "", want: filepath.Join(data, "nodes", "n1")},
		{name: "relative", requested: "mine/n1", want: filepath.Join(data, "mine", "n1")},
		{name: "dot-dot that stays inside", requested: "a/../b", want: filepath.Join(data, "b")},
		{name: "absolute inside", requested: filepath.Join(data, "abs"), want: filepath.Join(data, "abs")},
		{name: "symlink inside", requested: "inner/x", want: filepath.Join(data, "inner", "x")},
		{name: "dot-dot escape", requested: "../../etc", bad: true},
		{name: "dot-dot to sibling", requested: "../outside", bad: true},
		{name: "absolute outside", requested: "/etc", bad: true},
		{name: "symlink escape", requested: "escape/n1", bad: true},
		{name: "symlink escape itself", requested: "escape", bad: true},
		{name: "data dir itself", requested: ".", bad: true},
		{name: "nul byte", requested: "a\x00b", bad: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ResolveStoragePath(data, tc.requested, "n1")
			if tc.bad {
				if !errors.Is(err, ErrInvalidStoragePath) {
					t.Fatalf("ResolveStoragePath(%q) = %q, %v; want ErrInvalidStoragePath", tc.requested, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ResolveStoragePath(%q) = %q, %v; want %q", tc.requested, got, err, tc.want)
			}
		})
	}
}

func TestValidateNodeID(t *testing.T) {
	for _, ok := range []string{"n", "node-1", "a.b_c-D9", strings.Repeat("x", 128)} {
		if err := ValidateNodeID(ok); err != nil {
			t.Errorf("ValidateNodeID(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "a/b", "a b", "é", strings.Repeat("x", 129), "x;rm"} {
		if err := ValidateNodeID(bad); !errors.Is(err, ErrInvalidNodeID) {
			t.Errorf("ValidateNodeID(%q) = %v, want ErrInvalidNodeID", bad, err)
		}
	}
}

func TestCheckMemoryLimit(t *testing.T) {
	if got, err := CheckMemoryLimit(0, 512); err != nil || got != 512 {
		t.Fatalf("default: %d, %v", got, err)
	}
	if got, err := CheckMemoryLimit(16, 512); err != nil || got != 16 {
		t.Fatalf("16: %d, %v", got, err)
	}
	for _, bad := range []uint64{1, 15, 65537, 1 << 40} {
		_, err := CheckMemoryLimit(bad, 512)
		if !errors.Is(err, ErrInvalidMemoryLimit) || !strings.Contains(err.Error(), strconv.FormatUint(bad, 10)) {
			t.Errorf("CheckMemoryLimit(%d) = %v, want ErrInvalidMemoryLimit naming the value", bad, err)
		}
	}
}
