package cluster

import (
	"errors"
	"testing"

	"github.com/hashicorp/raft"
)

// The masters' Raft transport never pipelines AppendEntries, over plain TCP
// or mutual TLS: raft v1.7.3's pipeline can deadlock a follower's
// replication for good after a rejected append (see raftTransportConfig).
func TestRaftTransportDoesNotPipeline(t *testing.T) {
	ca := tlsCADir(t)
	for _, tc := range []struct {
		name string
		tls  bool
	}{{"tcp", false}, {"tls", true}} {
		t.Run(tc.name, func(t *testing.T) {
			m := &Master{config: testConfig(t, "master-1")}
			if tc.tls {
				m.config.TLS = tlsMember(t, ca, "master-1")
			}
			trans, err := m.raftNetworkTransport(nil, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			defer trans.Close()
			// The peer need not exist: the transport refuses before it dials.
			_, err = trans.AppendEntriesPipeline("master-2", trans.LocalAddr())
			if !errors.Is(err, raft.ErrPipelineReplicationNotSupported) {
				t.Fatalf("AppendEntriesPipeline = %v, want %v", err, raft.ErrPipelineReplicationNotSupported)
			}
		})
	}
}
