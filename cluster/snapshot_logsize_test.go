package cluster

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gridctl/grid/fsm"
	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/waitfor"
)

// TestLogSizeTrigger: due once the bytes since the last snapshot reach the
// limit; a snapshot (this trigger's or raft's own) starts the count again.
func TestLogSizeTrigger(t *testing.T) {
	tr := &logSizeTrigger{limit: 100}
	if tr.due(99, 0) {
		t.Fatal("due below the limit")
	}
	if !tr.due(100, 0) {
		t.Fatal("not due at the limit")
	}
	tr.taken(100, 7)
	if tr.due(150, 7) {
		t.Fatal("due 50 bytes after a snapshot")
	}
	// Raft's own trigger took snapshot 9, first seen at 250: counting
	// restarts there.
	if tr.due(250, 9) {
		t.Fatal("due right after raft's own snapshot")
	}
	if tr.due(349, 9) || !tr.due(350, 9) {
		t.Fatal("not due exactly 100 bytes after raft's own snapshot was seen")
	}
	if (&logSizeTrigger{}).due(1<<40, 0) {
		t.Fatal("a zero limit triggered")
	}
}

// TestSnapshotWhenLogGrows: with raft's entry threshold out of reach, a
// master snapshots once the bytes appended to its log pass SnapshotLogBytes.
func TestSnapshotWhenLogGrows(t *testing.T) {
	tc := startTestCluster(t, 3, func(c *Config) {
		c.SnapshotThreshold = 1 << 40
		c.SnapshotLogBytes = 64 << 10
		c.SnapshotLogCheck = 50 * time.Millisecond
	})
	leader := waitForLeader(t, tc.masters)
	if n := leader.lastSnapshotIndex(); n != 0 {
		t.Fatalf("a snapshot at %d before any load", n)
	}
	detail := map[string]string{"blob": strings.Repeat("x", 2000)}
	for i := range 64 { // ~128 KiB of entries
		ev := rpc.NewEvent("test", rpc.EventType_NODE_RESTARTED, fmt.Sprintf("node-%d", i), detail)
		if _, err := leader.raftApply(fsm.AppendEventsType, &rpc.EmitEventsRequest{Events: []*rpc.Event{ev}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range tc.masters {
		waitfor.True(t, 20*time.Second, m.config.ID+" snapshots once its log passed 64 KiB", func() bool {
			return m.lastSnapshotIndex() > 0
		})
	}
}
