package fsm

import (
	"bufio"
	"bytes"
	"io"
	"testing"

	"github.com/gridctl/grid/rpc"
)

// oldSnapshot writes sn in an older format: version 1 (no removed masters,
// no request records, no ACL, no autopilot config), version 2 (no ACL, no
// autopilot config) or version 3 (no autopilot config), as earlier builds
// wrote them.
func oldSnapshot(t *testing.T, sn *fsmSnapshot, version int) []byte {
	t.Helper()
	var buf bytes.Buffer
	bw := bufio.NewWriter(&buf)
	magic := map[int]string{1: snapshotMagicV1, 2: snapshotMagicV2, 3: snapshotMagicV3}[version]
	bw.WriteString(magic)
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(writeUint64(bw, sn.applied))
	must(writeRecords(bw, sn.agents))
	must(writeRecords(bw, sn.nodes))
	if version >= 2 {
		must(writeRecords(bw, sn.removed))
		must(writeRecords(bw, sn.reqs))
	}
	if version >= 3 {
		must(writeACL(bw, sn.acl))
	}
	_, err := sn.events.WriteTo(bw)
	must(err)
	must(bw.Flush())
	return buf.Bytes()
}

// TestSnapshotFormats: format 4 keeps the removed masters, the request
// table, the ACL state and the autopilot config; formats 3, 2 and 1 still
// restore what they carry.
func TestSnapshotFormats(t *testing.T) {
	src := newTestFSM(t)
	logs := opsLog(t)
	for i, l := range logOf(t, []entry{
		{ACLBootstrapType, &rpc.ACLTokenRecord{AccessorId: "a1", SecretHash: []byte("h1"), Policies: []string{"management"}}},
		{ACLPolicyUpsertType, &rpc.ACLPolicy{Name: "spawner", Capabilities: []string{"node:spawn"}}},
		{AutopilotConfigType, &rpc.AutopilotConfig{CleanupDeadServers: true, MaxTrailingLogs: 250, MinQuorum: 3}},
	}) {
		l.Index = uint64(len(logs) + i + 1)
		logs = append(logs, l)
	}
	applyAll(t, src, logs)
	snap, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	sn := snap.(*fsmSnapshot)
	var sink memSink
	if err := sn.write(&sink); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(sink.Bytes(), []byte(snapshotMagic)) {
		t.Fatalf("snapshot starts %q, want %q", sink.Bytes()[:10], snapshotMagic)
	}
	cases := []struct {
		name             string
		data             []byte
		removed, request bool
		acl, autopilot   bool
	}{
		{"format 4", sink.Bytes(), true, true, true, true},
		{"format 3", oldSnapshot(t, sn, 3), true, true, true, false},
		{"format 2", oldSnapshot(t, sn, 2), true, true, false, false},
		{"format 1", oldSnapshot(t, sn, 1), false, false, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dst := newTestFSM(t)
			if err := dst.Restore(io.NopCloser(bytes.NewReader(tc.data))); err != nil {
				t.Fatal(err)
			}
			want := src.StateHash()
			got := dst.StateHash()
			if got.Agents != want.Agents || got.Nodes != want.Nodes || got.EventsHash != want.EventsHash || got.AppliedIndex != want.AppliedIndex {
				t.Fatalf("restored %v, want the registry and events of %v", got, want)
			}
			if tc.removed && tc.request && tc.acl && tc.autopilot && got.Digest != want.Digest {
				t.Fatalf("format 4 digest %s, want %s", got.Digest, want.Digest)
			}
			if cfg, ok := dst.AutopilotConfig(); ok != tc.autopilot || (ok && (!cfg.CleanupDeadServers || cfg.MaxTrailingLogs != 250 || cfg.MinQuorum != 3)) {
				t.Errorf("autopilot config restored = %v (%v), want %v", ok, cfg, tc.autopilot)
			}
			if _, err := InspectSnapshot(bytes.NewReader(tc.data), t.TempDir()); err != nil {
				t.Errorf("inspect: %v", err)
			}
			if _, ok := dst.RemovedMaster("m3"); ok != tc.removed {
				t.Errorf("removed master restored = %v, want %v", ok, tc.removed)
			}
			if _, ok := dst.Request("req-1"); ok != tc.request {
				t.Errorf("request record restored = %v, want %v", ok, tc.request)
			}
			if dst.ACLBootstrapped() != tc.acl || (len(dst.ACLTokens()) == 1) != tc.acl || (len(dst.ACLPolicies()) == 1) != tc.acl {
				t.Errorf("acl restored: bootstrapped=%v tokens=%d policies=%d, want %v",
					dst.ACLBootstrapped(), len(dst.ACLTokens()), len(dst.ACLPolicies()), tc.acl)
			}
		})
	}
}

// TestStateHashCoversACL: ACL changes change the digest; without any ACL
// state the digest is the one a build without ACLs computes.
func TestStateHashCoversACL(t *testing.T) {
	a, b := newTestFSM(t), newTestFSM(t)
	applyAll(t, a, sampleLog(t))
	applyAll(t, b, sampleLog(t))
	if a.StateHash().RegistryHash != b.StateHash().RegistryHash {
		t.Fatal("equal replicas hash differently")
	}
	l := logOf(t, []entry{{ACLPolicyUpsertType, &rpc.ACLPolicy{Name: "spawner", Capabilities: []string{"node:spawn"}}}})
	if r := b.Apply(l[0]); r != nil {
		t.Fatal(r)
	}
	if a.StateHash().RegistryHash == b.StateHash().RegistryHash {
		t.Fatal("a policy upsert left the registry hash unchanged")
	}
}
