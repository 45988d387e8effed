package fsm

import (
	"strings"
	"testing"

	"github.com/hashicorp/raft"
)

func TestVersionAtLeast(t *testing.T) {
	cases := []struct {
		v, min string
		want   bool
	}{
		{"0.2.0", "0.1.0", true},
		{"v0.2.0", "0.2.0", true},
		{"0.2.0-rc1", "0.2.0", true},
		{"0.1.9", "0.2.0", false},
		{"1.0.0", "0.9.9", true},
		{"0.10.0", "0.9.0", true},
		{"dev", "9.9.9", true},           // development builds are current
		{"2a04b22-dirty", "9.9.9", true}, // a commit id too
		{"0.1.0", "not-a-version", true}, // a bad minimum never blocks
		{"0.1", "0.1.0", true},           // not semantic: assumed current
	}
	for _, c := range cases {
		if got := VersionAtLeast(c.v, c.min); got != c.want {
			t.Errorf("VersionAtLeast(%q, %q) = %v, want %v", c.v, c.min, got, c.want)
		}
	}
	if CompareVersions("0.3.0", "0.2.9") <= 0 || CompareVersions("dev", "9.0.0") <= 0 || CompareVersions("1.0.0", "1.0.0") != 0 {
		t.Fatal("CompareVersions orders wrongly")
	}
}

func TestEveryTypeHasAVersion(t *testing.T) {
	for typ := MessageType(1); typ <= PruneEventsType; typ++ {
		if v, ok := MinVersion(typ); !ok || v == "" {
			t.Errorf("%s has no version in typeVersions", typ)
		}
	}
}

func TestUnknownTypeIsFatalAndNamesTheVersionNeeded(t *testing.T) {
	f, err := New(Config{DataDir: t.TempDir(), Version: "0.1.0", NewestPeerVersion: func() string { return "0.3.0" }})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		r := recover()
		msg, _ := r.(string)
		for _, want := range []string{"unknown message type 29 at index 42", "grid 0.1.0", "Upgrade this master to grid 0.3.0"} {
			if !strings.Contains(msg, want) {
				t.Fatalf("panic %q lacks %q", r, want)
			}
		}
	}()
	f.Apply(&raft.Log{Index: 42, Data: []byte{29, 0}})
	t.Fatal("Apply of an unknown type returned instead of stopping the master")
}
